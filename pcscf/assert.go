package pcscf

// Identity assertion (RFC 3325, TS 24.229 §5.2.6.3.3 and §5.2.6.4.4). The
// rule, for every request a registered UE sends:
//
//   - each P-Preferred-Identity and each P-Asserted-Identity the UE wrote
//     must be one of the identities registered on its flow (its
//     P-Associated-URIs), else 403 Forbidden;
//   - the From URI must be one of them, or the anonymous identity of RFC
//     3323 §4.1.1.3 (sip:anonymous@anonymous.invalid), else 403 Forbidden;
//   - the P-CSCF then removes every P-Preferred-Identity and
//     P-Asserted-Identity and inserts exactly one P-Asserted-Identity: the
//     first P-Preferred-Identity if there was one, else the default
//     identity (the first P-Associated-URI of the flow's first
//     registration).
//
// A UE can therefore never be asserted as another user, and every attempt
// is refused and logged. In responses a UE sends back (to requests from
// the core) a foreign identity cannot be refused: it is replaced by the
// default identity and logged.

import (
	"fmt"

	"github.com/emiago/sipgo/sip"
)

// assert checks the identities a UE's request names and returns the one
// to assert, with the registration it belongs to; code is 400 or 403 when
// the request must be refused.
func (p *PCSCF) assert(req *sip.Request, f *flow) (id nameAddr, b *binding, code int, why string) {
	id, b, code, why = pickIdentity(req, f)
	if code != 0 {
		return id, nil, code, why
	}
	from := req.From()
	if from == nil { // the guard lets no such request through
		return id, nil, 400, "no From"
	}
	if _, _, own := f.owns(from.Address); !own && !isAnonymous(from.Address) {
		return id, nil, 403, fmt.Sprintf("From %s is not registered on this flow", from.Address.String())
	}
	return id, b, 0, ""
}

// pickIdentity is the part of the rule common to requests and responses:
// P-Asserted-Identity and P-Preferred-Identity must be the flow's own; the
// asserted identity is the preferred one, else the default.
func pickIdentity(m msg, f *flow) (nameAddr, *binding, int, string) {
	ids, bs := f.identities()
	if len(ids) == 0 {
		return nameAddr{}, nil, 403, "no identity registered on this flow"
	}
	id, b := ids[0], bs[0]
	for _, h := range []string{hPAI, hPPI} {
		claimed, err := addrHeader(m, h)
		if err != nil {
			return nameAddr{}, nil, 400, fmt.Sprintf("%s: %v", h, err)
		}
		for i, c := range claimed {
			own, ob, ok := f.owns(c.URI)
			if !ok {
				return nameAddr{}, nil, 403, fmt.Sprintf("%s %s is not registered on this flow", h, c.URI.String())
			}
			if h == hPPI && i == 0 {
				id, b = own, ob
			}
		}
	}
	return id, b, 0, ""
}

// setAssertedIdentity replaces whatever identity headers a message has by
// one P-Asserted-Identity (RFC 3325 §6: a proxy removes
// P-Preferred-Identity when it asserts).
func setAssertedIdentity(m msg, id nameAddr) {
	removeHeaders(m, hPAI, hPPI)
	m.AppendHeader(sip.NewHeader(hPAI, nameAddr{Display: id.Display, URI: id.URI}.String()))
}

// assertResponse asserts the identity of a UE in a response it sends to a
// request from the core (TS 24.229 §5.2.6.4.4).
func (p *PCSCF) assertResponse(res *sip.Response, key FlowKey) {
	f := p.flows.get(key, p.now())
	if f == nil {
		removeHeaders(res, hPAI, hPPI)
		return
	}
	id, _, code, why := pickIdentity(res, f)
	if code != 0 {
		p.log.Warn("UE response named another identity: replaced by its default identity", "flow", key.String(), "why", why)
		ids, _ := f.identities()
		if len(ids) == 0 {
			removeHeaders(res, hPAI, hPPI)
			return
		}
		id = ids[0]
	}
	if res.StatusCode > 100 && res.StatusCode < 300 {
		setAssertedIdentity(res, id)
	} else {
		removeHeaders(res, hPAI, hPPI)
	}
}
