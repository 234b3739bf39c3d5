// Package cx is the S-CSCF's (and I-CSCF's) side of the Cx interface,
// TS 29.228/29.229: UAR, MAR, SAR and LIR as Go calls over one Diameter
// connection to the HSS.
package cx

import (
	"context"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/imslab/imslab/internal/diameter"
	"github.com/imslab/imslab/internal/diameter/peer"
)

// User-Authorization-Type (TS 29.229 §6.3.24) and Server-Assignment-Type
// (§6.3.15) values used by a CSCF.
const (
	AuthRegistration       = 0
	AuthDeregistration     = 1
	AuthRegAndCapabilities = 2
	AssignRegistration     = 1
	AssignReRegistration   = 2
	AssignUnregisteredUser = 3
	AssignTimeoutDereg     = 4
	AssignUserDereg        = 5
	AssignAdminDereg       = 8
	AssignAuthFailure      = 9
	SchemeAKAv1            = "Digest-AKAv1-MD5"
	SchemeDigest           = "SIP Digest"
	SchemeUnknown          = "Unknown"
)

// Result is an answer's Result-Code or Experimental-Result-Code.
type Result = diameter.Result

// Client sends Cx requests to the HSS on one connection.
type Client struct {
	app  *diameter.AppClient
	conn *peer.Conn
}

// New wraps an open connection (from node.Dial) to the HSS of realm.
func New(node *peer.Node, conn *peer.Conn, hssRealm string) *Client {
	return &Client{conn: conn, app: &diameter.AppClient{App: diameter.AppCx, Node: node, Conn: conn, Realm: hssRealm, ResultOf: peer.ResultCode}}
}

// Conn returns the Diameter connection.
func (c *Client) Conn() *peer.Conn { return c.conn }

func (c *Client) request(code uint32, avps ...*diam.AVP) *diam.Message {
	return c.app.NewRequest(code, avps...)
}

func (c *Client) do(ctx context.Context, m *diam.Message) (*diam.Message, Result, error) {
	return c.app.Do(ctx, m)
}

func cxAVP(name string, v datatype.Type) *diam.AVP { return diameter.AVP(diameter.AppCx, name, v) }

// UAA is a User-Authorization-Answer.
type UAA struct {
	Result
	ServerName string
}

// UAR asks whether impi may register impu from the visited network, and
// where (TS 29.228 §6.1.1).
func (c *Client) UAR(ctx context.Context, impi, impu, visited string, authType uint32) (*UAA, error) {
	a, r, err := c.do(ctx, c.request(diameter.CmdUA,
		cxAVP("User-Name", datatype.UTF8String(impi)),
		cxAVP("Public-Identity", datatype.UTF8String(impu)),
		cxAVP("Visited-Network-Identifier", datatype.OctetString(visited)),
		cxAVP("User-Authorization-Type", datatype.Enumerated(authType))))
	if err != nil {
		return nil, err
	}
	return &UAA{Result: r, ServerName: diameter.String(diameter.Find(a, "Server-Name"))}, nil
}

// AuthItem is one SIP-Auth-Data-Item of a MAA (TS 29.229 §6.3.13).
type AuthItem struct {
	Scheme                   string
	RAND, AUTN, XRES, CK, IK []byte // Digest-AKAv1-MD5
	Realm, HA1, QoP          string // SIP Digest
}

// MAA is a Multimedia-Auth-Answer.
type MAA struct {
	Result
	Items []AuthItem
}

// MAR asks for n authentication vectors (TS 29.228 §6.3). auts, when not
// nil, is RAND‖AUTS of a synchronisation failure for the HSS to resync.
func (c *Client) MAR(ctx context.Context, impi, impu, serverName, scheme string, n int, rndAUTS []byte) (*MAA, error) {
	item := []*diam.AVP{cxAVP("SIP-Authentication-Scheme", datatype.UTF8String(scheme))}
	if rndAUTS != nil {
		item = append(item, cxAVP("SIP-Authorization", datatype.OctetString(rndAUTS)))
	}
	a, r, err := c.do(ctx, c.request(diameter.CmdMA,
		cxAVP("User-Name", datatype.UTF8String(impi)),
		cxAVP("Public-Identity", datatype.UTF8String(impu)),
		cxAVP("SIP-Number-Auth-Items", datatype.Unsigned32(n)),
		cxAVP("SIP-Auth-Data-Item", diameter.Group(item...)),
		cxAVP("Server-Name", datatype.UTF8String(serverName))))
	if err != nil {
		return nil, err
	}
	maa := &MAA{Result: r}
	for _, it := range diameter.FindAll(a, "SIP-Auth-Data-Item") {
		get := func(name string) *diam.AVP { return diameter.Member(it, diameter.AppCx, name) }
		ai := AuthItem{Scheme: diameter.String(get("SIP-Authentication-Scheme"))}
		if sa := diameter.Bytes(get("SIP-Authenticate")); len(sa) == 32 {
			ai.RAND, ai.AUTN = sa[:16], sa[16:]
		}
		ai.XRES = diameter.Bytes(get("SIP-Authorization"))
		ai.CK, ai.IK = diameter.Bytes(get("Confidentiality-Key")), diameter.Bytes(get("Integrity-Key"))
		if d := get("SIP-Digest-Authenticate"); d != nil {
			ai.Realm = diameter.String(diameter.Member(d, diameter.AppCx, "Digest-Realm"))
			ai.HA1 = diameter.String(diameter.Member(d, diameter.AppCx, "Digest-HA1"))
			ai.QoP = diameter.String(diameter.Member(d, diameter.AppCx, "Digest-QoP"))
		}
		maa.Items = append(maa.Items, ai)
	}
	return maa, nil
}

// SAA is a Server-Assignment-Answer.
type SAA struct {
	Result
	UserName string
	UserData string // the IMSSubscription XML
}

// SAR tells the HSS that this S-CSCF serves impu (or no longer does), and
// fetches the profile (TS 29.228 §6.1.2).
func (c *Client) SAR(ctx context.Context, impi, impu, serverName string, assignType uint32, dataAvailable bool) (*SAA, error) {
	udaa := uint32(0)
	if dataAvailable {
		udaa = 1
	}
	var user *diam.AVP
	if impi != "" {
		user = cxAVP("User-Name", datatype.UTF8String(impi))
	}
	a, r, err := c.do(ctx, c.request(diameter.CmdSA, user,
		cxAVP("Public-Identity", datatype.UTF8String(impu)),
		cxAVP("Server-Name", datatype.UTF8String(serverName)),
		cxAVP("Server-Assignment-Type", datatype.Enumerated(assignType)),
		cxAVP("User-Data-Already-Available", datatype.Enumerated(udaa))))
	if err != nil {
		return nil, err
	}
	return &SAA{Result: r, UserName: diameter.String(diameter.Find(a, "User-Name")), UserData: diameter.String(diameter.Find(a, "User-Data"))}, nil
}

// LIA is a Location-Info-Answer.
type LIA struct {
	Result
	ServerName string
}

// LIR asks which S-CSCF serves impu (TS 29.228 §6.1.4).
func (c *Client) LIR(ctx context.Context, impu string) (*LIA, error) {
	a, r, err := c.do(ctx, c.request(diameter.CmdLI, cxAVP("Public-Identity", datatype.UTF8String(impu))))
	if err != nil {
		return nil, err
	}
	return &LIA{Result: r, ServerName: diameter.String(diameter.Find(a, "Server-Name"))}, nil
}
