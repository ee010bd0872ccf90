package memory

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/threading"
)

// Outbox is an in-memory store.Outbox. Put reads every attachment into
// memory, so the records it hands out do not depend on the host's readers
// staying open. It also implements threading.SentIndex for the inbound
// engine's reply matching. Safe for concurrent use.
type Outbox struct {
	mu       sync.Mutex
	recs     map[string]*store.OutboxRecord
	queued   map[string]*store.OutboxRecord // the Queued subset of recs
	byMsgID  map[string]string              // Message-ID (lower case) -> record ID
	byThread map[string]string              // thread (lower case) -> latest record ID
}

// NewOutbox returns an empty outbox.
func NewOutbox() *Outbox {
	return &Outbox{recs: map[string]*store.OutboxRecord{}, queued: map[string]*store.OutboxRecord{}, byMsgID: map[string]string{}, byThread: map[string]string{}}
}

var (
	_ store.Outbox        = (*Outbox)(nil)
	_ threading.SentIndex = (*Outbox)(nil)
)

// clone deep-copies a record (attachments share their immutable bytes).
func clone(r *store.OutboxRecord) *store.OutboxRecord {
	c := *r
	c.Recipients = slices.Clone(r.Recipients)
	m := &c.Message
	m.To, m.Cc, m.Bcc = slices.Clone(m.To), slices.Clone(m.Cc), slices.Clone(m.Bcc)
	m.References = slices.Clone(m.References)
	m.Attachments = slices.Clone(m.Attachments)
	return &c
}

// Put implements store.Outbox.
func (o *Outbox) Put(ctx context.Context, r *store.OutboxRecord) error {
	if r.ID == "" {
		return fmt.Errorf("memory: outbox record without ID")
	}
	c := clone(r)
	for i, a := range c.Message.Attachments {
		if err := ctx.Err(); err != nil {
			return err
		}
		rc, err := a.Open()
		if err != nil {
			return fmt.Errorf("memory: attachment %q: %w", a.Name, err)
		}
		data, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			return fmt.Errorf("memory: attachment %q: %w", a.Name, err)
		}
		c.Message.Attachments[i].Open = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	}
	c.ClaimToken, c.ClaimedUntil = "", time.Time{}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, dup := o.recs[c.ID]; dup {
		return fmt.Errorf("memory: outbox record %q exists", c.ID)
	}
	o.recs[c.ID] = c
	o.index(c)
	return nil
}

func (o *Outbox) index(r *store.OutboxRecord) {
	if r.State == store.Queued {
		o.queued[r.ID] = r
	} else {
		delete(o.queued, r.ID)
	}
	o.byMsgID[strings.ToLower(r.MessageID)] = r.ID
	if r.Message.Thread != "" {
		o.byThread[strings.ToLower(r.Message.Thread)] = r.ID
	}
}

func claimed(r *store.OutboxRecord, now time.Time) bool {
	return r.ClaimToken != "" && now.Before(r.ClaimedUntil)
}

// Claim implements store.Outbox.
func (o *Outbox) Claim(_ context.Context, c store.Claim) ([]*store.OutboxRecord, error) {
	if c.Token == "" {
		return nil, fmt.Errorf("memory: claim without token")
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var due []*store.OutboxRecord
	for _, r := range o.queued {
		if r.Mailbox == c.Mailbox && r.State == store.Queued && !r.NextAttempt.After(c.Now) && !claimed(r, c.Now) {
			due = append(due, r)
		}
	}
	slices.SortFunc(due, func(a, b *store.OutboxRecord) int {
		if d := a.NextAttempt.Compare(b.NextAttempt); d != 0 {
			return d
		}
		if d := a.EnqueuedAt.Compare(b.EnqueuedAt); d != 0 {
			return d
		}
		return strings.Compare(a.ID, b.ID)
	})
	if c.Max > 0 && len(due) > c.Max {
		due = due[:c.Max]
	}
	out := make([]*store.OutboxRecord, len(due))
	for i, r := range due {
		r.ClaimToken, r.ClaimedUntil = c.Token, c.Now.Add(c.Lease)
		out[i] = clone(r)
	}
	return out, nil
}

func (o *Outbox) held(id, token string) (*store.OutboxRecord, error) {
	r, ok := o.recs[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", store.ErrNotFound, id)
	}
	if token == "" || r.ClaimToken != token {
		return nil, fmt.Errorf("%w: %q", store.ErrClaimLost, id)
	}
	return r, nil
}

// Update implements store.Outbox.
func (o *Outbox) Update(_ context.Context, r *store.OutboxRecord, token string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	cur, err := o.held(r.ID, token)
	if err != nil {
		return err
	}
	c := clone(r)
	// The content never changes: body and attachments are the ones Put
	// stored.
	c.Message.Text, c.Message.HTML, c.Message.Attachments = cur.Message.Text, cur.Message.HTML, cur.Message.Attachments
	c.ClaimToken, c.ClaimedUntil = "", time.Time{}
	if c.MessageID != cur.MessageID {
		delete(o.byMsgID, strings.ToLower(cur.MessageID))
	}
	o.recs[c.ID] = c
	o.index(c)
	return nil
}

// Release implements store.Outbox.
func (o *Outbox) Release(_ context.Context, id, token string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, err := o.held(id, token)
	if err != nil {
		return err
	}
	r.ClaimToken, r.ClaimedUntil = "", time.Time{}
	return nil
}

// ReleaseStale implements store.Outbox.
func (o *Outbox) ReleaseStale(_ context.Context, now time.Time) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, r := range o.queued {
		if r.ClaimToken != "" && !now.Before(r.ClaimedUntil) {
			r.ClaimToken, r.ClaimedUntil = "", time.Time{}
			n++
		}
	}
	return n, nil
}

