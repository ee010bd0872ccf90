// Package sqlstore is correio's SQL store, written once over a small
// dialect driver: the catalog (store.Catalog, with its cached snapshot for
// the resolver), the inbound poller's state (store.Inbound), the outbox and
// its index of sent messages (store.Outbox, threading.SentIndex), the
// suppression list (store.Suppressions), the OAuth2 grants (store.Tokens), per-contract queries, retention and
// erasure, and the linking of bounces.
//
// A Driver supplies the database: its transactions, the classification of
// its errors and, as optional interfaces, what only some databases can do
// (LeaseChecker, ClaimLocker, EnqueueNotifier, HostTxer, CatalogNotifier,
// Autocommitter), in the way database/sql/driver serves database/sql. The
// drivers keep their schema: store/sqlite (embedded, one file) and
// store/postgres (several replicas, leases, the host's transactions) each
// apply their migrations, build their Driver and return a Store that embeds
// *sqlstore.Store with their own extras. A new SQL database is a new driver
// package: a Driver, its migrations of the schema in store/SCHEMA.md, and a
// test that runs store/storetest against it.
package sqlstore

import (
	"context"

	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/secrets"
	"github.com/correio-dev/correio/threading"
)

// Options configure New. The zero value works for a store without secrets.
type Options struct {
	// Secrets seals passwords and refresh tokens (a *secrets.Keyring or
	// secrets.References). Without it a mailbox with a password is refused
	// with secrets.ErrNoCodec.
	Secrets secrets.Codec
	// TokenSources builds the OAuth2 token source of mailboxes saved with
	// one, from the stored refresh token. Without it such mailboxes get a
	// token source that fails with ErrNoTokenSource.
	TokenSources TokenSources
}

// Store is a SQL database holding correio's catalog and the engines' state.
type Store struct {
	*db
	cat *Catalog
	in  *Inbound
	out *Outbox
	sup *Suppressions
	tok *Tokens
	st  *TransportState
}

// db is the driver with its optional capabilities, found once by New.
type db struct {
	drv       Driver
	ac        Autocommitter
	ar        AutoReader
	lease     LeaseChecker
	enqueue   EnqueueNotifier
	hostTx    HostTxer
	claimLock string // " FOR UPDATE SKIP LOCKED" or ""
	// atomicAuto: ac runs all of fn's statements in one transaction
	// (AtomicAutocommitter).
	atomicAuto bool
}

func (d *db) write(ctx context.Context, fn func(Q) error) error { return d.drv.Write(ctx, fn) }
func (d *db) read(ctx context.Context, fn func(Q) error) error  { return d.drv.Read(ctx, fn) }
func (d *db) noRows(err error) bool                             { return d.drv.NoRows(err) }

// auto runs a write of one statement in its own implicit transaction when
// the driver can, else in a transaction.
func (d *db) auto(ctx context.Context, fn func(Q) error) error {
	if d.ac != nil {
		return d.ac.Auto(ctx, fn)
	}
	return d.drv.Write(ctx, fn)
}

// autoTx runs a write of several statements that must commit together:
// through Auto when the driver's Auto is one transaction (a group commit
// shared with other writers), else in a transaction of its own.
func (d *db) autoTx(ctx context.Context, fn func(Q) error) error {
	if d.atomicAuto {
		return d.ac.Auto(ctx, fn)
	}
	return d.drv.Write(ctx, fn)
}

// readOne runs a read of one statement outside an explicit transaction
// when the driver can (no BEGIN/COMMIT round trips), else in a read
// transaction.
func (d *db) readOne(ctx context.Context, fn func(Q) error) error {
	if d.ar != nil {
		return d.ar.ReadAuto(ctx, fn)
	}
	return d.drv.Read(ctx, fn)
}

// New builds the store over drv, whose database already has the schema,
// and loads the catalog's snapshot.
func New(ctx context.Context, drv Driver, opts Options) (*Store, error) {
	d := &db{drv: drv}
	d.ac, _ = drv.(Autocommitter)
	if a, ok := drv.(AtomicAutocommitter); ok && a.AutoAtomic() {
		d.atomicAuto = true
	}
	d.ar, _ = drv.(AutoReader)
	d.lease, _ = drv.(LeaseChecker)
	d.enqueue, _ = drv.(EnqueueNotifier)
	d.hostTx, _ = drv.(HostTxer)
	if l, ok := drv.(ClaimLocker); ok && l.ClaimLock() != "" {
		d.claimLock = " " + l.ClaimLock()
	}
	cat := &Catalog{drv: drv, codec: opts.Secrets, tokens: opts.TokenSources}
	cat.notify, _ = drv.(CatalogNotifier)
	if err := cat.Refresh(ctx); err != nil {
		return nil, err
	}
	return &Store{db: d, cat: cat, in: &Inbound{d}, out: &Outbox{d}, sup: &Suppressions{d}, tok: &Tokens{db: d, codec: opts.Secrets}, st: &TransportState{d}}, nil
}

// Catalog returns the mailbox and contract catalog.
func (s *Store) Catalog() *Catalog { return s.cat }

// Inbound returns the inbound poller's store.
func (s *Store) Inbound() *Inbound { return s.in }

// Outbox returns the outbound sender's outbox.
func (s *Store) Outbox() *Outbox { return s.out }

// Suppressions returns the suppression list.
func (s *Store) Suppressions() *Suppressions { return s.sup }

// TransportState returns the transports' per-mailbox records.
func (s *Store) TransportState() *TransportState { return s.st }

// Inbound implements store.Inbound: checkpoints, handled keys (scoped per
// mailbox) and quarantined messages, durably. A checkpoint and its key
// commit in one transaction; a write whose fencing token is lower than the
// highest seen for the mailbox (or, with leases, not the lease's current
// one) fails with store.ErrFenced.
type Inbound struct{ *db }

// Outbox implements store.Outbox and threading.SentIndex durably.
// Attachments are stored with the record at Put and read back from the
// database on every send attempt.
type Outbox struct{ *db }

// Suppressions implements store.Suppressions (addresses compared in lower
// case).
type Suppressions struct{ *db }

var (
	_ store.Inbound        = (*Inbound)(nil)
	_ store.BatchCommitter = (*Inbound)(nil)
	_ store.Outbox         = (*Outbox)(nil)
	_ threading.SentIndex  = (*Outbox)(nil)
	_ store.Suppressions   = (*Suppressions)(nil)
)
