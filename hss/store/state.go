package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// RegState is the IMS user state of a public identity, TS 29.228 §6.1.2 and
// §8.1: registered, unregistered (an S-CSCF holds the profile for
// terminating services) or not registered. "Authentication pending" is not stored.
type RegState int

// IMS user states.
const (
	NotRegistered RegState = iota
	Registered
	Unregistered // unregistered, but an S-CSCF keeps the profile (terminating services)
)

func (r RegState) String() string {
	switch r {
	case NotRegistered:
		return "NOT_REGISTERED"
	case Registered:
		return "REGISTERED"
	case Unregistered:
		return "UNREGISTERED"
	}
	return fmt.Sprintf("RegState(%d)", int(r))
}

// MarshalText gives the state's name, e.g. REGISTERED.
func (r RegState) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads a state's name.
func (r *RegState) UnmarshalText(b []byte) error {
	for _, v := range []RegState{NotRegistered, Registered, Unregistered} {
		if v.String() == string(b) {
			*r = v
			return nil
		}
	}
	return fmt.Errorf("unknown IMS user state %q: want NOT_REGISTERED, REGISTERED or UNREGISTERED", b)
}

// Registration is the Cx registration state of one public identity: the
// IMPI that registered it and the S-CSCF assigned to it (TS 29.228 §6.1.2).
type Registration struct {
	IMPU    string    `json:"impu"`
	IMPI    string    `json:"impi,omitempty"`
	SCSCF   string    `json:"scscf,omitempty"`
	State   RegState  `json:"state"`
	Updated time.Time `json:"updated"`
}

// Registration returns the registration state of a public identity (looked
// up as ByIMPU does): NotRegistered with an empty S-CSCF if none is stored,
// ErrNotFound if no subscriber has this public identity.
func (s *Store) Registration(ctx context.Context, impu string) (*Registration, error) {
	var r *Registration
	err := s.read(ctx, func(tx *sql.Tx) error {
		regs, err := registrations(ctx, tx, `FROM public_id p LEFT JOIN registration r ON r.impu = p.impu WHERE p.impu = ?`, NormalizeIMPU(impu))
		if err != nil {
			return err
		}
		if len(regs) == 0 {
			return fmt.Errorf("public identity %s: %w", impu, ErrNotFound)
		}
		r = &regs[0]
		return nil
	})
	return r, err
}

// SetRegistration stores the registration state of r.IMPU; state
// NotRegistered deletes it. The IMPU (and the IMPI, when given) must be
// provisioned, for the same subscriber. A zero Updated is set to now.
func (s *Store) SetRegistration(ctx context.Context, r Registration) error {
	if r.State != NotRegistered && r.State != Registered && r.State != Unregistered {
		return fmt.Errorf("store: registration of %s: unknown state %d", r.IMPU, r.State)
	}
	key := NormalizeIMPU(r.IMPU)
	return s.write(ctx, func(tx *sql.Tx) error {
		var owner string
		err := tx.QueryRowContext(ctx, "SELECT imsi FROM public_id WHERE impu = ?", key).Scan(&owner)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("public identity %s: %w", r.IMPU, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("store: registration of %s: %w", r.IMPU, err)
		}
		if r.State == NotRegistered {
			_, err := tx.ExecContext(ctx, "DELETE FROM registration WHERE impu = ?", key)
			if err != nil {
				return fmt.Errorf("store: deregistering %s: %w", r.IMPU, err)
			}
			return nil
		}
		if r.IMPI != "" {
			var imsi string
			err := tx.QueryRowContext(ctx, "SELECT imsi FROM private_id WHERE impi = ?", r.IMPI).Scan(&imsi)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("private identity %s: %w", r.IMPI, ErrNotFound)
			} else if err != nil {
				return fmt.Errorf("store: registration of %s: %w", r.IMPU, err)
			}
			if imsi != owner {
				return fmt.Errorf("store: %s (subscriber %s) cannot register %s (subscriber %s)", r.IMPI, imsi, r.IMPU, owner)
			}
		}
		if r.Updated.IsZero() {
			r.Updated = time.Now()
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO registration (impu, impi, scscf, state, updated) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (impu) DO UPDATE SET impi = excluded.impi, scscf = excluded.scscf, state = excluded.state, updated = excluded.updated`,
			key, nullString(r.IMPI), r.SCSCF, int(r.State), r.Updated.UnixNano())
		if err != nil {
			return fmt.Errorf("store: registration of %s: %w", r.IMPU, err)
		}
		return nil
	})
}

// Registrations returns the stored registrations of a subscriber's public
// identities, in the order of its public identities.
func (s *Store) Registrations(ctx context.Context, imsi string) ([]Registration, error) {
	var regs []Registration
	err := s.read(ctx, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, imsi); err != nil {
			return err
		}
		var err error
		regs, err = registrations(ctx, tx, `FROM registration r JOIN public_id p ON p.impu = r.impu WHERE p.imsi = ? ORDER BY p.pos`, imsi)
		return err
	})
	return regs, err
}

// registrations reads "SELECT <the registration columns> " + from.
func registrations(ctx context.Context, tx *sql.Tx, from string, arg any) ([]Registration, error) {
	type row struct {
		r              Registration
		impi, scscf    sql.NullString
		state, updated sql.NullInt64
	}
	rows, err := queryAll(ctx, tx, func(v *row) []any { return []any{&v.r.IMPU, &v.impi, &v.scscf, &v.state, &v.updated} },
		"SELECT p.uri, r.impi, r.scscf, r.state, r.updated "+from, arg)
	if err != nil {
		return nil, fmt.Errorf("store: reading registrations: %w", err)
	}
	out := make([]Registration, len(rows))
	for i, v := range rows {
		out[i] = v.r
		out[i].IMPI, out[i].SCSCF, out[i].State = v.impi.String, v.scscf.String, RegState(v.state.Int64)
		if v.updated.Valid {
			out[i].Updated = unixTime(v.updated.Int64)
		}
	}
	return out, nil
}

// SetMME stores the MME serving the subscriber (S6a ULR, TS 29.272
// §5.2.1.1); an empty host clears it (PUR, §5.2.1.2).
func (s *Store) SetMME(ctx context.Context, imsi, host, realm string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, imsi); err != nil {
			return err
		}
		var err error
		if host == "" {
			_, err = tx.ExecContext(ctx, "DELETE FROM mme WHERE imsi = ?", imsi)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO mme (imsi, host, realm, updated) VALUES (?, ?, ?, ?)
				ON CONFLICT (imsi) DO UPDATE SET host = excluded.host, realm = excluded.realm, updated = excluded.updated`,
				imsi, host, realm, time.Now().UnixNano())
		}
		if err != nil {
			return fmt.Errorf("store: storing the MME of %s: %w", imsi, err)
		}
		return nil
	})
}

// MME returns the MME serving the subscriber, empty if none.
func (s *Store) MME(ctx context.Context, imsi string) (host, realm string, err error) {
	err = s.read(ctx, func(tx *sql.Tx) error {
		if err := exists(ctx, tx, imsi); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, "SELECT host, realm FROM mme WHERE imsi = ?", imsi).Scan(&host, &realm)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: reading the MME of %s: %w", imsi, err)
		}
		return nil
	})
	return host, realm, err
}

// exists fails with ErrNotFound when no subscriber has this IMSI.
func exists(ctx context.Context, tx *sql.Tx, imsi string) error {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM subscriber WHERE imsi = ?", imsi).Scan(&n); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("subscriber %s: %w", imsi, ErrNotFound)
	}
	return nil
}
