package store

import (
	"context"
	"time"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/routing"
)

// OutboxState is the state of an outbox record.
type OutboxState int

const (
	// Queued records wait for their NextAttempt.
	Queued OutboxState = iota + 1
	// Sent records were accepted by the server for every recipient that
	// was not refused or suppressed.
	Sent
	// Dead records will not be tried again; Reason says why.
	Dead
)

// String returns "queued", "sent" or "dead".
func (s OutboxState) String() string {
	switch s {
	case Queued:
		return "queued"
	case Sent:
		return "sent"
	case Dead:
		return "dead"
	}
	return "unknown"
}

// RecipientState is where one recipient of a record stands.
type RecipientState int

const (
	// Pending recipients still have to be sent to.
	Pending RecipientState = iota
	// Delivered recipients were accepted by the server.
	Delivered
	// Refused recipients were refused permanently (or for too long).
	Refused
	// Suppressed recipients were skipped by the suppression list.
	Suppressed
)

// String returns "pending", "delivered", "refused" or "suppressed".
func (s RecipientState) String() string {
	if s < Pending || s > Suppressed {
		return "unknown"
	}
	return [...]string{"pending", "delivered", "refused", "suppressed"}[s]
}

// RecipientStatus is one recipient of a record and its fate.
type RecipientStatus struct {
	Address Address
	Kind    RecipientKind
	State   RecipientState
	// Reason explains Refused and Suppressed (the server's reply).
	Reason string
}

// OutboxRecord is one message in the outbox: the content enqueued, the
// Message-ID fixed at enqueue, the routing decision and the delivery state.
type OutboxRecord struct {
	// ID is the outbox key, chosen by the Sender at enqueue.
	ID string
	// MessageID is the Message-ID (without angle brackets), fixed at
	// enqueue and kept across retries.
	MessageID string
	// Mailbox sends the record.
	Mailbox mailbox.ID
	// Message is the content as enqueued.
	Message Message
	// Recipients with their per-recipient state.
	Recipients []RecipientStatus
	State      OutboxState
	// Attempts counts the send attempts made so far.
	Attempts   int
	EnqueuedAt time.Time
	// NextAttempt is when a Queued record is due.
	NextAttempt time.Time
	// LastError is the last failure, redacted (no secrets).
	LastError string
	// Reason says why a Dead record died.
	Reason string
	// Rule and DecisionReason record why the record goes out through
	// Mailbox (the resolver's decision, or the failover).
	Rule           routing.Rule
	DecisionReason string
	// Contract is the contract the message was sent for, if any.
	Contract contract.ID
	// ClaimToken and ClaimedUntil are set while a worker holds the record.
	ClaimToken   string
	ClaimedUntil time.Time
}

// Pending returns the recipients still to send to.
func (r *OutboxRecord) Pending() []RecipientStatus {
	var out []RecipientStatus
	for _, rc := range r.Recipients {
		if rc.State == Pending {
			out = append(out, rc)
		}
	}
	return out
}

// Claim asks for due records of one mailbox.
type Claim struct {
	Mailbox mailbox.ID
	// Now is the claim time: records with NextAttempt <= Now that are
	// unclaimed or whose claim expired are due.
	Now time.Time
	// Lease is how long the claim holds.
	Lease time.Duration
	// Max records to claim (0: no cap), ordered by NextAttempt, then
	// EnqueuedAt, then ID.
	Max int
	// Token marks the claimed records; later updates present it.
	Token string
}

// QueueStats describe the queued records of a mailbox.
type QueueStats struct {
	// Depth counts Queued records (claimed ones included).
	Depth int
	// Oldest is the EnqueuedAt of the oldest Queued record.
	Oldest time.Time
}

// Due is a mailbox with records due now.
type Due struct {
	Mailbox mailbox.ID
	Count   int
}

// OutboxFilter selects records for Outbox.List; zero fields match all.
type OutboxFilter struct {
	Mailbox mailbox.ID
	State   OutboxState
	// Limit caps the result (0: no cap).
	Limit int
}

