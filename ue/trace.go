package ue

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/internal/sipdigest"
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
}

// traceRecv draws a message the UE received and prints it in full.
func (u *UE) traceRecv(m sip.Message, label string) {
	if u.ladder != nil {
		u.ladder.Arrow(partPCSCF, partUE, label)
	}
	u.printMessage("P-CSCF "+u.pcscf+" → UE", m)
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
