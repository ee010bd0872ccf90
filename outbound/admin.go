package outbound

import (
	"context"
	"fmt"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/mailbox"
)

// Administrators' actions on a running Sender: retry a queued message now
// or cancel it, pause and resume a mailbox, check it now (CheckNow, in
// attention.go).

// RetryNow makes queued record id due now and wakes the Sender. A record
// being sent right now is not touched: the error wraps store.ErrClaimed
// (its outcome is stored in a moment; look again). A record no longer
// queued wraps store.ErrNotQueued, an unknown one store.ErrNotFound. The
// mailbox's own hold still applies (a mailbox in auth_failed waits for
// its next login; CheckNow tries it at once).
func (s *Sender) RetryNow(ctx context.Context, id string) error {
	if err := s.o.Outbox.Reschedule(ctx, id, s.clk.Now()); err != nil {
		return fmt.Errorf("outbound: retry %q: %w", id, err)
	}
	s.signal()
	return nil
}

// Cancel ends queued record id for good: it is Dead with reason (prefixed
// store.CancelReason), its pending recipients are not sent to, and an
// EventCancelled goes out. A record being sent right now cannot be
// cancelled mid-send: the error wraps store.ErrClaimed and the send goes
// on. Other errors as RetryNow.
func (s *Sender) Cancel(ctx context.Context, id, reason string) error {
	if err := s.o.Outbox.Cancel(ctx, id, reason); err != nil {
		return fmt.Errorf("outbound: cancel %q: %w", id, err)
	}
	r, err := s.o.Outbox.Get(ctx, id)
	if err != nil {
		return nil // cancelled; the event is only informative
	}
	var to []string
	for _, rc := range r.Recipients {
		if rc.Reason == r.Reason {
			to = append(to, rc.Address.Address)
		}
	}
	s.emit(Event{Kind: EventCancelled, ID: r.ID, MessageID: r.MessageID, Mailbox: r.Mailbox, Recipients: to, Attempt: r.Attempts,
		Reason: r.Reason, Rule: r.Rule, Decision: r.DecisionReason})
	return nil
}

// Pause stops sending through mailbox id until Resume: no batch starts
// (the ones in flight finish), its mail stays queued, and Health says
// engine.StatePaused. The pause survives Reload and catalog changes; a
// host that keeps its pauses calls Pause for each before Start. An id the
// catalog does not have as an outbound mailbox is engine.ErrUnknownMailbox.
func (s *Sender) Pause(_ context.Context, id mailbox.ID) error {
	if m, ok := s.o.Catalog.Mailbox(id); !ok || m == nil || m.Kind != mailbox.Outbound {
		return fmt.Errorf("outbound: mailbox %q: %w", id, engine.ErrUnknownMailbox)
	}
	s.mu.Lock()
	s.box(id).paused = true
	s.mu.Unlock()
	return nil
}

// Resume ends Pause: the mailbox's due mail goes out at once.
func (s *Sender) Resume(_ context.Context, id mailbox.ID) error {
	s.mu.Lock()
	st := s.boxes[id]
	if st != nil {
		st.paused = false
	}
	s.mu.Unlock()
	if st == nil {
		if m, ok := s.o.Catalog.Mailbox(id); !ok || m == nil || m.Kind != mailbox.Outbound {
			return fmt.Errorf("outbound: mailbox %q: %w", id, engine.ErrUnknownMailbox)
		}
	}
	s.signal()
	return nil
}
