package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/correio-dev/correio/mailbox"
)

// Q runs statements, inside a transaction or on a connection pool. The
// Store writes its SQL with ? placeholders; a driver whose database numbers
// them ($1, $2, ...) rewrites them with Rebind.
type Q interface {
	// Exec runs a statement and returns the number of rows it affected.
	Exec(ctx context.Context, sql string, args ...any) (int64, error)
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) Scanner
}

// Rows is a result set.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Scanner is one row.
type Scanner interface{ Scan(dest ...any) error }

// Constraint is the kind of integrity violation a database reported.
type Constraint int

// Violations a Driver reports.
const (
	NoViolation Constraint = iota
	Unique
	ForeignKey
	Check
)

// Driver is what one SQL database gives the Store, in the way a
// database/sql/driver.Driver serves database/sql: its transactions and the
// classification of its errors. The schema (store/SCHEMA.md) is the
// driver's: it keeps and applies its migrations before calling New.
//
// What only some databases can do is an optional interface the Driver may
// also implement (the database/sql/driver pattern), each a capability the
// Store uses when present: Autocommitter, AtomicAutocommitter, AutoReader,
// CatalogNotifier, ClaimLocker, LeaseChecker, EnqueueNotifier and HostTxer.
// store/sqlite implements Autocommitter, AtomicAutocommitter and
// AutoReader; store/postgres all but AtomicAutocommitter.
type Driver interface {
	// Write runs fn in a writing transaction. Catalog writes are serialized
	// by the version row every write updates first.
	Write(ctx context.Context, fn func(Q) error) error
	// Read runs fn in a transaction that sees one consistent state.
	Read(ctx context.Context, fn func(Q) error) error
	// NoRows reports the "no rows" error of QueryRow(...).Scan.
	NoRows(err error) bool
	// Violation classifies a constraint error (NoViolation for any other).
	Violation(err error) Constraint
}

// Autocommitter runs statements outside an explicit transaction, each in
// its own implicit one: the Store uses it for writes of one statement (no
// BEGIN/COMMIT round trips). Without it those writes go through Write.
type Autocommitter interface {
	Auto(ctx context.Context, fn func(Q) error) error
}

// AtomicAutocommitter is an Autocommitter whose Auto runs all of fn's
// statements in one transaction, alone or shared with concurrent callers
// (store/sqlite's group commit): when AutoAtomic reports true the Store
// also uses Auto for writes of several statements that must commit
// together (an outbox Put: the record and its body; a claim). Without it
// those writes go through Write.
type AtomicAutocommitter interface {
	Autocommitter
	AutoAtomic() bool
}

// AutoReader runs a read of one statement outside an explicit
// transaction (a statement sees one consistent state on its own): the
// Store uses it for its per-message lookups (Inbound.Done). Without it
// those reads go through Read.
type AutoReader interface {
	ReadAuto(ctx context.Context, fn func(Q) error) error
}

// CatalogNotifier tells other processes that the catalog changed: the
// Store calls CatalogChanged inside the writing transaction after it bumped
// the version (store/postgres sends a NOTIFY its watchers LISTEN to).
type CatalogNotifier interface {
	CatalogChanged(ctx context.Context, q Q, version int64) error
}

// ClaimLocker names the row-locking clause of an outbox claim's inner
// SELECT ("FOR UPDATE SKIP LOCKED" on Postgres, so concurrent claimers skip
// each other's rows instead of waiting or claiming them twice). Without it
// the claim relies on the database having one writer (SQLite).
type ClaimLocker interface {
	ClaimLock() string
}

// LeaseChecker checks a fencing token against the database's own leases
// inside q's transaction, before the Store's check that the token is not
// older than one already seen for the mailbox. It returns an error
// wrapping store.ErrFenced when the token is not the lease's current one
// (store/postgres: the correio_leases row, read FOR SHARE).
type LeaseChecker interface {
	CheckLease(ctx context.Context, q Q, mb mailbox.ID, token int64) error
}

// EnqueueNotifier announces a Queued outbox record when its transaction
// commits: NotifyEnqueue returns the INSERT statement of the record's row
// rewritten to also notify listeners, with its arguments (store/postgres:
// pg_notify in the same statement).
type EnqueueNotifier interface {
	NotifyEnqueue(insert string, args []any) (string, []any)
}

// HostTxer finds a transaction of the host carried by ctx: Outbox.Put then
// writes the record inside it (the transactional outbox; store/postgres's
// WithTx). HostTx returns nil when ctx carries none.
type HostTxer interface {
	HostTx(ctx context.Context) Q
}

// Rebind rewrites ? placeholders to $1, $2, ... for drivers whose database
// numbers its parameters.
func Rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}
