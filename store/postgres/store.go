// Package postgres is correio's store for hosts that run several replicas
// over one PostgreSQL database, on github.com/jackc/pgx/v5 (pgxpool).
//
// The catalog keeps the contract package's rules twice: the pure checks run
// inside the writing transaction (errors are the same typed errors as
// store/memory), and foreign keys and CHECK constraints refuse what a writer
// bypassing this package would break. Catalog writers are serialized by the
// row lock on the version row every write bumps first. Secrets are sealed by
// a secrets.Codec; without one, saving a password fails with
// secrets.ErrNoCodec.
//
// Reads (the routing.Catalog methods the resolver calls per message) come
// from an immutable in-memory snapshot. Every write sends a NOTIFY on the
// channel correio_catalog; each Store LISTENs on a dedicated connection and
// reloads its snapshot, and also compares the version row every
// Options.CheckInterval in case a notification was missed (a reconnect).
//
// Pollers on several replicas share mailboxes through Leases: a lease row
// per mailbox with an expiry and a fencing token, ClaimFairShare to spread
// mailboxes, and CheckFence inside the checkpoint transaction.
//
// The engines' state: Inbound (store.Inbound; commits are fenced by the
// mailbox's lease when it has one, and Leases.Leaser gives the poller its
// tokens), Outbox (store.Outbox and threading.SentIndex; claims use FOR
// UPDATE SKIP LOCKED, so replicas never claim the same record) and
// Suppressions, plus per-contract queries, Prune and EraseContract. Two
// transactional APIs join the host's own transaction: WithTx makes
// Outbox.Put (and so Sender.Enqueue) write inside the host's pgx.Tx — the
// transactional outbox, announced to ListenOutbox on commit — and
// HandleInTx hands inbound messages over inside a transaction that also
// records their key, so a crash can never hand a message twice.
//
// The SQL store itself is store/sqlstore's, written once for every SQL
// database; this package is its PostgreSQL driver (pgx transactions, FOR
// UPDATE SKIP LOCKED claims, lease checks at commit, NOTIFY on enqueue and
// on catalog changes, the host's transaction from WithTx) with the
// migrations and the extras above. Store embeds *sqlstore.Store, so its
// methods and types (sqlstore.Catalog, sqlstore.Received, ...) are this
// store's.
//
// Usage (the Postgres examples are not run by go test, which has no server):
//
//	keys, _ := secrets.NewKeyring("2026-01", map[string][]byte{"2026-01": key32})
//	st, err := postgres.Open(ctx, "postgres://app@db/app", postgres.Options{Secrets: keys})
//	if err != nil { ... }
//	defer st.Close()
//	cat := st.Catalog()
//	err = cat.PutMailbox(ctx, mb)
//	resolver := routing.NewResolver(cat) // reads the cached snapshot
//
// Open applies the embedded migrations (migrations/, documented in
// store/SCHEMA.md) under an advisory lock, so replicas starting together
// are safe; set Options.NoMigrate to run Migrate yourself.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/secrets"
	"github.com/correio-dev/correio/store/sqlstore"
)

// CatalogChannel is the NOTIFY channel of catalog changes; the payload is
// the new version.
const CatalogChannel = "correio_catalog"

// Options configure Open and New.
type Options struct {
	// Secrets seals passwords and refresh tokens (a *secrets.Keyring or
	// secrets.References). Without it a mailbox with a password is refused.
	Secrets secrets.Codec
	// TokenSources builds the OAuth2 token source of mailboxes saved with
	// one, from the stored refresh token.
	TokenSources func(m *mailbox.Mailbox, refreshToken mailbox.Secret) mailbox.TokenSource
	// CheckInterval is how often the version row is compared even without
	// a notification; default 30s, negative disables the watcher entirely
	// (no LISTEN either: the snapshot then changes only through this Store).
	CheckInterval time.Duration
	// NoMigrate skips applying the schema in Open; call Migrate yourself.
	NoMigrate bool
	// Logger receives background failures; default discards.
	Logger *slog.Logger
}

