package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// schemaVersion is stored in PRAGMA user_version. A database written by a
// newer imslab (higher version) is refused rather than misread.
const schemaVersion = 1

// busyTimeoutMS is how long a connection waits for another one (in this or
// another process: the running HSS, the CLI) to release the write lock.
const busyTimeoutMS = 10000

// schemaV1 holds the subscriber data normalised, one table per kind of
// identity (TS 29.228 §6.5.2: private and public identities, the
// private-to-public relation and the implicit registration sets), and the
// state the HSS keeps: SQN (TS 33.102 Annex C), Cx registration state and
// S-CSCF (TS 29.228 §6.1), serving MME (TS 29.272 §5.2.1.1).
const schemaV1 = `
CREATE TABLE subscriber (
	imsi   TEXT PRIMARY KEY,
	iccid  TEXT NOT NULL DEFAULT '',
	msisdn TEXT,                          -- NULL when none
	k      BLOB NOT NULL CHECK (length(k) = 16),
	opc    BLOB NOT NULL CHECK (length(opc) = 16),
	op     BLOB CHECK (op IS NULL OR length(op) = 16),
	amf    INTEGER NOT NULL CHECK (amf BETWEEN 0 AND 65535),
	sqn    INTEGER NOT NULL DEFAULT 0 CHECK (sqn BETWEEN 0 AND 281474976710655), -- SEQ‖IND, 48 bits
	barred INTEGER NOT NULL DEFAULT 0,
	domain TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE UNIQUE INDEX subscriber_msisdn ON subscriber (ltrim(msisdn, '+'));

CREATE TABLE private_id (
	impi     TEXT PRIMARY KEY,
	imsi     TEXT NOT NULL REFERENCES subscriber (imsi) ON DELETE CASCADE,
	pos      INTEGER NOT NULL,
	scheme   TEXT NOT NULL CHECK (scheme IN ('Digest-AKAv1-MD5', 'SIP Digest')),
	password TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX private_id_imsi ON private_id (imsi);

CREATE TABLE public_id (
	impu       TEXT PRIMARY KEY,          -- normalised form (NormalizeIMPU)
	uri        TEXT NOT NULL,             -- as provisioned
	imsi       TEXT NOT NULL REFERENCES subscriber (imsi) ON DELETE CASCADE,
	pos        INTEGER NOT NULL,
	irs        INTEGER NOT NULL,          -- implicit registration set
	barred     INTEGER NOT NULL DEFAULT 0,
	is_default INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX public_id_imsi ON public_id (imsi);

CREATE TABLE impi_impu (
	impi TEXT NOT NULL REFERENCES private_id (impi) ON DELETE CASCADE,
	impu TEXT NOT NULL REFERENCES public_id (impu) ON DELETE CASCADE,
	pos  INTEGER NOT NULL,
	PRIMARY KEY (impi, impu)
) STRICT;
CREATE INDEX impi_impu_impu ON impi_impu (impu);

CREATE TABLE ifc (
	imsi     TEXT NOT NULL REFERENCES subscriber (imsi) ON DELETE CASCADE,
	priority INTEGER NOT NULL,
	xml      TEXT NOT NULL,
	PRIMARY KEY (imsi, priority)
) STRICT;

CREATE TABLE registration (
	impu    TEXT PRIMARY KEY REFERENCES public_id (impu) ON DELETE CASCADE,
	impi    TEXT REFERENCES private_id (impi) ON DELETE CASCADE, -- NULL when none
	scscf   TEXT NOT NULL DEFAULT '',
	state   INTEGER NOT NULL CHECK (state IN (1, 2)),   -- RegState; NOT_REGISTERED is no row
	updated INTEGER NOT NULL                            -- Unix nanoseconds
) STRICT;
CREATE INDEX registration_impi ON registration (impi);

CREATE TABLE mme (
	imsi    TEXT PRIMARY KEY REFERENCES subscriber (imsi) ON DELETE CASCADE,
	host    TEXT NOT NULL,
	realm   TEXT NOT NULL,
	updated INTEGER NOT NULL
) STRICT;
`

// dsn is the SQLite URI of path with the connection settings every pooled
// connection gets: WAL (readers never block the writer, and the CLI can work
// while the HSS runs), synchronous=FULL (a commit returns only once the WAL
// is on stable storage), a busy timeout (wait for the other process instead
// of failing), foreign keys (ON DELETE CASCADE), and BEGIN IMMEDIATE for
// every read-write transaction (the write lock is taken at BEGIN, so two
// writers never both read the same SQN).
func dsn(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	return u.String(), nil
}

// Open opens the subscriber store in the SQLite file path, creating the file
// (mode 0600: it holds the subscribers' keys) and the schema on first run.
// Several processes may have the same file open.
func Open(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: no database file given")
	}
	// Create it ourselves so that K and OPc are not world-readable; SQLite
	// gives the -wal and -shm files the mode of the database file.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: opening %s: %w (check the directory exists and is writable)", path, err)
	}
	f.Close()
	name, err := dsn(path)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", name)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	s := &Store{db: db, path: path, wsem: make(chan struct{}, 1)}
	if err := s.init(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// init checks the connection settings took effect and creates or checks the schema.
func (s *Store) init(ctx context.Context) error {
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		if strings.Contains(err.Error(), "not a database") {
			return fmt.Errorf("store: %s is not an SQLite database: give another file with --db", s.path)
		}
		return fmt.Errorf("store: opening %s: %w", s.path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("store: %s: journal mode is %q, not WAL: put the database on a local file system", s.path, mode)
	}
	var sync int
	if err := s.db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		return fmt.Errorf("store: %s: %w", s.path, err)
	}
	if sync != 2 { // FULL
		return fmt.Errorf("store: %s: synchronous is %d, want 2 (FULL)", s.path, sync)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		var v, tables int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			return fmt.Errorf("store: %s: reading the schema version: %w", s.path, err)
		}
		switch {
		case v == schemaVersion:
			return nil
		case v > schemaVersion:
			return fmt.Errorf("store: %s has schema version %d but this imslab knows only up to version %d: use a newer imslab, or another --db", s.path, v, schemaVersion)
		}
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
			return fmt.Errorf("store: %s: %w", s.path, err)
		}
		if tables > 0 {
			return fmt.Errorf("store: %s is an SQLite database but not an imslab HSS store (no schema version): give another file with --db", s.path)
		}
		if _, err := tx.ExecContext(ctx, schemaV1); err != nil {
			return fmt.Errorf("store: %s: creating the schema: %w", s.path, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
			return fmt.Errorf("store: %s: %w", s.path, err)
		}
		return nil
	})
}

// Close closes the database. The WAL is checkpointed by SQLite when the last
// connection of the last process closes.
func (s *Store) Close() error { return s.db.Close() }

// write runs f in a read-write transaction (BEGIN IMMEDIATE: the write lock
// is taken before f reads anything) and commits it; with synchronous=FULL in
// WAL mode the commit is on stable storage when write returns nil.
// Goroutines of this process queue on wsem rather than on SQLite's sleeping
// busy handler; other processes are waited for by busy_timeout.
func (s *Store) write(ctx context.Context, f func(*sql.Tx) error) error {
	select {
	case s.wsem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.wsem }()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %s: starting a write transaction: %w (is another process holding the database?)", s.path, err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %s: commit: %w", s.path, err)
	}
	return nil
}

// read runs f in a read-only transaction: one consistent snapshot.
func (s *Store) read(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("store: %s: %w", s.path, err)
	}
	defer tx.Rollback()
	return f(tx)
}
