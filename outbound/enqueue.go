package outbound

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store"
)

// Enqueue validates msg, fixes its Message-ID on the sending mailbox's
// domain, applies the suppression list, tags the subject with the thread
// token, and stores it in the Outbox. It returns the record ID once the
// message is durable. A CR or LF in any header value is an *InputError
// wrapping workflow.ErrHeaderInjection.
func (s *Sender) Enqueue(ctx context.Context, msg store.Message) (string, error) {
	if err := validate(&msg); err != nil {
		return "", err
	}
	mb, ok := s.o.Catalog.Mailbox(msg.Mailbox)
	if !ok || mb.Kind != mailbox.Outbound || mb.Outbound == nil {
		return "", &InputError{Field: "mailbox", Err: fmt.Errorf("%w: %q", routing.ErrNotOutbound, msg.Mailbox)}
	}
	if msg.Thread != "" {
		tagged, err := s.o.Tokens.Tag(msg.Subject, msg.Thread)
		if err != nil {
			return "", &InputError{Field: "thread", Err: err}
		}
		msg.Subject = tagged
	}
	msg.To = slices.Clone(msg.To)
	msg.Cc = slices.Clone(msg.Cc)
	msg.Bcc = slices.Clone(msg.Bcc)
	msg.References = slices.Clone(msg.References)
	msg.Attachments = slices.Clone(msg.Attachments)
	now := s.clk.Now()
	rec := &store.OutboxRecord{
		ID:             "ob-" + strings.ToLower(rand.Text()),
		MessageID:      newMessageID(mb.Outbound.From.Address),
		Mailbox:        mb.ID,
		Message:        msg,
		State:          store.Queued,
		EnqueuedAt:     now,
		NextAttempt:    now,
		Rule:           msg.Rule,
		DecisionReason: msg.Reason,
		Contract:       msg.Contract,
	}
	var suppressed []store.RecipientStatus
	for kind, list := range [][]store.Address{msg.To, msg.Cc, msg.Bcc} {
		for _, a := range list {
			st := store.RecipientStatus{Address: a, Kind: store.RecipientKind(kind)}
			if s.o.Suppressions != nil && !msg.IgnoreSuppression {
				reason, ok, err := s.o.Suppressions.Suppressed(ctx, a.Address)
				if err != nil {
					return "", fmt.Errorf("outbound: suppression list: %w", err)
				}
				if ok {
					st.State, st.Reason = store.Suppressed, reason
					suppressed = append(suppressed, st)
				}
			}
			rec.Recipients = append(rec.Recipients, st)
		}
	}
	if len(rec.Pending()) == 0 {
		rec.State = store.Dead
		rec.Reason = "every recipient is on the suppression list"
	}
	if err := s.o.Outbox.Put(ctx, rec); err != nil {
		return "", fmt.Errorf("outbound: storing the message: %w", err)
	}
	for _, st := range suppressed {
		s.emit(Event{Kind: EventSuppressed, ID: rec.ID, MessageID: rec.MessageID, Mailbox: rec.Mailbox,
			Recipients: []string{st.Address.Address}, Reason: st.Reason, Rule: rec.Rule, Decision: rec.DecisionReason})
	}
	s.signalEnqueued(rec.Mailbox)
	return rec.ID, nil
}

func (s *Sender) emit(e Event) {
	if e.Kind == EventHealth {
		s.log.LogAttrs(context.Background(), slog.LevelWarn, "outbound mailbox needs a person", slog.String("mailbox", string(e.Mailbox)),
			slog.String("state", string(e.Health.State)), slog.String("err", e.Reason), slog.String("hint", e.Health.Hint))
		if s.o.OnEvent != nil {
			s.o.OnEvent(e)
		}
		return
	}
	lvl := slog.LevelInfo
	if e.Kind == EventDeferred || e.Kind == EventFailed {
		lvl = slog.LevelWarn
	}
	s.log.LogAttrs(context.Background(), lvl, "outbound "+e.Kind.String(), slog.String("id", e.ID), slog.String("message_id", e.MessageID),
		slog.String("mailbox", string(e.Mailbox)), slog.Int("recipients", len(e.Recipients)), slog.String("reason", e.Reason))
	if s.o.OnEvent != nil {
		s.o.OnEvent(e)
	}
}

// signalEnqueued wakes the dispatcher for a record of mailbox id, unless
// the mailbox already runs as many workers as its connections allow: one
// of them claims the record after its batch, or, finishing, wakes the
// dispatcher (which then sees the record, stored before this check). That
// saves a Due query per Enqueue while the mailbox is busy.
func (s *Sender) signalEnqueued(id mailbox.ID) {
	limit := mailbox.DefaultMaxConnections
	if mb, ok := s.o.Catalog.Mailbox(id); ok && mb.Outbound != nil {
		limit = mb.Outbound.MaxConnectionsOrDefault()
	}
	s.mu.Lock()
	st := s.boxes[id]
	busy := st != nil && st.active >= limit
	s.mu.Unlock()
	if !busy {
		s.signal()
	}
}
