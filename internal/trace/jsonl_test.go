package trace

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func sameEvents(a, b []Event) bool {
	return slices.EqualFunc(a, b, func(x, y Event) bool {
		return x.Time.Equal(y.Time) && x.Node == y.Node && x.Protocol == y.Protocol && x.Sent == y.Sent &&
			x.Network == y.Network && x.Src == y.Src && x.Dst == y.Dst && x.Summary == y.Summary && bytes.Equal(x.Raw, y.Raw)
	})
}

func TestJSONRoundTrip(t *testing.T) {
	ue, pcscf, _, _ := registration(t)
	events := append(ue, pcscf...)
	events[0].Summary = "REGISTER sip:ims.test"
	events = append(events,
		Event{Time: t0.In(time.FixedZone("CET", 3600)).Add(123456789), Node: "UE bob", Protocol: "NAS", Sent: true, Raw: []byte{0x07, 0x41}},
		Event{Time: t0, Protocol: "SIP", Network: "tcp", Src: netip.MustParseAddrPort("[::1]:5060"), Dst: netip.MustParseAddrPort("[fe80::1%eth0]:5070")})
	var buf bytes.Buffer
	w := NewJSONWriter(&buf)
	for _, e := range events {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(events[0]); err == nil {
		t.Error("Write after Close accepted")
	}
	text := buf.String()
	if n := strings.Count(text, "\n"); n != len(events) {
		t.Errorf("%d lines for %d events", n, len(events))
	}
	first, _, _ := strings.Cut(text, "\n")
	for _, want := range []string{`"time":"2025-01-01T12:00:00Z"`, `"node":"UE alice"`, `"sent":true`, `"src":"127.0.0.1:5070"`, `"raw":"UkVHSVNURVIg`} {
		if !strings.Contains(first, want) {
			t.Errorf("first line lacks %s: %s", want, first)
		}
	}
	if !strings.Contains(text, `"time":"2025-01-01T13:00:00.123456789+01:00"`) || strings.Contains(text, `"src":""`) {
		t.Errorf("times or empty endpoints:\n%s", text)
	}
	got, err := ReadJSON(strings.NewReader(strings.ReplaceAll(text, "\n", "\r\n\n")))
	if err != nil {
		t.Fatal(err)
	}
	if !sameEvents(got, events) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, events)
	}
}

func TestReadJSONErrors(t *testing.T) {
	long := `{"protocol":"SIP","raw":"` + strings.Repeat("A", MaxLine) + `"}`
	for name, tc := range map[string]struct{ in, want string }{
		"long line":  {"{}\n\n" + long + "\n{}\n", "line 3: longer than 1 MiB"},
		"long last":  {"{}\n" + long, "line 2: longer than 1 MiB"},
		"not JSON":   {"{}\n{\"time\":\n", "line 2: unexpected end of JSON input"},
		"bad time":   {`{"time":"yesterday"}`, "line 1: parsing time"},
		"bad addr":   {`{"src":"here"}`, "line 1:"},
		"not object": {`[]`, "line 1: not a JSON object"},
	} {
		_, err := ReadJSON(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", name, err, tc.want)
		}
	}
	// The writer refuses what the reader would.
	w := NewJSONWriter(&bytes.Buffer{})
	if err := w.Write(Event{Raw: make([]byte, MaxLine)}); !errors.Is(err, ErrLineTooLong) {
		t.Errorf("long event: %v", err)
	}
	// Just below the limit passes both.
	var buf bytes.Buffer
	w = NewJSONWriter(&buf)
	if err := w.Write(Event{Time: t0, Raw: make([]byte, MaxLine/4*3-100)}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if ev, err := ReadJSON(&buf); err != nil || len(ev) != 1 {
		t.Errorf("line of %d bytes: %v", buf.Len(), err)
	}
}

// TestJSONWriterConcurrent: services write from several goroutines; every
// line is whole, and CreateJSON's file is complete after Close.
func TestJSONWriterConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.jsonl")
	w, err := CreateJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if err := w.Write(Event{Time: t0, Node: fmt.Sprint(g), Protocol: "RTP", Raw: rtpPacket(0, uint16(i), 160)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	events, err := ReadJSON(f)
	if err != nil || len(events) != 8*200 {
		t.Fatalf("%d events, %v", len(events), err)
	}
}

func FuzzReadJSON(f *testing.F) {
	var buf bytes.Buffer
	w := NewJSONWriter(&buf)
	ue, pcscf, _, _ := registration(f)
	for _, e := range append(ue, pcscf...) {
		w.Write(e)
	}
	w.Close()
	f.Add(buf.Bytes())
	f.Add([]byte(`{"time":"2025-01-01T12:00:00Z","src":"[::1]:1","raw":"AA=="}` + "\n\n{}"))
	f.Add([]byte("{\"src\":\"1.2.3.4:5\"}\r\n[1]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := ReadJSON(bytes.NewReader(data))
		if err != nil {
			return
		}
		// What was read writes back and reads the same.
		var out bytes.Buffer
		w := NewJSONWriter(&out)
		for _, e := range events {
			if w.Write(e) != nil {
				return // e.g. a year past 9999
			}
		}
		w.Close()
		again, err := ReadJSON(&out)
		if err != nil || !sameEvents(again, events) {
			t.Fatalf("re-read %v: %+v, want %+v", err, again, events)
		}
		// And the renderers take it (a ladder costs participants × rows).
		if len(events) > 100 {
			return
		}
		merged := Merge(events, events)
		WriteLadder(io.Discard, merged, Options{})
		WriteMermaid(io.Discard, merged, Options{})
		DecodeAs(merged)
		if _, err := WritePcap(io.Discard, merged); err != nil {
			t.Fatalf("pcap: %v", err)
		}
	})
}

// TestJSONWriterFlushes: a reader sees a line FlushDelay after its Write,
// without Close (imslab demo reads the services' files while they run).
func TestJSONWriterFlushes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.jsonl")
	w, err := CreateJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Write(Event{Time: t0, Protocol: "SIP", Raw: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * FlushDelay)
	for {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if ev, err := ReadJSON(bytes.NewReader(b)); err == nil && len(ev) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing in the file %v after the Write: %q", 10*FlushDelay, b)
		}
		time.Sleep(FlushDelay / 4)
	}
}
