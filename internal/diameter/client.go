package diameter

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// DefaultRequestTimeout bounds a request whose context has no deadline.
const DefaultRequestTimeout = 5 * time.Second

// Result is an answer's Result-Code or Experimental-Result-Code.
type Result struct {
	Code         uint32
	Experimental bool
}

// OK tells whether the answer is a success (2xxx).
func (r Result) OK() bool { return r.Code >= 2000 && r.Code < 3000 }

func (r Result) String() string {
	return fmt.Sprintf("%d %s", r.Code, ResultName(r.Code, r.Experimental))
}

// Requester is what a client of a 3GPP application needs from a Diameter
// connection: its node's identity and dictionary, and a request/answer
// exchange (internal/diameter/peer's Node and Conn).
type Requester interface {
	Request(ctx context.Context, m *diam.Message) (*diam.Message, error)
}

// Node is the local Diameter identity (internal/diameter/peer.Node).
type Node interface {
	OriginHost() string
	OriginRealm() string
	Dict() *dict.Parser
}

// AppClient builds and sends the requests of one 3GPP application (Cx,
// S6a): session, application, origin and destination AVPs common to all
// (RFC 6733 §6, TS 29.229 §6.1, TS 29.272 §7.2).
type AppClient struct {
	App   uint32
	Node  Node
	Conn  Requester
	Realm string // the destination realm
	// ResultOf reads an answer's result (peer.ResultCode).
	ResultOf func(*diam.Message) (uint32, bool)
	seq      atomic.Uint64
}

// NewRequest starts a request of the application with its common AVPs.
func (c *AppClient) NewRequest(code uint32, avps ...*diam.AVP) *diam.Message {
	m := diam.NewRequest(code, c.App, c.Node.Dict())
	m.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String(fmt.Sprintf("%s;%d;%d", c.Node.OriginHost(), time.Now().Unix(), c.seq.Add(1))))
	m.NewAVP(avp.VendorSpecificApplicationID, avp.Mbit, 0, Group(
		diam.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(Vendor3GPP)),
		diam.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(c.App))))
	m.NewAVP(avp.AuthSessionState, avp.Mbit, 0, datatype.Enumerated(1)) // NO_STATE_MAINTAINED
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(c.Node.OriginHost()))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(c.Node.OriginRealm()))
	m.NewAVP(avp.DestinationRealm, avp.Mbit, 0, datatype.DiameterIdentity(c.Realm))
	for _, a := range avps {
		if a != nil {
			m.AddAVP(a)
		}
	}
	return m
}

// Do sends a request and returns its answer and result.
func (c *AppClient) Do(ctx context.Context, m *diam.Message) (*diam.Message, Result, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultRequestTimeout)
		defer cancel()
	}
	a, err := c.Conn.Request(ctx, m)
	if err != nil {
		return nil, Result{}, err
	}
	code, exp := c.ResultOf(a)
	return a, Result{Code: code, Experimental: exp}, nil
}
