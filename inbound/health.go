package inbound

import (
	"time"

	"github.com/correio-dev/correio/mailbox"
)

// State is where a mailbox's worker is.
type State string

// States of a mailbox.
const (
	StateStarting   State = "starting"
	StateConnecting State = "connecting"
	// StateQueued: waiting for a connection slot (MaxConnections or
	// MaxConnectionsPerHost reached). Sessions hold their slot while they
	// wait for mail (IDLE or poll), so size the caps to the mailboxes that
	// must run at once.
	StateQueued State = "queued"
	// StateWaiting: connected, waiting for new mail (IDLE or poll).
	StateWaiting State = "waiting"
	// StateFetching: fetching and handing messages off.
	StateFetching State = "fetching"
	// StateRetrying: the last attempt failed; retrying after a backoff.
	StateRetrying State = "retrying"
	// StateDown: the circuit breaker is open after repeated failures.
	StateDown State = "down"
	// StatePaused: the host's handler failed temporarily; the same message
	// is retried after a backoff.
	StatePaused   State = "paused"
	StateDisabled State = "disabled"
	StateStopped  State = "stopped"
)

// Health is the state of one mailbox.
type Health struct {
	Mailbox mailbox.ID
	State   State
	// Since is when the mailbox entered State.
	Since time.Time
	// LastSuccess is the last time a connection, a fetch or a hand-off
	// succeeded.
	LastSuccess time.Time
	// LastError is the last failure, without secrets; empty after a success.
	LastError           string
	LastErrorAt         time.Time
	ConsecutiveFailures int
	// Handled, Quarantined and Duplicates count messages since the mailbox
	// was added to this poller.
	Handled, Quarantined, Duplicates int64
	// Lag is the age of the oldest message seen on the server and not yet
	// handed off (zero when none waits).
	Lag time.Duration
	// Idle is true when the session waits with IMAP IDLE.
	Idle bool
}

// Event is a health change, delivered to Options.OnEvent.
type Event struct {
	Health Health
	// Err is the failure that caused the change, if any (redacted).
	Err string
}
