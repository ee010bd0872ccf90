package outbound

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/internal/breaker"
	"github.com/correio-dev/correio/mailbox"
)

// Health returns the delivery health of a mailbox, in the engines' one
// vocabulary: idle (nothing tried yet), waiting (the last attempt
// succeeded, nothing in flight), sending (the last attempt succeeded, a
// batch in flight), retrying (connections fail, the breaker is still
// closed), down (the breaker is open, or TLS was refused; the mailbox is
// tried again later), auth_failed (the server refused the credentials;
// retried a few times an hour, see Options.AuthRetry), reauth_required
// (the OAuth2 grant is gone; not retried until a person acts) and paused
// (Pause). Hint says what to do in the states that need a person.
func (s *Sender) Health(ctx context.Context, id mailbox.ID) (engine.Health, error) {
	qs, err := s.o.Outbox.Stats(ctx, id)
	if err != nil {
		return engine.Health{}, err
	}
	now := s.clk.Now()
	h := engine.Health{Mailbox: id, Kind: mailbox.Outbound, State: engine.StateIdle, QueueDepth: qs.Depth}
	if !qs.Oldest.IsZero() {
		h.OldestQueued = now.Sub(qs.Oldest)
	}
	s.mu.Lock()
	st := s.boxes[id]
	var hold, attn engine.State
	var hint string
	var paused bool
	if st != nil {
		h.LastSuccess, h.LastError, h.LastErrorAt, h.DownSince, h.Active = st.lastSuccess, st.lastError, st.lastErrorAt, st.downSince, st.active
		hold, attn, hint, paused = st.hold, st.attn, st.hint, st.paused
		h.ConsecutiveFailures = st.failures
	}
	s.mu.Unlock()
	if st != nil {
		bs, _ := st.breaker.State()
		switch {
		case paused:
			h.State, h.LastError = engine.StatePaused, engine.ErrPausedByAdmin.Error()
		case hold != "":
			h.State, h.Hint = hold, hint
		case bs != breaker.Closed || attn == engine.StateDown:
			h.State, h.Hint = engine.StateDown, hint
			if h.Hint == "" {
				h.Hint = engine.StateDown.Hint()
			}
		case !h.DownSince.IsZero():
			h.State = engine.StateRetrying
		case (!h.LastSuccess.IsZero() || h.LastErrorAt.IsZero()) && h.Active > 0:
			h.State = engine.StateSending
		case !h.LastSuccess.IsZero():
			h.State = engine.StateWaiting
		}
	}
	return h, nil
}

// HealthAll returns the health of every outbound mailbox of the catalog
// that the Assignment runs, and of every other mailbox the Sender has
// worked with or that has queued mail, sorted by mailbox ID.
func (s *Sender) HealthAll(ctx context.Context) ([]engine.Health, error) {
	ids := map[mailbox.ID]bool{}
	for _, m := range s.o.Catalog.Mailboxes() {
		if m != nil && m.Kind == mailbox.Outbound && s.assign.Runs(m.ID) {
			ids[m.ID] = true
		}
	}
	s.mu.Lock()
	for id := range s.boxes {
		ids[id] = true
	}
	s.mu.Unlock()
	due, _, err := s.o.Outbox.Due(ctx, s.clk.Now().Add(100*365*24*time.Hour))
	if err != nil {
		return nil, err
	}
	for _, d := range due {
		ids[d.Mailbox] = true
	}
	out := make([]engine.Health, 0, len(ids))
	for id := range ids {
		h, err := s.Health(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b engine.Health) int { return strings.Compare(string(a.Mailbox), string(b.Mailbox)) })
	return out, nil
}
