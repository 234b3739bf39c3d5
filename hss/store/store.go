// Package store is the HSS subscriber store: subscriptions (IMSI, K, OPc,
// AMF, MSISDN, private and public identities, implicit registration sets,
// initial filter criteria), the SQN of each subscriber (TS 33.102 Annex C),
// the Cx registration state with the assigned S-CSCF (TS 29.228 §6.1) and the
// serving MME (TS 29.272). It is one SQLite file (modernc.org/sqlite, WAL)
// that the running HSS and the provisioning CLI may use at the same time.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotFound means the subscriber or identity is unknown (Cx/S6a
// DIAMETER_ERROR_USER_UNKNOWN, 5001).
var ErrNotFound = errors.New("user unknown")

// ErrExists means the IMSI, an IMPI, an IMPU or the MSISDN is already provisioned.
var ErrExists = errors.New("already provisioned")

// AuthScheme is the SIP authentication scheme of a private identity, as
// named in the Cx SIP-Authentication-Scheme AVP (TS 29.229 §6.3.9).
type AuthScheme string

// Authentication schemes: IMS AKA with the SIM (RFC 3310, TS 33.203) and
// SIP Digest for clients without a SIM (TS 33.203 Annex N).
const (
	SchemeAKA    AuthScheme = "Digest-AKAv1-MD5"
	SchemeDigest AuthScheme = "SIP Digest"
)

// Subscriber is one subscription.
type Subscriber struct {
	IMSI, ICCID, MSISDN string
	K, OPc              []byte // 16 bytes each; OPc always set (computed from OP when only OP is given)
	OP                  []byte // nil unless provisioned with OP (kept so that it can be shown/exported)
	AMF                 uint16
	SQN                 uint64 // the last SQN handed out (SEQ‖IND, 48 bits), TS 33.102 Annex C; Add stores it, Update ignores it
	Barred              bool
	Domain              string // home domain of its IMS identities
	Private             []PrivateID
	Public              []PublicID
	IFCs                []IFC // initial filter criteria, ordered by priority
}

// PrivateID is a private user identity (IMPI, TS 23.003 §13.3) and the
// public identities it may register (TS 29.228 §6.5.2).
type PrivateID struct {
	IMPI     string     `json:"impi"`
	Scheme   AuthScheme `json:"scheme"`
	Password string     `json:"password,omitempty"` // SIP Digest only
	IMPUs    []string   `json:"impus"`              // the public identities this IMPI may register
}

// PublicID is a public user identity (IMPU, TS 23.003 §13.4).
type PublicID struct {
	IMPU    string `json:"impu"`
	IRS     int    `json:"irs"` // implicit registration set number: IMPUs with the same IRS register together (TS 29.228 §6.5.2.1)
	Barred  bool   `json:"barred,omitempty"`
	Default bool   `json:"default,omitempty"`
}

// IFC is one initial filter criterion.
type IFC struct {
	Priority int    `json:"priority"`
	XML      string `json:"xml"` // one <InitialFilterCriteria> element of the TS 29.228 IMSSubscription schema (Annex B)
}

// Store is the subscriber store. Its methods are safe for concurrent use,
// also by several processes on the same file.
type Store struct {
	db   *sql.DB
	path string
	wsem chan struct{} // one writer of this process at a time
}

// Add provisions a new subscriber. It fails with ErrExists if the IMSI, an
// IMPI, an IMPU or the MSISDN is already provisioned. When only OP is
// given, Add sets sub.OPc to the OPc derived from it.
func (s *Store) Add(ctx context.Context, sub *Subscriber) error {
	if err := sub.fillOPc(); err != nil {
		return err
	}
	if err := sub.Validate(); err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM subscriber WHERE imsi = ?", sub.IMSI).Scan(&n); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("subscriber %s: %w", sub.IMSI, ErrExists)
		}
		if err := checkOwners(ctx, tx, sub); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO subscriber (imsi, iccid, msisdn, k, opc, op, amf, sqn, barred, domain)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			sub.IMSI, sub.ICCID, nullString(sub.MSISDN), sub.K, sub.OPc, sub.OP, sub.AMF, sub.SQN, sub.Barred, sub.Domain)
		if err != nil {
			return fmt.Errorf("store: adding %s: %w", sub.IMSI, err)
		}
		return putIdentities(ctx, tx, sub)
	})
}