// Due implements store.Outbox.
func (o *Outbox) Due(_ context.Context, now time.Time) ([]store.Due, time.Time, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	counts := map[mailbox.ID]int{}
	var next time.Time
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, r := range o.queued {
		switch {
		case claimed(r, now):
			later(r.ClaimedUntil)
		case r.NextAttempt.After(now):
			later(r.NextAttempt)
		default:
			counts[r.Mailbox]++
		}
	}
	out := make([]store.Due, 0, len(counts))
	for id, n := range counts {
		out = append(out, store.Due{Mailbox: id, Count: n})
	}
	slices.SortFunc(out, func(a, b store.Due) int { return strings.Compare(string(a.Mailbox), string(b.Mailbox)) })
	return out, next, nil
}

// Stats implements store.Outbox.
func (o *Outbox) Stats(_ context.Context, mb mailbox.ID) (store.QueueStats, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var qs store.QueueStats
	for _, r := range o.queued {
		if r.Mailbox == mb {
			qs.Depth++
			if qs.Oldest.IsZero() || r.EnqueuedAt.Before(qs.Oldest) {
				qs.Oldest = r.EnqueuedAt
			}
		}
	}
	return qs, nil
}

// Get implements store.Outbox.
func (o *Outbox) Get(_ context.Context, id string) (*store.OutboxRecord, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.recs[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", store.ErrNotFound, id)
	}
	return clone(r), nil
}

// List implements store.Outbox.
func (o *Outbox) List(_ context.Context, f store.OutboxFilter) ([]*store.OutboxRecord, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []*store.OutboxRecord
	for _, r := range o.recs {
		if (f.State == 0 || r.State == f.State) && (f.Mailbox == "" || r.Mailbox == f.Mailbox) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *store.OutboxRecord) int {
		if d := a.EnqueuedAt.Compare(b.EnqueuedAt); d != 0 {
			return d
		}
		return strings.Compare(a.ID, b.ID)
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	for i, r := range out {
		out[i] = clone(r)
	}
	return out, nil
}

func ref(r *store.OutboxRecord) threading.Ref {
	return threading.Ref{MessageID: r.MessageID, Mailbox: r.Mailbox, Contract: r.Contract, Thread: r.Message.Thread}
}

// SentByMessageID implements threading.SentIndex.
func (o *Outbox) SentByMessageID(_ context.Context, messageID string) (threading.Ref, bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	id, ok := o.byMsgID[strings.ToLower(strings.Trim(messageID, "<> "))]
	if !ok {
		return threading.Ref{}, false, nil
	}
	return ref(o.recs[id]), true, nil
}

// SentByThread implements threading.SentIndex.
func (o *Outbox) SentByThread(_ context.Context, thread string) (threading.Ref, bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	id, ok := o.byThread[strings.ToLower(thread)]
	if !ok {
		return threading.Ref{}, false, nil
	}
	return ref(o.recs[id]), true, nil
}

// adminLocked returns the Queued, unclaimed record id for an
// administrator's change (o.mu held).
func (o *Outbox) adminLocked(id string) (*store.OutboxRecord, error) {
	r, ok := o.recs[id]
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: %q", store.ErrNotFound, id)
	case r.State != store.Queued:
		return nil, fmt.Errorf("%w: %q is %s", store.ErrNotQueued, id, r.State)
	case r.ClaimToken != "":
		return nil, fmt.Errorf("%w: %q", store.ErrClaimed, id)
	}
	return r, nil
}

// Reschedule implements store.Outbox.
func (o *Outbox) Reschedule(_ context.Context, id string, at time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, err := o.adminLocked(id)
	if err != nil {
		return err
	}
	r.NextAttempt = at
	return nil
}

// Cancel implements store.Outbox.
func (o *Outbox) Cancel(_ context.Context, id, reason string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, err := o.adminLocked(id)
	if err != nil {
		return err
	}
	store.CancelRecord(r, reason)
	o.index(r)
	return nil
}
