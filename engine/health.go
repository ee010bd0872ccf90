package engine

import (
	"errors"
	"time"

	"github.com/correio-dev/correio/mailbox"
)

// ErrStarted is returned by Start when the engine was already started.
var ErrStarted = errors.New("engine: already started")

// ErrUnknownMailbox is returned by Health for a mailbox the engine does not
// run (not in its catalog, not of its kind, or not assigned to it).
var ErrUnknownMailbox = errors.New("engine: unknown mailbox")

// State is where a mailbox is, in one vocabulary for both engines. Each
// engine uses the states that apply to it (the table in README's
// "Health" section).
type State string

// States of a mailbox.
const (
	// StateStarting: known to the engine, not tried yet.
	StateStarting State = "starting"
	// StateIdle: an outbound mailbox with nothing tried yet (no mail sent
	// through it since the engine started).
	StateIdle State = "idle"
	// StateConnecting: opening a session.
	StateConnecting State = "connecting"
	// StateQueued: waiting for a connection slot (the engine's connection
	// budget, global or per server host).
	StateQueued State = "queued"
	// StateWaiting: healthy and waiting: an inbound mailbox connected and
	// waiting for new mail (push or poll); an outbound mailbox whose last
	// attempt succeeded, with nothing in flight.
	StateWaiting State = "waiting"
	// StateFetching: an inbound mailbox fetching and handing messages off.
	StateFetching State = "fetching"
	// StateSending: an outbound mailbox whose last attempt succeeded,
	// sending now.
	StateSending State = "sending"
	// StateRetrying: the last attempt failed; retried after a backoff
	// (the circuit breaker is still closed).
	StateRetrying State = "retrying"
	// StateDown: the circuit breaker is open after repeated failures; the
	// mailbox is probed again later.
	StateDown State = "down"
	// StatePaused: the host's handler failed temporarily (the same message
	// is retried after a backoff), or an administrator paused the mailbox
	// (LastError says so; it stays paused until resumed).
	StatePaused State = "paused"
	// StateAuthFailed: the server refused the credentials; the engine
	// waits for new credentials rather than locking the account.
	StateAuthFailed State = "auth_failed"
	// StateReauthRequired: the OAuth2 grant is gone (revoked, expired
	// refresh token); an administrator must authorise the mailbox again.
	StateReauthRequired State = "reauth_required"
	// StateOverBudget: the mailbox is not checked within its bound because
	// the connection budget is exhausted.
	StateOverBudget State = "over_budget"
	// StateDisabled: the mailbox is disabled in the catalog.
	StateDisabled State = "disabled"
	// StateStopped: the engine stopped.
	StateStopped State = "stopped"
)

// Failing reports whether s is a state an operator should look at.
func (s State) Failing() bool {
	switch s {
	case StateRetrying, StateDown, StatePaused, StateAuthFailed, StateReauthRequired, StateOverBudget:
		return true
	}
	return false
}

// Mode is how an inbound mailbox is checked for new mail.
type Mode string

// Modes of an inbound mailbox.
const (
	// ModePush: a kept session the server tells about new mail (IMAP
	// IDLE).
	ModePush Mode = "push"
	// ModePolling: a kept session checked every poll interval.
	ModePolling Mode = "polling"
	// ModeRotating: beyond the connection budget, the mailbox takes its
	// turn in a fair rotation of short sessions (connect, check, fetch,
	// hand off, log out), each releasing its connection slot.
	ModeRotating Mode = "rotating"
)

// Health is the state of one mailbox in an engine. The fields of the
// other direction stay zero (an inbound mailbox has no queue, an
// outbound one hands nothing off).
type Health struct {
	Mailbox mailbox.ID
	Kind    mailbox.Kind
	State   State
	// Since is when the mailbox entered State (zero where the engine
	// derives State on demand).
	Since time.Time
	// LastSuccess is the last time a connection, a fetch, a hand-off or a
	// send succeeded.
	LastSuccess time.Time
	// LastError is the last failure, classified and without secrets;
	// LastErrorAt is when it happened.
	LastError   string
	LastErrorAt time.Time
	// DownSince is the first failure since the last success.
	DownSince           time.Time
	ConsecutiveFailures int
	// Hint says what a person should do, set while the mailbox is in a
	// state only a person can end (NeedsPerson): authentication failed,
	// re-authorisation required, down, over budget. Empty otherwise.
	Hint string

	// Inbound: messages handed off, quarantined and skipped as duplicates
	// since the engine started; Lag is the age of the oldest message seen
	// on the server and not yet handed off; Push is true while the session
	// waits for the server to push new mail (IMAP IDLE).
	Handled, Quarantined, Duplicates int64
	Lag                              time.Duration
	Push                             bool
	// Inbound: Mode is how the mailbox is checked (push, polling, or
	// rotating through short sessions beyond the connection budget);
	// LastCheck is when the mailbox was last checked for new mail and
	// NextCheck when it will be at the latest (zero while unknown). A
	// mailbox not checked within its bound is StateOverBudget.
	Mode      Mode
	LastCheck time.Time
	NextCheck time.Time

	// Outbound: QueueDepth counts queued messages, OldestQueued is the
	// age of the oldest, Active the batches in flight.
	QueueDepth   int
	OldestQueued time.Duration
	Active       int
}