// Update replaces everything of a subscriber but its SQN. Registrations of
// identities that remain are kept. ErrNotFound if the IMSI is unknown. Like
// Add, it sets sub.OPc from OP when only OP is given.
func (s *Store) Update(ctx context.Context, sub *Subscriber) error {
	if err := sub.fillOPc(); err != nil {
		return err
	}
	if err := sub.Validate(); err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := checkOwners(ctx, tx, sub); err != nil {
			return err
		}
		r, err := tx.ExecContext(ctx, `UPDATE subscriber SET iccid = ?, msisdn = ?, k = ?, opc = ?, op = ?, amf = ?, barred = ?, domain = ?
			WHERE imsi = ?`,
			sub.ICCID, nullString(sub.MSISDN), sub.K, sub.OPc, sub.OP, sub.AMF, sub.Barred, sub.Domain, sub.IMSI)
		if err != nil {
			return fmt.Errorf("store: updating %s: %w", sub.IMSI, err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fmt.Errorf("subscriber %s: %w", sub.IMSI, ErrNotFound)
		}
		return putIdentities(ctx, tx, sub)
	})
}

// Delete removes a subscriber with all its identities, iFCs and state.
func (s *Store) Delete(ctx context.Context, imsi string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, "DELETE FROM subscriber WHERE imsi = ?", imsi)
		if err != nil {
			return fmt.Errorf("store: deleting %s: %w", imsi, err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fmt.Errorf("subscriber %s: %w", imsi, ErrNotFound)
		}
		return nil
	})
}

// Get returns the subscriber with this IMSI.
func (s *Store) Get(ctx context.Context, imsi string) (*Subscriber, error) {
	var sub *Subscriber
	err := s.read(ctx, func(tx *sql.Tx) (err error) {
		sub, err = load(ctx, tx, imsi)
		return err
	})
	return sub, err
}

// List returns every subscriber, by IMSI.
func (s *Store) List(ctx context.Context) ([]*Subscriber, error) {
	var subs []*Subscriber
	err := s.read(ctx, func(tx *sql.Tx) error {
		imsis, err := queryStrings(ctx, tx, "SELECT imsi FROM subscriber ORDER BY imsi")
		if err != nil {
			return err
		}
		for _, imsi := range imsis {
			sub, err := load(ctx, tx, imsi)
			if err != nil {
				return err
			}
			subs = append(subs, sub)
		}
		return nil
	})
	return subs, err
}

// ByIMPI returns the subscriber owning a private identity (exact match) and
// that identity.
func (s *Store) ByIMPI(ctx context.Context, impi string) (*Subscriber, *PrivateID, error) {
	sub, err := s.lookup(ctx, "private identity "+impi, "SELECT imsi FROM private_id WHERE impi = ?", impi)
	if err != nil {
		return nil, nil, err
	}
	for i := range sub.Private {
		if sub.Private[i].IMPI == impi {
			return sub, &sub.Private[i], nil
		}
	}
	return nil, nil, fmt.Errorf("private identity %s: %w", impi, ErrNotFound)
}

// ByIMPU returns the subscriber owning a public identity. The match is exact
// on the normalised form (NormalizeIMPU): scheme and host are compared
// without regard to case and URI parameters other than user=phone are
// ignored. sip:+N@domain;user=phone and tel:+N are different identities.
func (s *Store) ByIMPU(ctx context.Context, impu string) (*Subscriber, error) {
	return s.lookup(ctx, "public identity "+impu, "SELECT imsi FROM public_id WHERE impu = ?", NormalizeIMPU(impu))
}

// ByMSISDN returns the subscriber with this MSISDN (a leading '+' is ignored).
func (s *Store) ByMSISDN(ctx context.Context, msisdn string) (*Subscriber, error) {
	return s.lookup(ctx, "MSISDN "+msisdn, "SELECT imsi FROM subscriber WHERE ltrim(msisdn, '+') = ltrim(?, '+')", msisdn)
}

