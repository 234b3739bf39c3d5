package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/imslab/imslab/internal/aka"
)

// MaxBatch is the most SQNs one NextSQN call allocates.
const MaxBatch = 256

// NextSQN allocates n consecutive SQNs for the subscriber, TS 33.102
// Annex C.3.2: each has SEQ one more than the previous one and IND = previous
// IND + 1 mod 32 (aka.IndSize). The last one is stored and the transaction
// committed (BEGIN IMMEDIATE, synchronous=FULL) before NextSQN returns, so
// that once a caller has an SQN, no crash (kill -9, power loss) lets the same
// SQN be handed out again. Several goroutines and processes may call it at once.
func (s *Store) NextSQN(ctx context.Context, imsi string, n int) ([]uint64, error) {
	if n < 1 || n > MaxBatch {
		return nil, fmt.Errorf("store: %d SQNs asked for subscriber %s: ask for 1 to %d", n, imsi, MaxBatch)
	}
	out := make([]uint64, 0, n)
	err := s.write(ctx, func(tx *sql.Tx) error {
		var sqn uint64
		err := tx.QueryRowContext(ctx, "SELECT sqn FROM subscriber WHERE imsi = ?", imsi).Scan(&sqn)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("subscriber %s: %w", imsi, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: reading the SQN of %s: %w", imsi, err)
		}
		for range n {
			seq := aka.SEQ(sqn) + 1
			if seq > aka.MaxSEQ {
				return fmt.Errorf("subscriber %s: SEQ is exhausted at %s (TS 33.102 Annex C): give the card a new K, or reset the SQN of both", imsi, aka.FormatSQN(sqn))
			}
			sqn = aka.MakeSQN(seq, (aka.IND(sqn)+1)%aka.IndSize)
			out = append(out, sqn)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE subscriber SET sqn = ? WHERE imsi = ?", sqn, imsi); err != nil {
			return fmt.Errorf("store: storing the SQN of %s: %w", imsi, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetSQN stores sqn as the last SQN handed out. The HSS calls it on
// re-synchronisation with the SQN_MS from AUTS (TS 33.102 §6.3.5: SQN_HE is
// set to SQN_MS), so that the next vector has SEQ_MS + 1; the CLI to set it
// by hand. It is committed durably before it returns.
func (s *Store) SetSQN(ctx context.Context, imsi string, sqn uint64) error {
	if sqn > aka.MaxSQN {
		return fmt.Errorf("store: SQN %d of %s does not fit in 48 bits", sqn, imsi)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, "UPDATE subscriber SET sqn = ? WHERE imsi = ?", sqn, imsi)
		if err != nil {
			return fmt.Errorf("store: storing the SQN of %s: %w", imsi, err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fmt.Errorf("subscriber %s: %w", imsi, ErrNotFound)
		}
		return nil
	})
}

// ResyncSQN adopts SQN_MS from a re-synchronisation (TS 33.102 §6.3.5) in
// one transaction: when SEQ_MS is ahead of the stored SEQ, the stored SQN
// becomes sqnMS; otherwise it stays, since the next SQN (SEQ_HE + 1) is
// already fresh for the card, and the SEQ never goes back. It returns the SQN
// stored before and whether sqnMS was adopted. Unlike Get then SetSQN, no
// other caller's NextSQN can come between the comparison and the write.
func (s *Store) ResyncSQN(ctx context.Context, imsi string, sqnMS uint64) (prev uint64, adopted bool, err error) {
	if sqnMS > aka.MaxSQN {
		return 0, false, fmt.Errorf("store: SQN_MS %d of %s does not fit in 48 bits", sqnMS, imsi)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, "SELECT sqn FROM subscriber WHERE imsi = ?", imsi).Scan(&prev)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("subscriber %s: %w", imsi, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: reading the SQN of %s: %w", imsi, err)
		}
		if aka.SEQ(sqnMS) <= aka.SEQ(prev) {
			return nil
		}
		if _, err := tx.ExecContext(ctx, "UPDATE subscriber SET sqn = ? WHERE imsi = ?", sqnMS, imsi); err != nil {
			return fmt.Errorf("store: storing the SQN of %s: %w", imsi, err)
		}
		adopted = true
		return nil
	})
	return prev, adopted, err
}