// Outbox stores outbound messages durably. Put returns only once the
// record is durable. Updates name the claim token the record was claimed
// with, and fail with ErrClaimLost when it no longer holds it, so a worker
// whose lease expired cannot overwrite the work of another. An unknown
// record ID wraps ErrNotFound.
//
// store/memory.Outbox keeps records in memory; the SQL stores implement
// the same contract (a claim is an UPDATE ... RETURNING, with FOR UPDATE
// SKIP LOCKED on Postgres).
type Outbox interface {
	// Put stores a new record. Attachments are made durable too (the
	// record later handed out reopens them from the store).
	Put(ctx context.Context, r *OutboxRecord) error
	// Claim marks up to c.Max due records of c.Mailbox with c.Token until
	// c.Now+c.Lease and returns them.
	Claim(ctx context.Context, c Claim) ([]*OutboxRecord, error)
	// Update saves a claimed record's new state (Sent, Dead, or Queued
	// with a new NextAttempt), its recipients, attempts and errors, its
	// routing (a failover's new Mailbox and Message-ID), and ends the
	// claim. The content stays the one Put stored: Update never changes
	// the Message's Text, HTML or attachments.
	Update(ctx context.Context, r *OutboxRecord, token string) error
	// Release ends a claim without any change: the record is due again at
	// once (claimed but not sent).
	Release(ctx context.Context, id, token string) error
	// ReleaseStale ends every claim that expired before now; the Sender
	// calls it on start. It returns how many were released.
	ReleaseStale(ctx context.Context, now time.Time) (int, error)
	// Due lists the mailboxes with records due at now, and the earliest
	// NextAttempt (or claim expiry) after now, zero when none.
	Due(ctx context.Context, now time.Time) ([]Due, time.Time, error)
	// Stats returns the queue figures of a mailbox.
	Stats(ctx context.Context, mb mailbox.ID) (QueueStats, error)
	// Get returns a record by ID.
	Get(ctx context.Context, id string) (*OutboxRecord, error)
	// List returns the records matching f, oldest first (an
	// administrator's view of the queue and of dead messages).
	List(ctx context.Context, f OutboxFilter) ([]*OutboxRecord, error)
	// Reschedule makes a Queued record due at at (an administrator's
	// "retry now" passes the current time). It fails with ErrClaimed
	// while a Sender holds the record (being sent: the claim, live or
	// expired, is checked in the same atomic write, so it never races a
	// claim), with ErrNotQueued when it is no longer queued, and wraps
	// ErrNotFound for an unknown ID.
	Reschedule(ctx context.Context, id string, at time.Time) error
	// Cancel ends a Queued record for good: it becomes Dead with reason
	// (prefixed "cancelled: "), its pending recipients Refused. The same
	// errors as Reschedule: a record being sent cannot be cancelled
	// mid-send (ErrClaimed).
	Cancel(ctx context.Context, id, reason string) error
}

// CancelReason is the prefix of a cancelled record's Reason.
const CancelReason = "cancelled: "

// CancelRecord applies a cancellation to r (a Queued record): Dead with
// CancelReason+reason, its pending recipients Refused. Stores use it so
// that a cancelled record reads the same in every store.
func CancelRecord(r *OutboxRecord, reason string) {
	r.State = Dead
	r.Reason = CancelReason + reason
	for i := range r.Recipients {
		if r.Recipients[i].State == Pending {
			r.Recipients[i].State, r.Recipients[i].Reason = Refused, r.Reason
		}
	}
}

// Suppressions is the list of recipients not to send to (hard bounces,
// complaints). The Sender consults it at enqueue and adds recipients the
// server refused permanently.
type Suppressions interface {
	// Suppressed reports whether address is on the list and why.
	Suppressed(ctx context.Context, address string) (reason string, ok bool, err error)
	// Suppress adds address with a reason.
	Suppress(ctx context.Context, address, reason string) error
}
