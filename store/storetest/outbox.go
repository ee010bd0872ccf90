package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/threading"
)

// OutboxHarness describes a store.Outbox (and, when it implements
// threading.SentIndex, the index of sent messages).
type OutboxHarness struct {
	// New returns an empty outbox; the harness closes it when t ends.
	New func(t *testing.T) store.Outbox
	// Records is how many records the concurrency test queues (default
	// 400; use fewer under -race on slow stores).
	Records int
}

func queued(id string, mb mailbox.ID, at time.Time) *store.OutboxRecord {
	return &store.OutboxRecord{
		ID: id, MessageID: id + "@example.com", Mailbox: mb, State: store.Queued, EnqueuedAt: at, NextAttempt: at,
		Message:    store.Message{Mailbox: mb, Subject: "s", Text: "t", To: []store.Address{{Address: "a@example.org"}}},
		Recipients: []store.RecipientStatus{{Address: store.Address{Address: "a@example.org"}}},
	}
}

// RunOutbox runs the outbox contract suite (put, get, claims, updates,
// releases, stats, listing) and the store suite's own outbox
// tests: 8 concurrent workers claiming (no record claimed twice, none
// lost), ordering per mailbox, claims returning after a crash, and the
// sent-message index.
func RunOutbox(t *testing.T, h OutboxHarness) {
	ctx := context.Background()
	t.Run("Contract", func(t *testing.T) { runOutboxContract(t, h.New) })

	t.Run("ConcurrentClaims", func(t *testing.T) {
		ob := h.New(t)
		n := h.Records
		if n <= 0 {
			n = 400
		}
		mbs := []mailbox.ID{"mb-a", "mb-b"}
		for i := range n {
			if err := ob.Put(ctx, queued(fmt.Sprintf("r%04d", i), mbs[i%2], t0.Add(time.Duration(i)*time.Millisecond))); err != nil {
				t.Fatal(err)
			}
		}
		const workers = 8
		var mu sync.Mutex
		claimedBy := map[string]string{}
		var dup []string
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				mb := mbs[w%2]
				for round := 0; ; round++ {
					tok := fmt.Sprintf("w%d-%d", w, round)
					recs, err := ob.Claim(ctx, store.Claim{Mailbox: mb, Now: t0.Add(time.Hour), Lease: time.Hour, Max: 7, Token: tok})
					if err != nil {
						errs <- err
						return
					}
					if len(recs) == 0 {
						return
					}
					for i := 1; i < len(recs); i++ {
						if recs[i].EnqueuedAt.Before(recs[i-1].EnqueuedAt) {
							errs <- fmt.Errorf("claim out of order: %s before %s", recs[i-1].ID, recs[i].ID)
							return
						}
					}
					mu.Lock()
					for _, r := range recs {
						if prev, ok := claimedBy[r.ID]; ok {
							dup = append(dup, r.ID+" by "+prev+" and "+tok)
						}
						claimedBy[r.ID] = tok
					}
					mu.Unlock()
					for _, r := range recs {
						r.State, r.Attempts = store.Sent, 1
						r.Recipients[0].State = store.Delivered
						if err := ob.Update(ctx, r, tok); err != nil {
							errs <- err
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if len(dup) > 0 {
			t.Fatalf("claimed twice: %v", dup)
		}
		if len(claimedBy) != n {
			t.Fatalf("claimed %d of %d records", len(claimedBy), n)
		}
		sent, err := ob.List(ctx, store.OutboxFilter{State: store.Sent})
		if err != nil || len(sent) != n {
			t.Fatalf("sent %d of %d (%v)", len(sent), n, err)
		}
		if due, _, _ := ob.Due(ctx, t0.Add(2*time.Hour)); len(due) != 0 {
			t.Fatalf("due after everything was sent: %v", due)
		}
	})

	t.Run("OrderPerMailbox", func(t *testing.T) {
		ob := h.New(t)
		// Put out of order; claims come back by NextAttempt then EnqueuedAt.
		for _, i := range []int{5, 1, 4, 0, 3, 2} {
			if err := ob.Put(ctx, queued(fmt.Sprint("o", i), "mb", t0.Add(time.Duration(i)*time.Second))); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		for round := range 3 {
			recs, err := ob.Claim(ctx, store.Claim{Mailbox: "mb", Now: t0.Add(time.Minute), Lease: time.Minute, Max: 2, Token: fmt.Sprint("t", round)})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				got = append(got, r.ID)
			}
		}
		if fmt.Sprint(got) != "[o0 o1 o2 o3 o4 o5]" {
			t.Fatalf("order %v", got)
		}
	})

	t.Run("CrashReturnsClaims", func(t *testing.T) {
		ob := h.New(t)
		for i := range 3 {
			if err := ob.Put(ctx, queued(fmt.Sprint("c", i), "mb", t0)); err != nil {
				t.Fatal(err)
			}
		}
		// A worker claims and "crashes": nothing is updated.
		if recs, _ := ob.Claim(ctx, store.Claim{Mailbox: "mb", Now: t0, Lease: 10 * time.Minute, Max: 10, Token: "dead"}); len(recs) != 3 {
			t.Fatalf("claimed %d", len(recs))
		}
		// On restart, before the lease ends, nothing is due...
		if n, _ := ob.ReleaseStale(ctx, t0.Add(time.Minute)); n != 0 {
			t.Fatalf("released a live claim: %d", n)
		}
		if qs, _ := ob.Stats(ctx, "mb"); qs.Depth != 3 {
			t.Fatalf("claimed records left the queue: %+v", qs)
		}
		// ...after it, every claimed-unsent record is back.
		if n, _ := ob.ReleaseStale(ctx, t0.Add(10*time.Minute)); n != 3 {
			t.Fatalf("released %d", n)
		}
		recs, err := ob.Claim(ctx, store.Claim{Mailbox: "mb", Now: t0.Add(10 * time.Minute), Lease: time.Minute, Token: "new"})
		if err != nil || len(recs) != 3 {
			t.Fatalf("reclaimed %d (%v)", len(recs), err)
		}
		if err := ob.Release(ctx, recs[0].ID, "dead"); !errors.Is(err, store.ErrClaimLost) {
			t.Fatalf("the crashed worker's token still holds: %v", err)
		}
	})

	t.Run("SentIndex", func(t *testing.T) {
		ob := h.New(t)
		idx, ok := ob.(threading.SentIndex)
		if !ok {
			t.Skip("not a threading.SentIndex")
		}
		a := queued("a", "mb", t0)
		a.MessageID, a.Message.Thread, a.Contract = "Abc.1@Example.com", "REQ-1", "c1"
		b := queued("b", "mb2", t0.Add(time.Minute))
		b.Message.Thread, b.Contract = "REQ-1", "c2"
		for _, r := range []*store.OutboxRecord{a, b} {
			if err := ob.Put(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		ref, found, err := idx.SentByMessageID(ctx, "<abc.1@example.com>")
		if err != nil || !found || ref.Mailbox != "mb" || ref.Contract != "c1" || ref.Thread != "REQ-1" || ref.MessageID != "Abc.1@Example.com" {
			t.Fatalf("by Message-ID: %+v %v %v", ref, found, err)
		}
		if _, found, _ := idx.SentByMessageID(ctx, "nope@example.com"); found {
			t.Fatal("unknown Message-ID found")
		}
		ref, found, err = idx.SentByThread(ctx, "req-1")
		if err != nil || !found || ref.MessageID != "b@example.com" || ref.Contract != "c2" {
			t.Fatalf("by thread (latest): %+v %v %v", ref, found, err)
		}
		if _, found, _ := idx.SentByThread(ctx, "REQ-2"); found {
			t.Fatal("unknown thread found")
		}
	})
}

// RunSuppressions runs the suppression list suite.
func RunSuppressions(t *testing.T, newList func(t *testing.T) store.Suppressions) {
	ctx := context.Background()
	s := newList(t)
	if _, ok, err := s.Suppressed(ctx, "a@example.org"); ok || err != nil {
		t.Fatalf("empty list: %v %v", ok, err)
	}
	if err := s.Suppress(ctx, "A@Example.ORG", "550 no such user"); err != nil {
		t.Fatal(err)
	}
	if r, ok, err := s.Suppressed(ctx, "a@example.org"); !ok || err != nil || r != "550 no such user" {
		t.Fatalf("suppressed %q %v %v", r, ok, err)
	}
	if err := s.Suppress(ctx, "a@example.org", "complaint"); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := s.Suppressed(ctx, "A@EXAMPLE.org"); r != "complaint" {
		t.Fatalf("reason not updated: %q", r)
	}
	if _, ok, _ := s.Suppressed(ctx, "b@example.org"); ok {
		t.Fatal("unlisted address suppressed")
	}
}
