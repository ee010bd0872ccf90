package storetest

// The outbox contract suite (formerly outbound/outboxtest): put and get,
// claims with their ordering, cap, lease and token, updates and releases
// that check the claim, the queue figures and listing.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store"
)

func contractRecord(id string, mb mailbox.ID, next time.Time) *store.OutboxRecord {
	payload := []byte("attached " + id)
	return &store.OutboxRecord{
		ID: id, MessageID: id + "@example.com", Mailbox: mb, State: store.Queued,
		EnqueuedAt: t0, NextAttempt: next, Rule: routing.RuleSystem, DecisionReason: "system",
		Message: store.Message{
			Mailbox: mb, Subject: "s " + id, Text: "t", Thread: "T" + id,
			To: []store.Address{{Name: "A", Address: "a@example.org"}},
			Attachments: []store.Attachment{{Name: "a.txt", ContentType: "text/plain",
				Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(payload)), nil }}},
		},
		Recipients: []store.RecipientStatus{{Address: store.Address{Name: "A", Address: "a@example.org"}}},
	}
}

func readAttachment(t *testing.T, a store.Attachment) string {
	t.Helper()
	rc, err := a.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runOutboxContract runs the contract suite; newOutbox returns an empty
// outbox for each subtest.
func runOutboxContract(t *testing.T, newOutbox func(t *testing.T) store.Outbox) {
	ctx := context.Background()
	claim := func(ob store.Outbox, mb mailbox.ID, now time.Time, max int, token string) []*store.OutboxRecord {
		t.Helper()
		recs, err := ob.Claim(ctx, store.Claim{Mailbox: mb, Now: now, Lease: 10 * time.Minute, Max: max, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}

	t.Run("PutGet", func(t *testing.T) {
		ob := newOutbox(t)
		r := contractRecord("r1", "mb", t0)
		if err := ob.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := ob.Put(ctx, contractRecord("r1", "mb", t0)); err == nil {
			t.Fatal("duplicate ID accepted")
		}
		r.Message.Subject = "changed after Put"
		got, err := ob.Get(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Message.Subject != "s r1" || got.MessageID != "r1@example.com" || got.Rule != routing.RuleSystem || len(got.Recipients) != 1 {
			t.Fatalf("got %+v", got)
		}
		if a := got.Message.Attachments; len(a) != 1 || readAttachment(t, a[0]) != "attached r1" || readAttachment(t, a[0]) != "attached r1" || a[0].Name != "a.txt" {
			t.Fatal("attachment not durable or not re-readable")
		}
		if _, err := ob.Get(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown: %v", err)
		}
	})

	t.Run("ClaimDueOnlyInOrder", func(t *testing.T) {
		ob := newOutbox(t)
		for _, r := range []*store.OutboxRecord{contractRecord("late", "mb", t0.Add(time.Hour)), contractRecord("b", "mb", t0.Add(time.Second)), contractRecord("a", "mb", t0), contractRecord("other", "mb2", t0)} {
			if err := ob.Put(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		got := claim(ob, "mb", t0.Add(time.Minute), 10, "tok")
		if len(got) != 2 || got[0].ID != "a" || got[1].ID != "b" || got[0].ClaimToken != "tok" {
			t.Fatalf("claimed %v", ids(got))
		}
		if again := claim(ob, "mb", t0.Add(time.Minute), 10, "tok2"); len(again) != 0 {
			t.Fatalf("claimed twice: %v", ids(again))
		}
		if max := claim(ob, "mb2", t0, 0, "tok3"); len(max) != 1 {
			t.Fatalf("other mailbox: %v", ids(max))
		}
		// An expired claim is claimable by another worker, and the first
		// worker's update is then refused.
		stolen := claim(ob, "mb", t0.Add(11*time.Minute), 1, "tok4")
		if len(stolen) != 1 || stolen[0].ID != "a" {
			t.Fatalf("expired claim: %v", ids(stolen))
		}
		got[0].State = store.Sent
		if err := ob.Update(ctx, got[0], "tok"); !errors.Is(err, store.ErrClaimLost) {
			t.Fatalf("stale update: %v", err)
		}
	})

	// The body is the content Put stored: claims return it, an update
	// keeps it (Update saves the delivery state, never the content).
	t.Run("BodyKeptAcrossClaimAndUpdate", func(t *testing.T) {
		ob := newOutbox(t)
		r := contractRecord("body", "mb", t0)
		r.Message.Text, r.Message.HTML = "plain \"body\"\r\nline 2 \u00e9", "<p>html body</p>"
		if err := ob.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
		got := claim(ob, "mb", t0, 1, "tok")
		if len(got) != 1 || got[0].Message.Text != r.Message.Text || got[0].Message.HTML != r.Message.HTML {
			t.Fatalf("claimed %+v", got)
		}
		got[0].Message.Text, got[0].Message.HTML = "changed", ""
		got[0].State, got[0].Attempts, got[0].Recipients[0].State = store.Sent, 1, store.Delivered
		if err := ob.Update(ctx, got[0], "tok"); err != nil {
			t.Fatal(err)
		}
		g, err := ob.Get(ctx, "body")
		if err != nil {
			t.Fatal(err)
		}
		if g.State != store.Sent || g.Message.Text != r.Message.Text || g.Message.HTML != r.Message.HTML || g.Message.Subject != "s body" {
			t.Fatalf("after the update %+v", g.Message)
		}
		if l, err := ob.List(ctx, store.OutboxFilter{Mailbox: "mb"}); err != nil || len(l) != 1 || l[0].Message.Text != r.Message.Text {
			t.Fatalf("listed %+v %v", l, err)
		}
	})

	// A failover changes the record's routing (mailbox, Message-ID,
	// rule): the update saves it and the record is found by its new
	// Message-ID and claimed on its new mailbox.
	t.Run("UpdateChangesRouting", func(t *testing.T) {
		ob := newOutbox(t)
		if err := ob.Put(ctx, contractRecord("fo", "mb", t0)); err != nil {
			t.Fatal(err)
		}
		got := claim(ob, "mb", t0, 1, "tok")
		if len(got) != 1 {
			t.Fatalf("claimed %v", ids(got))
		}
		r := got[0]
		r.Mailbox, r.Message.Mailbox, r.MessageID, r.Rule, r.DecisionReason = "sys", "sys", "fo2@example.com", routing.RuleFailover, "failover"
		if err := ob.Update(ctx, r, "tok"); err != nil {
			t.Fatal(err)
		}
		if left := claim(ob, "mb", t0, 0, "tok2"); len(left) != 0 {
			t.Fatalf("still on the old mailbox: %v", ids(left))
		}
		moved := claim(ob, "sys", t0, 0, "tok3")
		if len(moved) != 1 || moved[0].MessageID != "fo2@example.com" || moved[0].Rule != routing.RuleFailover || moved[0].Message.Text != "t" {
			t.Fatalf("on the system mailbox: %+v", moved)
		}
	})

	t.Run("UpdateReleaseStale", func(t *testing.T) {
		ob := newOutbox(t)
		for _, id := range []string{"a", "b", "c"} {
			if err := ob.Put(ctx, contractRecord(id, "mb", t0)); err != nil {
				t.Fatal(err)
			}
		}
		got := claim(ob, "mb", t0, 3, "tok")
		a, b := got[0], got[1]
		a.State, a.Attempts = store.Sent, 1
		a.Recipients[0].State = store.Delivered
		if err := ob.Update(ctx, a, "tok"); err != nil {
			t.Fatal(err)
		}
		b.NextAttempt, b.Attempts, b.LastError = t0.Add(time.Hour), 1, "451 later"
		if err := ob.Update(ctx, b, "tok"); err != nil {
			t.Fatal(err)
		}
		if err := ob.Update(ctx, b, "tok"); !errors.Is(err, store.ErrClaimLost) {
			t.Fatalf("update after the claim ended: %v", err)
		}
		if ga, _ := ob.Get(ctx, "a"); ga.State != store.Sent || ga.Recipients[0].State != store.Delivered || ga.ClaimToken != "" {
			t.Fatalf("a %+v", ga)
		}
		if gb, _ := ob.Get(ctx, "b"); gb.State != store.Queued || !gb.NextAttempt.Equal(t0.Add(time.Hour)) || gb.LastError != "451 later" || readAttachment(t, gb.Message.Attachments[0]) != "attached b" {
			t.Fatalf("b %+v", gb)
		}
		if err := ob.Release(ctx, "c", "wrong"); !errors.Is(err, store.ErrClaimLost) {
			t.Fatalf("release with a wrong token: %v", err)
		}
		if n, _ := ob.ReleaseStale(ctx, t0.Add(time.Minute)); n != 0 {
			t.Fatalf("released a live claim: %d", n)
		}
		if n, _ := ob.ReleaseStale(ctx, t0.Add(time.Hour)); n != 1 {
			t.Fatalf("stale claims released: %d", n)
		}
		if c := claim(ob, "mb", t0.Add(time.Hour), 5, "tok2"); len(c) != 2 {
			t.Fatalf("due after release: %v", ids(c))
		}
		if err := ob.Release(ctx, "c", "tok2"); err != nil {
			t.Fatal(err)
		}
		if c := claim(ob, "mb", t0.Add(time.Hour), 5, "tok3"); len(c) != 1 || c[0].ID != "c" {
			t.Fatalf("released record not due: %v", ids(c))
		}
	})

	t.Run("DueStatsList", func(t *testing.T) {
		ob := newOutbox(t)
		recs := []*store.OutboxRecord{contractRecord("a", "mb1", t0), contractRecord("b", "mb1", t0), contractRecord("c", "mb2", t0.Add(time.Hour)), contractRecord("d", "mb3", t0)}
		recs[0].EnqueuedAt = t0.Add(-time.Hour)
		recs[3].State = store.Dead
		for _, r := range recs {
			if err := ob.Put(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		due, next, err := ob.Due(ctx, t0)
		if err != nil || len(due) != 1 || due[0] != (store.Due{Mailbox: "mb1", Count: 2}) || !next.Equal(t0.Add(time.Hour)) {
			t.Fatalf("due %v next %v err %v", due, next, err)
		}
		claim(ob, "mb1", t0, 1, "tok")
		due, next, _ = ob.Due(ctx, t0)
		if len(due) != 1 || due[0].Count != 1 || !next.Equal(t0.Add(10*time.Minute)) {
			t.Fatalf("due after claim %v next %v", due, next)
		}
		qs, err := ob.Stats(ctx, "mb1")
		if err != nil || qs.Depth != 2 || !qs.Oldest.Equal(t0.Add(-time.Hour)) {
			t.Fatalf("stats %+v %v", qs, err)
		}
		if qs, _ := ob.Stats(ctx, "mb3"); qs.Depth != 0 {
			t.Fatalf("dead record counted: %+v", qs)
		}
		all, _ := ob.List(ctx, store.OutboxFilter{})
		dead, _ := ob.List(ctx, store.OutboxFilter{State: store.Dead})
		mb1, _ := ob.List(ctx, store.OutboxFilter{Mailbox: "mb1", Limit: 1})
		if len(all) != 4 || len(dead) != 1 || dead[0].ID != "d" || len(mb1) != 1 || mb1[0].ID != "a" {
			t.Fatalf("list %v %v %v", ids(all), ids(dead), ids(mb1))
		}
	})

	t.Run("RescheduleCancel", func(t *testing.T) {
		ob := newOutbox(t)
		for _, id := range []string{"later", "held", "gone", "done"} {
			if err := ob.Put(ctx, contractRecord(id, "mb", t0.Add(time.Hour))); err != nil {
				t.Fatal(err)
			}
		}
		// Retry now: a record due in an hour is claimable at once.
		if err := ob.Reschedule(ctx, "later", t0); err != nil {
			t.Fatal(err)
		}
		if got := claim(ob, "mb", t0, 0, "tok"); len(got) != 1 || got[0].ID != "later" {
			t.Fatalf("claimed after reschedule %v", ids(got))
		}
		// A claimed record (being sent) is neither rescheduled nor
		// cancelled; the claim is untouched.
		if err := ob.Reschedule(ctx, "later", t0.Add(time.Minute)); !errors.Is(err, store.ErrClaimed) {
			t.Fatalf("reschedule while claimed: %v", err)
		}
		if err := ob.Cancel(ctx, "later", "by admin"); !errors.Is(err, store.ErrClaimed) {
			t.Fatalf("cancel while claimed: %v", err)
		}
		if r, _ := ob.Get(ctx, "later"); r.State != store.Queued || r.ClaimToken != "tok" {
			t.Fatalf("claimed record changed: %+v", r)
		}
		// Cancel: dead with the reason, pending recipients refused, out
		// of the queue.
		if err := ob.Cancel(ctx, "gone", "customer withdrew"); err != nil {
			t.Fatal(err)
		}
		r, err := ob.Get(ctx, "gone")
		if err != nil || r.State != store.Dead || r.Reason != store.CancelReason+"customer withdrew" ||
			r.Recipients[0].State != store.Refused || len(r.Message.Attachments) != 1 {
			t.Fatalf("cancelled %+v %v", r, err)
		}
		// (later's claim expired by then: claimable again.)
		if got := claim(ob, "mb", t0.Add(2*time.Hour), 0, "tok2"); len(got) != 3 || got[0].ID != "later" || got[1].ID != "done" || got[2].ID != "held" {
			t.Fatalf("claimed after cancel %v", ids(got))
		}
		if qs, _ := ob.Stats(ctx, "mb"); qs.Depth != 3 {
			t.Fatalf("depth after cancel %d", qs.Depth)
		}
		for _, c := range []struct {
			id   string
			want error
		}{{"gone", store.ErrNotQueued}, {"nope", store.ErrNotFound}} {
			if err := ob.Reschedule(ctx, c.id, t0); !errors.Is(err, c.want) {
				t.Errorf("reschedule %s: %v, want %v", c.id, err, c.want)
			}
			if err := ob.Cancel(ctx, c.id, "x"); !errors.Is(err, c.want) {
				t.Errorf("cancel %s: %v, want %v", c.id, err, c.want)
			}
		}
	})

	// Cancel racing claims: every record ends either cancelled (and never
	// handed to a claimer) or claimed (and the cancel says ErrClaimed),
	// never both.
	t.Run("CancelRacesClaim", func(t *testing.T) {
		ob := newOutbox(t)
		const n = 40
		for i := range n {
			if err := ob.Put(ctx, contractRecord(fmt.Sprintf("r%02d", i), "mb", t0)); err != nil {
				t.Fatal(err)
			}
		}
		claimed := make(chan []*store.OutboxRecord, n)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range n / 4 {
					recs, err := ob.Claim(ctx, store.Claim{Mailbox: "mb", Now: t0, Lease: time.Hour, Max: 1, Token: fmt.Sprintf("w%d", w)})
					if err != nil {
						t.Error(err)
						return
					}
					claimed <- recs
				}
			}()
		}
		cancelled := map[string]bool{}
		var mu sync.Mutex
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("r%02d", i)
				err := ob.Cancel(ctx, id, "race")
				switch {
				case err == nil:
					mu.Lock()
					cancelled[id] = true
					mu.Unlock()
				case !errors.Is(err, store.ErrClaimed):
					t.Errorf("cancel %s: %v", id, err)
				}
			}()
		}
		wg.Wait()
		close(claimed)
		got := map[string]bool{}
		for recs := range claimed {
			for _, r := range recs {
				if cancelled[r.ID] {
					t.Errorf("%s was cancelled and claimed", r.ID)
				}
				got[r.ID] = true
			}
		}
		for i := range n {
			id := fmt.Sprintf("r%02d", i)
			r, err := ob.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case cancelled[id] && r.State != store.Dead:
				t.Errorf("%s cancelled but %s", id, r.State)
			case !cancelled[id] && (!got[id] || r.ClaimToken == ""):
				t.Errorf("%s neither cancelled nor claimed: %+v", id, r)
			}
		}
	})
}

func ids(recs []*store.OutboxRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}
