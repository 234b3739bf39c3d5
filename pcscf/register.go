package pcscf

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/imslab/imslab/internal/sipproxy"

	"github.com/imslab/imslab/internal/sipdigest"
)

// defaultExpires is used when neither the registrar nor the UE says
// (RFC 3261 §10.2.1.1).
const defaultExpires = 3600

// keyParam spots ck/ik in a challenge that did not parse.
var keyParam = regexp.MustCompile(`(?i)(^|[\s,])(ck|ik)\s*=`)

// onRegister forwards a UE's REGISTER to the S-CSCF (TS 24.229 §5.2.2.1):
// Path with this P-CSCF's term URI (RFC 3327 §5.2), P-Visited-Network-ID,
// P-Charging-Vector, and nothing the network alone may set.
func (p *PCSCF) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	if !p.validate(req, tx) {
		return
	}
	key := flowKeyOf(req)
	impi := ""
	if v := headerValues(req, hAuthz); len(v) > 0 {
		if c, err := sipdigest.ParseCredentials(v[0]); err == nil {
			impi = c.Username
		}
	}
	fwd := req.Clone()
	if err := dropIntegrityProtected(fwd); err != nil {
		p.refuse(req, tx, 400, "Bad Request", err.Error(), "flow", key.String())
		return
	}
	// The UE does not choose where the REGISTER goes nor what the network
	// asserts; no IPsec here, so sec-agree is not passed on (§5.2.2.1).
	removeHeaders(fwd, "Route", hPath, hPVNI, hPCV, hPAI, hPPI, hSecClient, hSecVerify)
	dropOptionTag(fwd, hRequire, "sec-agree")
	dropOptionTag(fwd, hProxyReq, "sec-agree")
	fwd.AppendHeader(sip.NewHeader(hPath, p.pathValue()))
	if !slices.Contains(optionTags(req, hSupported, "k"), "path") {
		// RFC 3327 §5.2: the UA did not say it supports Path; the
		// registrar must still honour it.
		fwd.AppendHeader(sip.NewHeader(hRequire, "path"))
	}
	fwd.AppendHeader(sip.NewHeader(hPVNI, p.cfg.VisitedNetworkID))
	fwd.AppendHeader(p.chargingVector())

	aor := ""
	if to := req.To(); to != nil {
		aor = to.Address.String()
	}
	l := leg{toCore: true, flow: key, impi: impi, identity: aor, label: "aor"}
	l.onResponse = func(res *sip.Response) {
		if res.StatusCode >= 200 && res.StatusCode < 300 {
			p.registered(req, res, key, impi)
		}
	}
	p.proxy(req, tx, fwd, sipproxy.Hop{Transport: strings.ToUpper(p.cfg.SCSCFTransport), Addr: p.cfg.SCSCF}, l)
}

// registered records the flow from a 2xx to REGISTER (TS 24.229
// §5.2.2.1): the IMPUs (P-Associated-URI), the Service-Route, and the
// UE's contacts with the expiry the registrar granted; a contact granted
// 0, or no longer listed, is removed.
func (p *PCSCF) registered(req *sip.Request, res *sip.Response, key FlowKey, impi string) {
	to := req.To()
	if to == nil {
		return
	}
	impus, err := addrHeader(res, hPAU)
	if err != nil {
		p.log.Warn("S-CSCF sent a bad P-Associated-URI: the registered AOR is used instead", "flow", key.String(), "error", err)
	}
	if len(impus) == 0 {
		u := *to.Address.Clone()
		u.UriParams, u.Headers = nil, nil
		impus = []nameAddr{{URI: u}}
	}
	sr, err := addrHeader(res, hServRoute)
	if err != nil {
		p.log.Warn("S-CSCF sent a bad Service-Route: requests of this flow will fail", "flow", key.String(), "error", err)
	}
	now := p.now()
	def := expiresHeader(res, expiresHeader(req, defaultExpires))
	granted := map[string]int{}
	for _, h := range res.GetHeaders("Contact") {
		if c, ok := h.(*sip.ContactHeader); ok {
			granted[contactKey(c.Address)] = expiresParam(c, def)
		}
	}
	removeAll := false
	var cs []contact
	for _, h := range req.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			continue
		}
		if c.Address.Wildcard {
			removeAll = true
			continue
		}
		exp, listed := granted[contactKey(c.Address)]
		if !listed {
			exp = min(expiresParam(c, expiresHeader(req, defaultExpires)), def)
		}
		cs = append(cs, contact{uri: *c.Address.Clone(), expires: now.Add(time.Duration(exp) * time.Second)})
	}
	f := p.flows.update(key, impi, identityKey(to.Address), impus, sr, cs, removeAll, now)
	if f == nil {
		p.log.Info("de-registered: flow removed", "flow", key.String(), "impi", impi, "aor", to.Address.String())
		return
	}
	pub := f.public(now)
	var contacts []string
	for _, c := range pub.Contacts {
		contacts = append(contacts, c.URI+" ("+strconv.Itoa(int(c.Expires.Sub(now).Seconds()))+"s)")
	}
	p.log.Info("registered flow", "flow", key.String(), "impi", pub.IMPI, "impus", pub.IMPUs,
		"service_route", pub.ServiceRoute, "contacts", contacts, "keys_kept", pub.HasKeys)
}