// Store is a PostgreSQL-backed correio store.
type Store struct {
	*sqlstore.Store
	pool    *pgxpool.Pool
	ownPool bool
	log     *slog.Logger

	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// Open connects to dsn with a new pool and calls New.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s, err := New(ctx, pool, opts)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownPool = true
	return s, nil
}

// New uses the host's pool (Close leaves it open), applies the migrations
// unless NoMigrate, loads the catalog and starts watching for changes.
func New(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Store, error) {
	s := &Store{pool: pool, log: opts.Logger, done: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if !opts.NoMigrate {
		if err := s.Migrate(ctx); err != nil {
			return nil, err
		}
	}
	st, err := sqlstore.New(ctx, driver{pool}, sqlstore.Options{Secrets: opts.Secrets, TokenSources: opts.TokenSources})
	if err != nil {
		return nil, err
	}
	s.Store = st
	interval := opts.CheckInterval
	if interval == 0 {
		interval = 30 * time.Second
	}
	wctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if interval > 0 {
		go s.watch(wctx, interval)
	} else {
		close(s.done)
	}
	return s, nil
}

// Pool returns the connection pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close stops the watcher and, when Open made the pool, closes it.
func (s *Store) Close() {
	s.closeOnce.Do(func() {
		s.cancel()
		<-s.done
		if s.ownPool {
			s.pool.Close()
		}
	})
}

// watch LISTENs for catalog changes on a dedicated connection and reloads
// the snapshot on each, and on every interval without one.
func (s *Store) watch(ctx context.Context, interval time.Duration) {
	defer close(s.done)
	refresh := func() {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := s.Catalog().Refresh(rctx); err != nil && ctx.Err() == nil {
			s.log.Warn("correio/postgres: catalog refresh failed", "err", err)
		}
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := s.listen(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("correio/postgres: LISTEN failed; retrying", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, interval)
			refresh()
			continue
		}
		backoff = 100 * time.Millisecond
		refresh() // changes made while we were not listening
		for ctx.Err() == nil {
			wctx, cancel := context.WithTimeout(ctx, interval)
			_, err := conn.WaitForNotification(wctx)
			cancel()
			if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
				s.log.Warn("correio/postgres: notification connection lost", "err", err)
				break
			}
			if ctx.Err() == nil {
				refresh() // a notification, or the interval passed
			}
		}
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = conn.Close(cctx)
		cancel()
	}
}

func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(cctx, "LISTEN "+CatalogChannel); err != nil {
		_ = conn.Close(cctx)
		return nil, err
	}
	return conn, nil
}

// driver is the PostgreSQL sqlstore.Driver: transactions on the pool, and
// every optional capability.
type driver struct{ pool *pgxpool.Pool }

var (
	_ sqlstore.Driver          = driver{}
	_ sqlstore.Autocommitter   = driver{}
	_ sqlstore.AutoReader      = driver{}
	_ sqlstore.CatalogNotifier = driver{}
	_ sqlstore.ClaimLocker     = driver{}
	_ sqlstore.LeaseChecker    = driver{}
	_ sqlstore.EnqueueNotifier = driver{}
	_ sqlstore.HostTxer        = driver{}
)

func (d driver) run(ctx context.Context, opts pgx.TxOptions, fn func(sqlstore.Q) error) error {
	return pgx.BeginTxFunc(ctx, d.pool, opts, func(tx pgx.Tx) error { return fn(pgQ{tx}) })
}

// Write runs fn in a READ COMMITTED transaction; catalog writers are
// serialized by the version row's lock.
func (d driver) Write(ctx context.Context, fn func(sqlstore.Q) error) error {
	return d.run(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, fn)
}

