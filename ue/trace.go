package ue

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/internal/sipdigest"
	"github.com/imslab/imslab/internal/trace"
)

// Ladder participants.
const (
	partSIM   = "SIM"
	partUE    = "UE"
	partPCSCF = "P-CSCF"
)

// traceSent draws a message the UE sent and prints it in full.
func (u *UE) traceSent(m sip.Message, label string) {
	if u.ladder != nil {
		u.ladder.Arrow(partUE, partPCSCF, label)
	}
	u.printMessage("UE → P-CSCF "+u.pcscf, m)
	u.traceEvent(true, m, label)
}

// traceRecv draws a message the UE received and prints it in full.
func (u *UE) traceRecv(m sip.Message, label string) {
	if u.ladder != nil {
		u.ladder.Arrow(partPCSCF, partUE, label)
	}
	u.printMessage("P-CSCF "+u.pcscf+" → UE", m)
	u.traceEvent(false, m, label)
}

// traceEvent hands a SIP message to Config.Trace, between the UE's
// contact address and the P-CSCF (every message of a UE goes through it).
func (u *UE) traceEvent(sent bool, m sip.Message, label string) {
	if u.cfg.Trace == nil {
		return
	}
	me, err1 := netip.ParseAddrPort(net.JoinHostPort(u.contact.Host, strconv.Itoa(u.contact.Port)))
	pc, err2 := netip.ParseAddrPort(u.pcscf)
	if err1 != nil || err2 != nil {
		return
	}
	network := strings.ToLower(m.Transport())
	if network == "" {
		network = strings.ToLower(u.network)
	}
	e := trace.Event{Time: time.Now(), Node: "UE", Protocol: "SIP", Sent: sent, Network: network,
		Src: pc, Dst: me, Summary: label, Raw: []byte(m.String())}
	if sent {
		e.Src, e.Dst = me, pc
	}
	u.cfg.Trace(e)
}

// traceCard draws an exchange with the card.
func (u *UE) traceCard(toCard bool, label string) {
	if u.ladder == nil {
		return
	}
	if toCard {
		u.ladder.Arrow(partUE, partSIM, label)
	} else {
		u.ladder.Arrow(partSIM, partUE, label)
	}
}

func (u *UE) printMessage(dir string, m sip.Message) {
	if u.cfg.Messages == nil {
		return
	}
	u.msgMu.Lock()
	defer u.msgMu.Unlock()
	fmt.Fprintf(u.cfg.Messages, "----- %s (%s) -----\n%s\n", dir, u.cfg.Transport, strings.TrimRight(m.String(), "\r\n"))
}

// describeRequest labels a request on the ladder: the method and what
// matters for the procedure.
func describeRequest(req *sip.Request) string {
	switch req.Method {
	case sip.REGISTER:
		label := "REGISTER expires=" + header(req, "Expires")
		if c, err := sipdigest.ParseCredentials(header(req, "Authorization")); err == nil {
			switch {
			case c.AUTS != "":
				label += " auts (resync)"
			case c.Response == "":
				label += ` nonce=""`
			default:
				label += " digest(RES)"
			}
		}
		return label
	case sip.SUBSCRIBE:
		return "SUBSCRIBE " + header(req, "Event") + " expires=" + header(req, "Expires")
	case sip.INVITE:
		label := "INVITE " + req.Recipient.String()
		if len(req.Body()) > 0 {
			label += " (SDP offer)"
		}
		return label
	case sip.PRACK:
		return "PRACK RAck " + header(req, "RAck")
	case sip.ACK:
		if len(req.Body()) > 0 {
			return "ACK (SDP answer)"
		}
	}
	return string(req.Method)
}

// describeResponse labels a response on the ladder.
func describeResponse(res *sip.Response) string {
	label := strconv.Itoa(res.StatusCode) + " " + res.Reason
	method := ""
	if c := res.CSeq(); c != nil {
		method = string(c.MethodName)
	}
	switch {
	case res.StatusCode == 401:
		if ch, err := akaChallenge(res); err == nil {
			label += " " + ch.Algorithm
		}
	case res.IsSuccess() && method == string(sip.REGISTER):
		if c := res.Contact(); c != nil {
			if e, ok := c.Params.Get("expires"); ok {
				return label + " expires=" + e
			}
		}
		if e := header(res, "Expires"); e != "" {
			label += " expires=" + e
		}
	case res.IsSuccess() && method == string(sip.SUBSCRIBE):
		label += " (SUBSCRIBE) expires=" + header(res, "Expires")
	case method == string(sip.NOTIFY):
		label += " (NOTIFY)"
	case method == string(sip.INVITE):
		if rs := header(res, "RSeq"); rs != "" {
			label += " RSeq " + rs
		}
		if len(res.Body()) > 0 {
			label += " (SDP)"
		}
	case method != "" && method != string(sip.REGISTER):
		label += " (" + method + ")"
	}
	return label
}

// hostOf and portOf split "host:port" (port 5060 when absent).
func hostOf(hostport string) string {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	return h
}

func portOf(hostport string) int {
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return 5060
	}
	n, _ := strconv.Atoi(p)
	return n
}

// traceMedia sees every RTP/SRTP packet of the UE's calls (media.Config.Tap).
func (u *UE) traceMedia(proto string, sent bool, local, remote net.Addr, pkt []byte) {
	if u.cfg.Trace == nil {
		return
	}
	l, err1 := netip.ParseAddrPort(local.String())
	r, err2 := netip.ParseAddrPort(remote.String())
	if err1 != nil || err2 != nil {
		return
	}
	e := trace.Event{Time: time.Now(), Node: "UE", Protocol: proto, Sent: sent, Network: "udp",
		Src: r, Dst: l, Raw: bytes.Clone(pkt)}
	if sent {
		e.Src, e.Dst = l, r
	}
	u.cfg.Trace(e)
}