// stripAKAKeys removes ck and ik from the challenges of a response on its
// way to a UE (TS 24.229 §5.2.2.1, TS 33.203 §7.1) and keeps them bound
// to the flow for a security association. A challenge that does not
// parse but seems to carry them is removed whole.
func (p *PCSCF) stripAKAKeys(res *sip.Response, l leg) {
	for _, name := range []string{hWWWAuth, hProxyAuth} {
		var vals []string
		changed := false
		for _, v := range headerValues(res, name) {
			params, err := sipdigest.Parse(v)
			if err != nil {
				if keyParam.MatchString(v) {
					changed = true
					p.log.Error("challenge with ck/ik that does not parse: removed before it reaches the UE",
						"flow", l.flow.String(), "impi", l.impi, "error", err)
					continue
				}
				vals = append(vals, v)
				continue
			}
			var keep sipdigest.Params
			for _, x := range params {
				if !strings.EqualFold(x.Name, "ck") && !strings.EqualFold(x.Name, "ik") {
					keep = append(keep, x)
				}
			}
			vals = append(vals, keep.String())
			if len(keep) == len(params) {
				continue
			}
			changed = true
			kept := p.flows.keepKeys(l.flow, akaKeys{impi: l.impi, nonce: params.Value("nonce"),
				ck: params.Value("ck"), ik: params.Value("ik"), at: p.now()})
			p.log.Info("ck/ik removed from the challenge before it reaches the UE", "flow", l.flow.String(),
				"impi", l.impi, "kept_for_flow", kept)
		}
		if changed {
			removeHeaders(res, name)
			for _, v := range vals {
				res.AppendHeader(sip.NewHeader(name, v))
			}
		}
	}
}

// dropIntegrityProtected removes an integrity-protected parameter the UE
// wrote in Authorization: only a P-CSCF sets it (TS 24.229 §5.2.2.1).
func dropIntegrityProtected(m *sip.Request) error {
	vals := headerValues(m, hAuthz)
	changed := false
	for i, v := range vals {
		if !strings.Contains(strings.ToLower(v), "integrity-protected") {
			continue
		}
		params, err := sipdigest.Parse(v)
		if err != nil {
			return err
		}
		var keep sipdigest.Params
		for _, x := range params {
			if !strings.EqualFold(x.Name, "integrity-protected") {
				keep = append(keep, x)
			}
		}
		vals[i], changed = keep.String(), true
	}
	if changed {
		removeHeaders(m, hAuthz)
		for _, v := range vals {
			m.AppendHeader(sip.NewHeader(hAuthz, v))
		}
	}
	return nil
}

// chargingVector is a fresh P-Charging-Vector (RFC 7315 §4.6, TS 24.229
// §5.2.2.1, §5.2.6.3.3): the IMS charging identifier of this request.
func (p *PCSCF) chargingVector() sip.Header {
	host := p.advHost
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return sip.NewHeader(hPCV, "icid-value="+randomHex(16)+";icid-generated-at="+host)
}

// expiresHeader is the Expires header's value, def without one.
func expiresHeader(m msg, def int) int {
	for _, v := range headerValues(m, hExpires) {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
			return n
		}
	}
	return def
}

// expiresParam is a Contact's expires parameter, def without one.
func expiresParam(c *sip.ContactHeader, def int) int {
	if v, ok := c.Params.Get("expires"); ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
			return n
		}
	}
	return def
}
