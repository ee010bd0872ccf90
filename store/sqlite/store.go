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
	// wst and rst hold the prepared statements of writer and reader.
	wst, rst *stmts
	log      *slog.Logger

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
	s.wst, s.rst = newStmts(writer), newStmts(reader)
	st, err := sqlstore.New(ctx, driver{writer: s.wst, reader: s.rst, group: &group{}}, sqlstore.Options{Secrets: opts.Secrets, TokenSources: opts.TokenSources})
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
	var errs []error
	for _, c := range []*stmts{s.wst, s.rst} {
		if c != nil {
			errs = append(errs, c.close())
		}
	}
	return errors.Join(append(errs, s.reader.Close(), s.writer.Close())...)
}

// driver is the SQLite sqlstore.Driver: writes on the one writer
// connection (BEGIN IMMEDIATE), reads on the reader pool, every statement
// prepared once per connection (stmts).
type driver struct {
	writer, reader *stmts
	group          *group
}

// stmts is a database with its prepared statements, by SQL text: SQLite
// compiles a statement on every Exec or Query otherwise, which costs more
// than running the small statements of the engines. At most maxStmts are
// kept (the multi-row statements of group commits vary in length); others
// run unprepared.
type stmts struct {
	db   *sql.DB
	mu   sync.RWMutex
	m    map[string]*sql.Stmt
	want map[string]bool // missed inside a transaction, prepared before the next
}

const maxStmts = 512

func (s *stmts) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for q, st := range s.m {
		errs = append(errs, st.Close())
		delete(s.m, q)
	}
	return errors.Join(errs...)
}

func newStmts(db *sql.DB) *stmts {
	return &stmts{db: db, m: map[string]*sql.Stmt{}, want: map[string]bool{}}
}

// get returns the prepared statement of query; nil when it is not
// prepared yet, the cache is full or preparing failed (the caller then runs
// the query unprepared, which reports any error). Outside a transaction
// (inTx false) a miss is prepared at once; inside one it is noted and
// prepared before the next transaction begins: preparing on the database
// needs a connection, and the writer's only one is the transaction's.
func (s *stmts) get(ctx context.Context, query string, inTx bool) *sql.Stmt {
	s.mu.RLock()
	st, full := s.m[query], len(s.m) >= maxStmts
	s.mu.RUnlock()
	if st != nil || full {
		return st
	}
	if inTx {
		s.mu.Lock()
		if len(s.want) < maxStmts {
			s.want[query] = true
		}
		s.mu.Unlock()
		return nil
	}
	return s.prepare(ctx, query)
}

// prepare prepares query and keeps it. The lock is not held while
// preparing: that waits for a connection, which a transaction may hold
// while it looks up its own statements.
func (s *stmts) prepare(ctx context.Context, query string) *sql.Stmt {
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.want, query)
	if old := s.m[query]; old != nil || len(s.m) >= maxStmts {
		_ = st.Close()
		return old
	}
	s.m[query] = st
	return st
}

// prepareWanted prepares the statements missed inside transactions; called
// before a transaction begins, holding no connection.
func (s *stmts) prepareWanted(ctx context.Context) {
	s.mu.RLock()
	n := len(s.want)
	s.mu.RUnlock()
	if n == 0 {
		return
	}
	s.mu.Lock()
	qs := make([]string, 0, len(s.want))
	for q := range s.want {
		qs = append(qs, q)
	}
	clear(s.want)
	s.mu.Unlock()
	for _, q := range qs {
		s.prepare(ctx, q)
	}
}

func (d driver) Write(ctx context.Context, fn func(sqlstore.Q) error) error {
	return inTx(ctx, d.writer, fn)
}

func (d driver) Read(ctx context.Context, fn func(sqlstore.Q) error) error {
	return inTx(ctx, d.reader, fn)
}

// Auto runs fn's statements, a write of its own (an outbox Put, Claim,
// Update or Release), in a group commit: concurrent callers' writes share
// one transaction on the writer (alone, fn still runs in a transaction:
// its statements commit together), each inside a savepoint so one failing
// leaves the others, and every caller returns once that transaction committed
// (as durable as a transaction of its own, see Open's synchronous
// setting). One commit for several writes saves SQLite writing the pages
// they share (the outbox's indexes) to the WAL once per write.
func (d driver) Auto(ctx context.Context, fn func(sqlstore.Q) error) error {
	return d.group.run(ctx, d.writer, fn)
}

// AutoAtomic reports that Auto runs all of fn's statements in one
// transaction (alone or in a group).
func (driver) AutoAtomic() bool { return true }

// group is the group commit of Auto: the first caller while none runs
// becomes the leader and commits every write queued meanwhile, batch after
// batch, until the queue is empty.
type group struct {
	mu      sync.Mutex
	queue   []*groupOp
	leading bool
}

type groupOp struct {
	ctx  context.Context
	fn   func(sqlstore.Q) error
	err  error
	done chan struct{}
}

// maxGroup caps the writes of one group commit.
const maxGroup = 64