// Find finds a subscriber by any of its names: IMSI, MSISDN (digits, or
// with a leading '+'), IMPU (sip: or tel:) or IMPI.
func (s *Store) Find(ctx context.Context, id string) (*Subscriber, error) {
	switch l := strings.ToLower(id); {
	case strings.HasPrefix(l, "sip:") || strings.HasPrefix(l, "tel:"):
		return s.ByIMPU(ctx, id)
	case strings.HasPrefix(id, "+"):
		return s.ByMSISDN(ctx, id)
	case digits(id):
		sub, err := s.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return s.ByMSISDN(ctx, id)
		}
		return sub, err
	}
	sub, _, err := s.ByIMPI(ctx, id)
	return sub, err
}

func (s *Store) lookup(ctx context.Context, what, query string, arg any) (*Subscriber, error) {
	var sub *Subscriber
	err := s.read(ctx, func(tx *sql.Tx) error {
		var imsi string
		if err := tx.QueryRowContext(ctx, query, arg).Scan(&imsi); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%s: %w", what, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("store: looking up %s: %w", what, err)
		}
		var err error
		sub, err = load(ctx, tx, imsi)
		return err
	})
	return sub, err
}

// load reads one subscriber with its identities and iFCs.
func load(ctx context.Context, tx *sql.Tx, imsi string) (*Subscriber, error) {
	sub := &Subscriber{IMSI: imsi}
	var msisdn sql.NullString
	err := tx.QueryRowContext(ctx, "SELECT iccid, msisdn, k, opc, op, amf, sqn, barred, domain FROM subscriber WHERE imsi = ?", imsi).
		Scan(&sub.ICCID, &msisdn, &sub.K, &sub.OPc, &sub.OP, &sub.AMF, &sub.SQN, &sub.Barred, &sub.Domain)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("subscriber %s: %w", imsi, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: reading %s: %w", imsi, err)
	}
	sub.MSISDN = msisdn.String
	wrap := func(err error) error { return fmt.Errorf("store: reading the identities of %s: %w", imsi, err) }

	if sub.Private, err = queryAll(ctx, tx, func(p *PrivateID) []any { return []any{&p.IMPI, &p.Scheme, &p.Password} },
		"SELECT impi, scheme, password FROM private_id WHERE imsi = ? ORDER BY pos", imsi); err != nil {
		return nil, wrap(err)
	}
	for i := range sub.Private {
		sub.Private[i].IMPUs, err = queryStrings(ctx, tx, `SELECT p.uri FROM impi_impu l JOIN public_id p ON p.impu = l.impu
			WHERE l.impi = ? ORDER BY l.pos`, sub.Private[i].IMPI)
		if err != nil {
			return nil, wrap(err)
		}
	}
	if sub.Public, err = queryAll(ctx, tx, func(p *PublicID) []any { return []any{&p.IMPU, &p.IRS, &p.Barred, &p.Default} },
		"SELECT uri, irs, barred, is_default FROM public_id WHERE imsi = ? ORDER BY pos", imsi); err != nil {
		return nil, wrap(err)
	}
	if sub.IFCs, err = queryAll(ctx, tx, func(f *IFC) []any { return []any{&f.Priority, &f.XML} },
		"SELECT priority, xml FROM ifc WHERE imsi = ? ORDER BY priority", imsi); err != nil {
		return nil, wrap(err)
	}
	return sub, nil
}

// checkOwners fails with ErrExists when an identity or the MSISDN of sub
// belongs to another subscriber.
func checkOwners(ctx context.Context, tx *sql.Tx, sub *Subscriber) error {
	owner := func(what, query, arg string) error {
		var imsi string
		err := tx.QueryRowContext(ctx, query, arg).Scan(&imsi)
		switch {
		case errors.Is(err, sql.ErrNoRows) || err == nil && imsi == sub.IMSI:
			return nil
		case err != nil:
			return fmt.Errorf("store: %w", err)
		}
		return fmt.Errorf("%s belongs to subscriber %s: %w", what, imsi, ErrExists)
	}
	if sub.MSISDN != "" {
		if err := owner("MSISDN "+sub.MSISDN, "SELECT imsi FROM subscriber WHERE ltrim(msisdn, '+') = ltrim(?, '+')", sub.MSISDN); err != nil {
			return err
		}
	}
	for _, p := range sub.Private {
		if err := owner("private identity "+p.IMPI, "SELECT imsi FROM private_id WHERE impi = ?", p.IMPI); err != nil {
			return err
		}
	}
	for _, p := range sub.Public {
		if err := owner("public identity "+p.IMPU, "SELECT imsi FROM public_id WHERE impu = ?", NormalizeIMPU(p.IMPU)); err != nil {
			return err
		}
	}
	return nil
}

