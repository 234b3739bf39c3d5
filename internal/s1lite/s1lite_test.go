package s1lite

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

func TestFramesRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	nas := []byte{0x07, 0x41, 0x72} // an Attach Request's first bytes
	b4 := Bearer{EBI: 5, Endpoint: netip.MustParseAddrPort("127.0.0.1:2152"), TEID: 0x01020304}
	b6 := Bearer{EBI: 5, Endpoint: netip.MustParseAddrPort("[::1]:2152"), TEID: 7}
	for _, f := range []Frame{{NAS, nas}, {BearerSetup, b4.Encode()}, {BearerSetupResponse, b6.Encode()}} {
		if err := Write(&buf, f); err != nil {
			t.Fatal(err)
		}
	}
	if got := buf.Bytes()[:6]; !bytes.Equal(got, []byte{1, 0, 3, 0x07, 0x41, 0x72}) {
		t.Fatalf("NAS frame % x", got)
	}
	f, err := Read(&buf)
	if err != nil || f.Type != NAS || !bytes.Equal(f.Value, nas) {
		t.Fatalf("NAS: %+v %v", f, err)
	}
	for _, want := range []Bearer{b4, b6} {
		f, err := Read(&buf)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeBearer(f.Value)
		if err != nil || got != want {
			t.Fatalf("bearer %+v %v, want %+v", got, err, want)
		}
	}
}

func TestBadFrames(t *testing.T) {
	for _, in := range [][]byte{{9, 0, 0}, {1, 0xff, 0xff}, {1, 0, 5, 1, 2}} {
		if _, err := Read(bytes.NewReader(in)); !errors.Is(err, ErrFrame) {
			t.Errorf("% x: %v, want ErrFrame", in, err)
		}
	}
	if _, err := DecodeBearer([]byte{1, 2, 3}); err == nil {
		t.Error("a 3-byte bearer decoded")
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte{1, 0, 3, 7, 0x41, 0x72})
	f.Add(append([]byte{2, 0, 11}, Bearer{EBI: 5, Endpoint: netip.MustParseAddrPort("127.0.0.1:2152"), TEID: 9}.Encode()...))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		if fr.Type != NAS {
			if bb, err := DecodeBearer(fr.Value); err == nil {
				if got, err := DecodeBearer(bb.Encode()); err != nil || got != bb {
					t.Fatalf("bearer round trip: %+v %+v %v", bb, got, err)
				}
			}
		}
		var out bytes.Buffer
		if err := Write(&out, fr); err != nil || !bytes.Equal(out.Bytes(), b[:3+len(fr.Value)]) {
			t.Fatalf("re-encoded % x, read from % x (%v)", out.Bytes(), b, err)
		}
	})
}
