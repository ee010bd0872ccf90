// Package store holds the contracts between correio's engines and the
// stores that keep their state, in the way database/sql/driver sits between
// database/sql and its drivers: the engines (inbound, outbound) and every
// store (store/memory, store/sqlstore with its drivers store/sqlite and
// store/postgres, a host's own) import this package, and no store imports
// an engine or a mail client.
//
// The contracts are small interfaces, each implemented on its own:
//
//   - [Inbound]: the inbound poller's checkpoints, the keys of handled
//     messages (scoped per mailbox) and quarantined messages;
//   - [Leaser]: fencing tokens when several replicas share a store;
//   - [Outbox]: the durable outbox of [OutboxRecord]s with claims, and
//     [Suppressions], the list of recipients not to send to;
//   - [Catalog]: the write side of the mailbox and contract catalog (the
//     read side is routing.Catalog).
//
// Every store wraps the one [ErrNotFound] for what it does not know (a
// mailbox, a contract, an outbox record, a quarantined message), so callers
// and store/storetest test errors with errors.Is against this package's
// sentinels whatever the store.
package store

import "errors"

// Errors shared by every store; stores wrap them with detail, so compare
// with errors.Is.
var (
	// ErrNotFound is returned for an unknown mailbox, contract, outbox
	// record or quarantined message.
	ErrNotFound = errors.New("store: not found")
	// ErrFenced is returned when a write carries a fencing token older than
	// one the store has already seen for the mailbox: another replica owns
	// the mailbox now.
	ErrFenced = errors.New("store: stale fencing token (lease lost)")
	// ErrClaimLost is returned when an outbox record's claim expired and
	// another worker took it, or it is no longer claimed with that token.
	ErrClaimLost = errors.New("store: claim lost")
	// ErrClaimed is returned by Outbox.Reschedule and Outbox.Cancel for a
	// record a Sender holds right now (it is being sent): it cannot be
	// changed mid-send; look at it again once the send's outcome is stored.
	ErrClaimed = errors.New("store: outbox record is being sent")
	// ErrNotQueued is returned by Outbox.Reschedule and Outbox.Cancel for
	// a record that is no longer queued (sent, dead or cancelled).
	ErrNotQueued = errors.New("store: outbox record is not queued")
)
