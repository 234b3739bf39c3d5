// Package s6a is the MME's side of the S6a interface (TS 29.272): AIR,
// ULR and PUR as Go calls over one Diameter connection to the HSS.
package s6a

import (
	"context"
	"errors"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/imslab/imslab/internal/diameter"
	"github.com/imslab/imslab/internal/diameter/peer"
)

// RAT-Type E-UTRAN (TS 29.212 §5.3.31) and ULR-Flags bits (TS 29.272
// §7.3.7): S6a/S6d-Indicator, Initial-Attach-Indicator.
const (
	ratEUTRAN        = 1004
	ulrS6aIndicator  = 1 << 1
	ulrInitialAttach = 1 << 5
)

// Result is an answer's Result-Code or Experimental-Result-Code.
type Result = diameter.Result

// Client sends S6a requests to the HSS on one connection.
type Client struct {
	app  *diameter.AppClient
	conn *peer.Conn
}

// New wraps an open connection (from node.Dial) to the HSS of realm.
func New(node *peer.Node, conn *peer.Conn, hssRealm string) *Client {
	return &Client{conn: conn, app: &diameter.AppClient{App: diameter.AppS6a, Node: node, Conn: conn, Realm: hssRealm, ResultOf: peer.ResultCode}}
}

// Conn returns the Diameter connection.
func (c *Client) Conn() *peer.Conn { return c.conn }

func s6a(name string, v datatype.Type) *diam.AVP { return diameter.AVP(diameter.AppS6a, name, v) }

// request builds an S6a request for imsi (User-Name), TS 29.272 §7.2.
func (c *Client) request(code uint32, imsi string, avps ...*diam.AVP) *diam.Message {
	return c.app.NewRequest(code, append([]*diam.AVP{diam.NewAVP(avp.UserName, avp.Mbit, 0, datatype.UTF8String(imsi))}, avps...)...)
}

func (c *Client) do(ctx context.Context, m *diam.Message) (*diam.Message, Result, error) {
	return c.app.Do(ctx, m)
}

// Vector is one E-UTRAN authentication vector (TS 29.272 §7.3.18).
type Vector struct {
	RAND, XRES, AUTN, KASME []byte
}

// AIA is an Authentication-Information-Answer.
type AIA struct {
	Result
	Vectors []Vector
}

// AIR asks for n E-UTRAN vectors for imsi in the serving network plmn (3
// bytes, TS 24.008 §10.5.1.13), TS 29.272 §5.2.3.1; with rndAUTS (RAND‖AUTS
// from the UE's Authentication Failure) the HSS resynchronises first.
func (c *Client) AIR(ctx context.Context, imsi string, plmn []byte, n int, rndAUTS []byte) (*AIA, error) {
	if len(plmn) != 3 {
		return nil, errors.New("s6a: serving network PLMN must be 3 bytes")
	}
	info := []*diam.AVP{s6a("Number-Of-Requested-Vectors", datatype.Unsigned32(n)),
		s6a("Immediate-Response-Preferred", datatype.Unsigned32(1))}
	if len(rndAUTS) > 0 {
		info = append(info, s6a("Re-synchronization-Info", datatype.OctetString(rndAUTS)))
	}
	m := c.request(diameter.CmdAI, imsi,
		s6a("Visited-PLMN-Id", datatype.OctetString(plmn)),
		s6a("Requested-EUTRAN-Authentication-Info", diameter.Group(info...)))
	a, r, err := c.do(ctx, m)
	if err != nil {
		return nil, err
	}
	out := &AIA{Result: r}
	ai := diameter.Find(a, "Authentication-Info")
	for _, v := range diameter.Members(ai, diameter.AppS6a, "E-UTRAN-Vector") {
		out.Vectors = append(out.Vectors, Vector{
			RAND:  diameter.Bytes(diameter.Member(v, diameter.AppS6a, "RAND")),
			XRES:  diameter.Bytes(diameter.Member(v, diameter.AppS6a, "XRES")),
			AUTN:  diameter.Bytes(diameter.Member(v, diameter.AppS6a, "AUTN")),
			KASME: diameter.Bytes(diameter.Member(v, diameter.AppS6a, "KASME")),
		})
	}
	return out, nil
}

// ULA is an Update-Location-Answer: what the MME keeps of the subscription.
type ULA struct {
	Result
	MSISDN string   // digits, from TBCD
	APNs   []string // Service-Selection of each APN-Configuration
}

// ULR registers this MME as serving imsi after an initial attach (TS 29.272
// §5.2.1.1.2) and gets the subscription data.
func (c *Client) ULR(ctx context.Context, imsi string, plmn []byte) (*ULA, error) {
	m := c.request(diameter.CmdUL, imsi,
		s6a("RAT-Type", datatype.Enumerated(ratEUTRAN)),
		s6a("ULR-Flags", datatype.Unsigned32(ulrS6aIndicator|ulrInitialAttach)),
		s6a("Visited-PLMN-Id", datatype.OctetString(plmn)))
	a, r, err := c.do(ctx, m)
	if err != nil {
		return nil, err
	}
	out := &ULA{Result: r}
	sd := diameter.Find(a, "Subscription-Data")
	if sd == nil {
		return out, nil
	}
	out.MSISDN = untbcd(diameter.Bytes(diameter.Member(sd, diameter.AppS6a, "MSISDN")))
	prof := diameter.Member(sd, diameter.AppS6a, "APN-Configuration-Profile")
	for _, apn := range diameter.Members(prof, diameter.AppS6a, "APN-Configuration") {
		if s := diameter.String(diameter.Member(apn, diameter.AppS6a, "Service-Selection")); s != "" {
			out.APNs = append(out.APNs, s)
		}
	}
	return out, nil
}

// PUR tells the HSS this MME no longer serves imsi (TS 29.272 §5.2.2.1.2).
func (c *Client) PUR(ctx context.Context, imsi string) (Result, error) {
	_, r, err := c.do(ctx, c.request(diameter.CmdPU, imsi))
	return r, err
}

// untbcd decodes TBCD digits (TS 29.002 §17.7.8: swapped nibbles, F filler).
func untbcd(b []byte) string {
	out := make([]byte, 0, 2*len(b))
	for _, x := range b {
		for _, d := range []byte{x & 0x0F, x >> 4} {
			if d > 9 {
				return string(out)
			}
			out = append(out, '0'+d)
		}
	}
	return string(out)
}