// putIdentities makes the identity and iFC rows of sub.IMSI those of sub.
// Rows of identities that remain are updated in place, not deleted, so that
// their registration state survives a profile update.
func putIdentities(ctx context.Context, tx *sql.Tx, sub *Subscriber) error {
	wrap := func(err error) error { return fmt.Errorf("store: writing the identities of %s: %w", sub.IMSI, err) }
	keepPriv := map[string]bool{}
	for _, p := range sub.Private {
		keepPriv[p.IMPI] = true
	}
	keepPub := map[string]bool{}
	for _, p := range sub.Public {
		keepPub[NormalizeIMPU(p.IMPU)] = true
	}
	old, err := queryStrings(ctx, tx, "SELECT impi FROM private_id WHERE imsi = ?", sub.IMSI)
	if err != nil {
		return wrap(err)
	}
	for _, impi := range old {
		if !keepPriv[impi] {
			if _, err := tx.ExecContext(ctx, "DELETE FROM private_id WHERE impi = ?", impi); err != nil {
				return wrap(err)
			}
		}
	}
	if old, err = queryStrings(ctx, tx, "SELECT impu FROM public_id WHERE imsi = ?", sub.IMSI); err != nil {
		return wrap(err)
	}
	for _, impu := range old {
		if !keepPub[impu] {
			if _, err := tx.ExecContext(ctx, "DELETE FROM public_id WHERE impu = ?", impu); err != nil {
				return wrap(err)
			}
		}
	}
	for i, p := range sub.Public {
		if _, err := tx.ExecContext(ctx, `INSERT INTO public_id (impu, uri, imsi, pos, irs, barred, is_default) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (impu) DO UPDATE SET uri = excluded.uri, pos = excluded.pos, irs = excluded.irs,
			barred = excluded.barred, is_default = excluded.is_default`,
			NormalizeIMPU(p.IMPU), p.IMPU, sub.IMSI, i, p.IRS, p.Barred, p.Default); err != nil {
			return wrap(err)
		}
	}
	for i, p := range sub.Private {
		if _, err := tx.ExecContext(ctx, `INSERT INTO private_id (impi, imsi, pos, scheme, password) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (impi) DO UPDATE SET pos = excluded.pos, scheme = excluded.scheme, password = excluded.password`,
			p.IMPI, sub.IMSI, i, string(p.Scheme), p.Password); err != nil {
			return wrap(err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM impi_impu WHERE impi = ?", p.IMPI); err != nil {
			return wrap(err)
		}
		for j, u := range p.IMPUs {
			if _, err := tx.ExecContext(ctx, "INSERT INTO impi_impu (impi, impu, pos) VALUES (?, ?, ?)", p.IMPI, NormalizeIMPU(u), j); err != nil {
				return wrap(err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM ifc WHERE imsi = ?", sub.IMSI); err != nil {
		return wrap(err)
	}
	for _, f := range sub.IFCs {
		if _, err := tx.ExecContext(ctx, "INSERT INTO ifc (imsi, priority, xml) VALUES (?, ?, ?)", sub.IMSI, f.Priority, f.XML); err != nil {
			return wrap(err)
		}
	}
	return nil
}

// queryAll runs a query and scans each row into a T with the destinations scan gives.
func queryAll[T any](ctx context.Context, tx *sql.Tx, scan func(*T) []any, query string, args ...any) ([]T, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(scan(&v)...); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// queryStrings runs a query whose rows are one string each.
func queryStrings(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]string, error) {
	return queryAll(ctx, tx, func(v *string) []any { return []any{v} }, query, args...)
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// unixTime turns a stored Unix-nanosecond time back into a time.Time.
func unixTime(ns int64) time.Time { return time.Unix(0, ns) }
