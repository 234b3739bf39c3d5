package hss

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/imslab/imslab/hss/store"
	"github.com/imslab/imslab/internal/aka"
)

// SubscriberJSON is a subscription as the HTTP API (and `imslab hss
// subscriber show --json`) shows it: keys in hex, SQN split into SEQ/IND.
type SubscriberJSON struct {
	IMSI    string            `json:"imsi"`
	ICCID   string            `json:"iccid,omitempty"`
	MSISDN  string            `json:"msisdn,omitempty"`
	K       string            `json:"k"`
	OPc     string            `json:"opc,omitempty"`
	OP      string            `json:"op,omitempty"`
	AMF     string            `json:"amf"`
	SQN     string            `json:"sqn,omitempty"`
	SEQ     uint64            `json:"seq"`
	IND     int               `json:"ind"`
	Barred  bool              `json:"barred,omitempty"`
	Domain  string            `json:"domain,omitempty"`
	Private []store.PrivateID `json:"private_identities,omitempty"`
	Public  []store.PublicID  `json:"public_identities,omitempty"`
	IFCs    []store.IFC       `json:"ifcs,omitempty"`
}

// ToJSON renders a subscriber for the API.
func ToJSON(s *store.Subscriber) SubscriberJSON {
	j := SubscriberJSON{IMSI: s.IMSI, ICCID: s.ICCID, MSISDN: s.MSISDN, K: hex.EncodeToString(s.K),
		AMF: fmt.Sprintf("%04x", s.AMF), SQN: fmt.Sprintf("%012x", s.SQN), SEQ: aka.SEQ(s.SQN), IND: aka.IND(s.SQN),
		Barred: s.Barred, Domain: s.Domain, Private: s.Private, Public: s.Public, IFCs: s.IFCs}
	if s.OP != nil {
		j.OP = hex.EncodeToString(s.OP)
	} else {
		j.OPc = hex.EncodeToString(s.OPc)
	}
	return j
}

// FromJSON builds a subscriber from the API's form (OPc computed from OP
// when only OP is given; AMF 8000 by default).
func FromJSON(j SubscriberJSON) (*store.Subscriber, error) {
	s := &store.Subscriber{IMSI: j.IMSI, ICCID: j.ICCID, MSISDN: j.MSISDN, Barred: j.Barred, Domain: j.Domain,
		Private: j.Private, Public: j.Public, IFCs: j.IFCs, AMF: 0x8000}
	var err error
	if s.K, err = hexKey("k", j.K); err != nil {
		return nil, err
	}
	if j.OP == "" && j.OPc == "" {
		return nil, errors.New("op or opc is required")
	}
	if j.OP != "" {
		if s.OP, err = hexKey("op", j.OP); err != nil {
			return nil, err
		}
		if s.OPc, err = aka.OPc(s.K, s.OP); err != nil {
			return nil, err
		}
	}
	if j.OPc != "" {
		opc, err := hexKey("opc", j.OPc)
		if err != nil {
			return nil, err
		}
		if s.OPc != nil && !bytes.Equal(opc, s.OPc) {
			return nil, errors.New("op and opc disagree: give one of them")
		}
		s.OPc = opc
	}
	if j.AMF != "" {
		b, err := hex.DecodeString(j.AMF)
		if err != nil || len(b) != 2 {
			return nil, fmt.Errorf("amf %q must be 4 hex digits", j.AMF)
		}
		s.AMF = uint16(b[0])<<8 | uint16(b[1])
	}
	return s, nil
}

func hexKey(name, v string) ([]byte, error) {
	b, err := hex.DecodeString(v)
	if err != nil || len(b) != 16 {
		return nil, fmt.Errorf("%s must be 32 hex digits", name)
	}
	return b, nil
}

// apiHandler serves the JSON API (docs/hss.md):
//
//	GET    /api/subscribers                   list
//	POST   /api/subscribers                   add (SubscriberJSON)
//	GET    /api/subscribers/{id}              show (IMSI, IMPI or IMPU)
//	DELETE /api/subscribers/{imsi}            delete
//	POST   /api/subscribers/{id}/deregister   RTR to the serving S-CSCF
//	POST   /api/subscribers/{id}/push-profile PPR to the serving S-CSCF
//	GET    /healthz
func (h *HSS) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /api/subscribers", func(w http.ResponseWriter, r *http.Request) {
		subs, err := h.store.List(r.Context())
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		out := make([]SubscriberJSON, 0, len(subs))
		for _, s := range subs {
			out = append(out, ToJSON(s))
		}
		reply(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /api/subscribers", func(w http.ResponseWriter, r *http.Request) {
		var j SubscriberJSON
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&j); err != nil {
			fail(w, http.StatusBadRequest, fmt.Errorf("body is not a subscriber: %w", err))
			return
		}
		s, err := FromJSON(j)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		if err := h.store.Add(r.Context(), s); err != nil {
			code := http.StatusBadRequest
			if errors.Is(err, store.ErrExists) {
				code = http.StatusConflict
			}
			fail(w, code, err)
			return
		}
		added, err := h.store.Get(r.Context(), s.IMSI)
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		h.log.Info("API: subscriber added", "imsi", s.IMSI)
		reply(w, http.StatusCreated, ToJSON(added))
	})
	mux.HandleFunc("GET /api/subscribers/{id}", func(w http.ResponseWriter, r *http.Request) {
		s, err := h.findAny(r.Context(), r.PathValue("id"))
		if err != nil {
			fail(w, http.StatusNotFound, err)
			return
		}
		reply(w, http.StatusOK, ToJSON(s))
	})
	mux.HandleFunc("DELETE /api/subscribers/{imsi}", func(w http.ResponseWriter, r *http.Request) {
		if err := h.store.Delete(r.Context(), r.PathValue("imsi")); err != nil {
			code := http.StatusInternalServerError
			if errors.Is(err, store.ErrNotFound) {
				code = http.StatusNotFound
			}
			fail(w, code, err)
			return
		}
		h.log.Info("API: subscriber deleted", "imsi", r.PathValue("imsi"))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /api/subscribers/{id}/deregister", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Reason uint32 `json:"reason"`
			Info   string `json:"info"`
		}
		if r.ContentLength > 0 {
			if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
				fail(w, http.StatusBadRequest, err)
				return
			}
		}
		n, err := h.Deregister(r.Context(), r.PathValue("id"), body.Reason, body.Info)
		if err != nil {
			fail(w, statusOf(err), err)
			return
		}
		reply(w, http.StatusOK, map[string]any{"deregistered": n})
	})
	mux.HandleFunc("POST /api/subscribers/{id}/push-profile", func(w http.ResponseWriter, r *http.Request) {
		if err := h.PushProfile(r.Context(), r.PathValue("id")); err != nil {
			fail(w, statusOf(err), err)
			return
		}
		reply(w, http.StatusOK, map[string]any{"pushed": true})
	})
	return mux
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case strings.Contains(err.Error(), "not registered"), strings.Contains(err.Error(), "no registered"):
		return http.StatusConflict
	}
	return http.StatusBadGateway
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func fail(w http.ResponseWriter, code int, err error) {
	reply(w, code, map[string]string{"error": err.Error()})
}