func (g *group) run(ctx context.Context, db *stmts, fn func(sqlstore.Q) error) error {
	op := &groupOp{ctx: ctx, fn: fn, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, op)
	if g.leading {
		g.mu.Unlock()
		<-op.done
		return op.err
	}
	g.leading = true
	for {
		n := min(len(g.queue), maxGroup)
		ops := g.queue[:n:n]
		g.queue = g.queue[n:]
		g.mu.Unlock()
		commitGroup(db, ops)
		g.mu.Lock()
		if len(g.queue) == 0 {
			g.leading = false
			g.mu.Unlock()
			break
		}
	}
	<-op.done
	return op.err
}

// commitGroup runs ops in one transaction, each in a savepoint, and
// closes their done channels once it committed (or failed).
func commitGroup(db *stmts, ops []*groupOp) {
	finish := func(err error) {
		for _, op := range ops {
			if op.err == nil {
				op.err = err
			}
			close(op.done)
		}
	}
	ctx := context.WithoutCancel(ops[0].ctx)
	if len(ops) == 1 { // nobody to share with: the write on its own
		op := ops[0]
		if op.err = op.ctx.Err(); op.err == nil {
			op.err = inTx(op.ctx, db, op.fn) // its statements commit together
		}
		close(op.done)
		return
	}
	db.prepareWanted(ctx)
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		finish(err)
		return
	}
	q := txQ{tx, db}
	for _, op := range ops {
		if op.err = op.ctx.Err(); op.err != nil {
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT correio_group"); err != nil {
			_ = tx.Rollback()
			finish(err)
			return
		}
		op.err = op.fn(q)
		ends := []string{"RELEASE SAVEPOINT correio_group"}
		if op.err != nil { // undo this write only
			ends = []string{"ROLLBACK TO SAVEPOINT correio_group", "RELEASE SAVEPOINT correio_group"}
		}
		for _, end := range ends {
			if _, err := tx.ExecContext(ctx, end); err != nil {
				_ = tx.Rollback()
				finish(err)
				return
			}
		}
	}
	err = tx.Commit()
	if err != nil {
		for _, op := range ops { // nothing of the group was written
			op.err = err
		}
	}
	finish(nil)
}

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

func inTx(ctx context.Context, db *stmts, fn func(sqlstore.Q) error) error {
	db.prepareWanted(ctx)
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(txQ{tx, db}); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// txQ adapts *sql.Tx to sqlstore.Q, with the database's prepared
// statements (Tx.StmtContext reuses a statement already prepared on the
// transaction's connection).
type txQ struct {
	tx *sql.Tx
	db *stmts
}

// stmt returns query's prepared statement bound to the transaction, nil
// when it is not cached; close it after use.
func (q txQ) stmt(ctx context.Context, query string) *sql.Stmt {
	if st := q.db.get(ctx, query, true); st != nil {
		return q.tx.StmtContext(ctx, st)
	}
	return nil
}

func (q txQ) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	var res sql.Result
	var err error
	if st := q.stmt(ctx, query); st != nil {
		res, err = st.ExecContext(ctx, args...)
		_ = st.Close()
	} else {
		res, err = q.tx.ExecContext(ctx, query, args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q txQ) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	var rows *sql.Rows
	var err error
	if st := q.stmt(ctx, query); st != nil {
		rows, err = st.QueryContext(ctx, args...)
		if err != nil {
			_ = st.Close()
			return nil, err
		}
		return sqlRows{rows, st}, nil
	}
	rows, err = q.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows, nil}, nil
}

func (q txQ) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Scanner {
	if st := q.stmt(ctx, query); st != nil {
		return closingRow{st.QueryRowContext(ctx, args...), st}
	}
	return q.tx.QueryRowContext(ctx, query, args...)
}

// closingRow closes its transaction-bound statement once scanned.
type closingRow struct {
	row *sql.Row
	st  *sql.Stmt
}

func (r closingRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	_ = r.st.Close()
	return err
}

// sqlRows is a result set, with the transaction-bound statement to close
// after it (nil for none).
type sqlRows struct {
	*sql.Rows
	st *sql.Stmt
}

func (r sqlRows) Close() {
	_ = r.Rows.Close()
	if r.st != nil {
		_ = r.st.Close()
	}
}

// dbQ runs statements outside a transaction (each its own), prepared.
type dbQ struct{ db *stmts }

func (q dbQ) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	var res sql.Result
	var err error
	if st := q.db.get(ctx, query, false); st != nil {
		res, err = st.ExecContext(ctx, args...)
	} else {
		res, err = q.db.db.ExecContext(ctx, query, args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q dbQ) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	var rows *sql.Rows
	var err error
	if st := q.db.get(ctx, query, false); st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = q.db.db.QueryContext(ctx, query, args...)
	}
	if err != nil {
		return nil, err
	}
	return sqlRows{rows, nil}, nil
}

func (q dbQ) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Scanner {
	if st := q.db.get(ctx, query, false); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return q.db.db.QueryRowContext(ctx, query, args...)
}
