package outbound

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/correio-dev/correio/internal/breaker"
	"github.com/correio-dev/correio/mailbox"
)

// HealthState summarises a mailbox's delivery health.
type HealthState string

// Health states.
const (
	// HealthIdle: nothing tried yet.
	HealthIdle HealthState = "idle"
	// HealthOK: the last connection attempt succeeded.
	HealthOK HealthState = "ok"
	// HealthFailing: connections fail, the breaker is still closed.
	HealthFailing HealthState = "failing"
	// HealthOpen: the breaker is open; the mailbox is tried again later.
	HealthOpen HealthState = "open"
)

// Health is the delivery view of one mailbox.
type Health struct {
	Mailbox     mailbox.ID
	State       HealthState
	LastSuccess time.Time
	// LastError is the last failure (classified, secrets never included)
	// and when it happened.
	LastError   string
	LastErrorAt time.Time
	// DownSince is the first failure since the last success.
	DownSince time.Time
	// QueueDepth counts queued messages; OldestQueued is the age of the
	// oldest.
	QueueDepth   int
	OldestQueued time.Duration
	// Active is the number of batches in flight.
	Active int
}

// Health returns the delivery health of a mailbox.
func (s *Sender) Health(ctx context.Context, id mailbox.ID) (Health, error) {
	qs, err := s.o.Outbox.Stats(ctx, id)
	if err != nil {
		return Health{}, err
	}
	now := s.clk.Now()
	h := Health{Mailbox: id, State: HealthIdle, QueueDepth: qs.Depth}
	if !qs.Oldest.IsZero() {
		h.OldestQueued = now.Sub(qs.Oldest)
	}
	s.mu.Lock()
	st := s.boxes[id]
	if st != nil {
		h.LastSuccess, h.LastError, h.LastErrorAt, h.DownSince, h.Active = st.lastSuccess, st.lastError, st.lastErrorAt, st.downSince, st.active
	}
	s.mu.Unlock()
	if st != nil {
		bs, _ := st.breaker.State()
		switch {
		case bs != breaker.Closed:
			h.State = HealthOpen
		case !h.DownSince.IsZero():
			h.State = HealthFailing
		case !h.LastSuccess.IsZero() || h.LastErrorAt.IsZero() && h.Active > 0:
			h.State = HealthOK
		}
	}
	return h, nil
}

// HealthAll returns the health of every outbound mailbox the Sender has
// worked with or that has queued mail, sorted by mailbox ID.
func (s *Sender) HealthAll(ctx context.Context) ([]Health, error) {
	ids := map[mailbox.ID]bool{}
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
	out := make([]Health, 0, len(ids))
	for id := range ids {
		h, err := s.Health(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b Health) int { return strings.Compare(string(a.Mailbox), string(b.Mailbox)) })
	return out, nil
}
