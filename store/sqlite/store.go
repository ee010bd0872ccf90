// Package sqlite is correio's embedded default store, on modernc.org/sqlite
// (pure Go, no cgo): one database file in WAL mode, one writer connection
// (writes take the lock up front with BEGIN IMMEDIATE, so they queue instead
// of failing with SQLITE_BUSY) and a pool of reader connections, foreign
// keys on, a busy timeout for other processes sharing the file.
//
// The catalog keeps the contract package's rules twice: the pure checks run
// inside the writing transaction (so errors are the same typed errors as
// store/memory), and the schema's foreign keys and CHECK constraints refuse
// what a writer bypassing this package would break. Secrets are sealed by a
// secrets.Codec the host provides; without one, saving a password fails
// with secrets.ErrNoCodec.
//
// Reads (the routing.Catalog methods the resolver calls per message) come
// from an immutable in-memory snapshot, reloaded after every write through
// this Store and, for writes by other processes, when a periodic check of
// the version row sees it move.
//
// The engines' state lives in the same file: Inbound (store.Inbound:
// checkpoints, handled keys, quarantine with raw bytes), Outbox
// (store.Outbox and threading.SentIndex) and Suppressions
// (store.Suppressions), with records queryable by contract
// (Inbound.Received, Outbox.ListByContract), retention (Prune) and
// erasure of one contract (EraseContract). They pass store/storetest like
// store/memory and store/postgres.
//
// All of that is store/sqlstore's, written once for every SQL database;
// this package is its SQLite driver: the connections and their pragmas,
// the migrations, and the classification of SQLite's errors. Store embeds
// *sqlstore.Store, so its methods and types (sqlstore.Catalog,
// sqlstore.Received, ...) are this store's.
//
// The schema is in migrations/ and documented in store/SCHEMA.md; Open
// applies it unless Options.NoMigrate is set.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store/secrets"
	"github.com/correio-dev/correio/store/sqlstore"
)

// Options configure Open. The zero value works for a store without secrets.
type Options struct {
	// Secrets seals passwords and refresh tokens (a *secrets.Keyring or
	// secrets.References). Without it a mailbox with a password is refused.
	Secrets secrets.Codec
	// TokenSources builds the OAuth2 token source of mailboxes saved with
	// one, from the stored refresh token. Without it such mailboxes get a
	// token source that fails with a clear error.
	TokenSources func(m *mailbox.Mailbox, refreshToken mailbox.Secret) mailbox.TokenSource
	// CheckInterval is how often the catalog checks whether another process
	// changed it; default 2s, negative disables (one process owns the file).
	CheckInterval time.Duration
	// BusyTimeout is how long a statement waits for another process's lock;
	// default 5s.
	BusyTimeout time.Duration
	// ReadConns caps the reader pool; default 4.
	ReadConns int
	// NoMigrate skips applying the schema in Open; call Migrate yourself.
	NoMigrate bool
	// Logger receives background refresh failures; default discards.
	Logger *slog.Logger
}

// Store is an open SQLite database.
type Store struct {
	*sqlstore.Store
	writer *sql.DB
	reader *sql.DB
	log    *slog.Logger

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// Open opens (creating if needed) the database file at path, applies the
// migrations and loads the catalog.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" || path == ":memory:" {
		return nil, errors.New("sqlite: a file path is required (readers and the writer share it)")
	}
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = 5 * time.Second
	}
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	base := "file:" + (&url.URL{Path: path}).EscapedPath()
	writer, err := sql.Open("sqlite", base+"?"+q.Encode()+"&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	q.Add("_pragma", "query_only(1)")
	reader, err := sql.Open("sqlite", base+"?"+q.Encode())
	if err != nil {
		writer.Close()
		return nil, err
	}
	n := opts.ReadConns
	if n <= 0 {
		n = 4
	}
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	s := &Store{writer: writer, reader: reader, log: opts.Logger, stop: make(chan struct{}), done: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	// Switching a new file to WAL takes an exclusive lock that SQLite does
	// not wait for with the busy handler: retry while another process does
	// the same.
	deadline := time.Now().Add(busy)
	for {
		err := writer.PingContext(ctx)
		if err == nil {
			break
		}
		var se *sqlite.Error
		if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			s.closeDBs()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			s.closeDBs()
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	if !opts.NoMigrate {
		if err := s.Migrate(ctx); err != nil {
			s.closeDBs()
			return nil, err
		}
	}
	st, err := sqlstore.New(ctx, driver{writer: writer, reader: reader}, sqlstore.Options{Secrets: opts.Secrets, TokenSources: opts.TokenSources})
	if err != nil {
		s.closeDBs()
		return nil, err
	}
	s.Store = st
	interval := opts.CheckInterval
	if interval == 0 {
		interval = 2 * time.Second
	}
	if interval > 0 {
		go s.watch(interval)
	} else {
		close(s.done)
	}
	return s, nil
}

func (s *Store) watch(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := s.Catalog().Refresh(ctx); err != nil {
				s.log.Warn("correio/sqlite: catalog refresh failed", "err", err)
			}
			cancel()
		}
	}
}

// Close stops the background refresh and closes the database.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		err = s.closeDBs()
	})
	return err
}

func (s *Store) closeDBs() error {
	return errors.Join(s.reader.Close(), s.writer.Close())
}

// driver is the SQLite sqlstore.Driver: writes on the one writer
// connection (BEGIN IMMEDIATE), reads on the reader pool.
type driver struct{ writer, reader *sql.DB }

var (
	_ sqlstore.Driver        = driver{}
	_ sqlstore.Autocommitter = driver{}
	_ sqlstore.AutoReader    = driver{}
)

func (d driver) Write(ctx context.Context, fn func(sqlstore.Q) error) error {
	return inTx(ctx, d.writer, fn)
}

func (d driver) Read(ctx context.Context, fn func(sqlstore.Q) error) error {
	return inTx(ctx, d.reader, fn)
}

// Auto runs fn's statements on the writer outside a transaction (each its
// own).
func (d driver) Auto(ctx context.Context, fn func(sqlstore.Q) error) error { return fn(dbQ{d.writer}) }

// ReadAuto runs fn's one statement on the reader pool outside a
// transaction (the statement's own implicit one).
func (d driver) ReadAuto(ctx context.Context, fn func(sqlstore.Q) error) error {
	return fn(dbQ{d.reader})
}

func (driver) NoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

func (driver) Violation(err error) sqlstore.Constraint {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return sqlstore.NoViolation
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return sqlstore.Unique
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return sqlstore.ForeignKey
	case sqlite3.SQLITE_CONSTRAINT_CHECK:
		return sqlstore.Check
	}
	return sqlstore.NoViolation
}

func inTx(ctx context.Context, db *sql.DB, fn func(sqlstore.Q) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(txQ{tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// txQ adapts *sql.Tx to sqlstore.Q.
type txQ struct{ tx *sql.Tx }

func (q txQ) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q txQ) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (q txQ) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Scanner {
	return q.tx.QueryRowContext(ctx, query, args...)
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

// dbQ runs statements on the writer outside a transaction (each its own).
type dbQ struct{ db *sql.DB }

func (q dbQ) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q dbQ) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (q dbQ) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Scanner {
	return q.db.QueryRowContext(ctx, query, args...)
}