// Read runs fn in a read-only REPEATABLE READ transaction.
func (d driver) Read(ctx context.Context, fn func(sqlstore.Q) error) error {
	return d.run(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// Auto runs fn's statements on the pool outside a transaction (each its
// own).
func (d driver) Auto(ctx context.Context, fn func(sqlstore.Q) error) error { return fn(poolQ(d)) }

// ReadAuto runs fn's one statement on the pool outside a transaction (one
// round trip instead of BEGIN, the statement and COMMIT).
func (d driver) ReadAuto(ctx context.Context, fn func(sqlstore.Q) error) error { return fn(poolQ(d)) }

func (driver) NoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

func (driver) Violation(err error) sqlstore.Constraint {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return sqlstore.NoViolation
	}
	switch pe.Code {
	case "23505":
		return sqlstore.Unique
	case "23503":
		return sqlstore.ForeignKey
	case "23514":
		return sqlstore.Check
	}
	return sqlstore.NoViolation
}

// CatalogChanged notifies every Store's watcher (CatalogChannel) on commit.
func (driver) CatalogChanged(ctx context.Context, q sqlstore.Q, version int64) error {
	_, err := q.Exec(ctx, "SELECT pg_notify(?, ?)", CatalogChannel, fmt.Sprint(version))
	return err
}

// ClaimLock makes concurrent claimers (other replicas) skip each other's
// rows.
func (driver) ClaimLock() string { return "FOR UPDATE SKIP LOCKED" }

// CheckLease compares token with the mailbox's lease row when it has one
// (Leases), read FOR SHARE so a takeover waits for this commit.
func (driver) CheckLease(ctx context.Context, q sqlstore.Q, mb mailbox.ID, token int64) error {
	var cur int64
	err := q.QueryRow(ctx, "SELECT token FROM correio_leases WHERE mailbox_id = ? FOR SHARE", string(mb)).Scan(&cur)
	switch {
	case err == nil:
		if cur != token {
			return fmt.Errorf("%w (%w): mailbox %q token %d, lease token %d", store.ErrFenced, ErrFenced, mb, token, cur)
		}
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	default:
		return fmt.Errorf("check fence: %w", err)
	}
}

// NotifyEnqueue sends the record's mailbox on OutboxChannel when the
// insert commits, in the same statement.
func (driver) NotifyEnqueue(insert string, args []any) (string, []any) {
	return "WITH ins AS (" + insert + " RETURNING mailbox_id) SELECT pg_notify(?, mailbox_id) FROM ins", append(args, OutboxChannel)
}

// HostTx returns the transaction WithTx put in ctx.
func (driver) HostTx(ctx context.Context) sqlstore.Q {
	if tx, ok := ctx.Value(txKey{}).(pgx.Tx); ok && tx != nil {
		return pgQ{tx}
	}
	return nil
}

// pgQ adapts pgx.Tx to sqlstore.Q.
type pgQ struct{ tx pgx.Tx }

func (q pgQ) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := q.tx.Exec(ctx, sqlstore.Rebind(sql), args...)
	return tag.RowsAffected(), err
}

func (q pgQ) Query(ctx context.Context, sql string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.tx.Query(ctx, sqlstore.Rebind(sql), args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (q pgQ) QueryRow(ctx context.Context, sql string, args ...any) sqlstore.Scanner {
	return q.tx.QueryRow(ctx, sqlstore.Rebind(sql), args...)
}

// poolQ runs statements on the pool outside a transaction (each its own).
type poolQ struct{ pool *pgxpool.Pool }

func (q poolQ) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := q.pool.Exec(ctx, sqlstore.Rebind(sql), args...)
	return tag.RowsAffected(), err
}

func (q poolQ) Query(ctx context.Context, sql string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.pool.Query(ctx, sqlstore.Rebind(sql), args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (q poolQ) QueryRow(ctx context.Context, sql string, args ...any) sqlstore.Scanner {
	return q.pool.QueryRow(ctx, sqlstore.Rebind(sql), args...)
}
