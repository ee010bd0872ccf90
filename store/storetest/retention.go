package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
)

// RetentionStore is a store with per-contract queries and retention, seen
// through closures so each adapter keeps its own types.
type RetentionStore struct {
	Catalog store.Catalog
	Inbound store.Inbound
	Outbox  store.Outbox
	// Received returns the keys of received records of a contract.
	Received func(ctx context.Context, c contract.ID) ([]string, error)
	// Sent returns the outbox record IDs of a contract.
	Sent func(ctx context.Context, c contract.ID) ([]string, error)
	// QuarantinedRaw returns, per quarantined message of mb, whether its
	// raw bytes are still kept.
	QuarantinedRaw func(ctx context.Context, mb mailbox.ID) ([]bool, error)
	// Prune applies retention with the given cutoff.
	Prune func(ctx context.Context, before time.Time) error
	// Erase deletes everything of one contract.
	Erase func(ctx context.Context, c contract.ID) error
	// RawQuarantined and DeleteQuarantined, when set, read the raw bytes
	// of and delete a quarantined message by its store ID; an unknown ID
	// must wrap store.ErrNotFound.
	RawQuarantined    func(ctx context.Context, id int64) ([]byte, error)
	DeleteQuarantined func(ctx context.Context, id int64) error
}

// RetentionHarness describes a store with retention.
type RetentionHarness struct {
	New func(t *testing.T) RetentionStore
}

// RunRetention checks that received and sent records are grouped by
// contract, that pruning removes old handled keys, finished outbox records
// and quarantined raw bytes only, and that erasing a contract removes all
// of its records and nothing else.
func RunRetention(t *testing.T, h RetentionHarness) {
	ctx := context.Background()
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	setup := func(t *testing.T) RetentionStore {
		s := h.New(t)
		must(t, s.Catalog.PutMailbox(ctx, Inbound("in-1")))
		must(t, s.Catalog.PutMailbox(ctx, Inbound("in-2")))
		must(t, s.Catalog.PutContract(ctx, &contract.Contract{ID: "c1", Name: "One", InboundMailboxes: []mailbox.ID{"in-1"}}))
		must(t, s.Catalog.PutContract(ctx, &contract.Contract{ID: "c2", Name: "Two", InboundMailboxes: []mailbox.ID{"in-2"}}))
		recent := time.Now().UTC()
		old := recent.Add(-48 * time.Hour)
		for i, mb := range []mailbox.ID{"in-1", "in-2"} {
			for j, at := range []time.Time{old, recent} {
				must(t, s.Inbound.Commit(ctx, store.InboundRecord{Mailbox: mb, Folder: "INBOX", Key: fmt.Sprintf("k%d-%d", i+1, j),
					Checkpoint: store.Checkpoint{UIDValidity: 1, LastUID: uint32(j + 1)}, Outcome: store.Handled, At: at,
					Receipt: &store.Receipt{ItemID: fmt.Sprint(j + 1), UIDValidity: 1, Action: mailbox.PostSeen}}))
				must(t, s.Inbound.Quarantine(ctx, store.QuarantineItem{Mailbox: mb, Folder: "INBOX", Key: fmt.Sprintf("q%d-%d", i+1, j),
					UIDValidity: 1, UID: uint32(10 + j), Reason: "bad", At: at}, strings.NewReader("raw")))
			}
		}
		for i, ct := range []contract.ID{"c1", "c2", "c1"} {
			r := queued(fmt.Sprint("o", i), "out", t0)
			r.Contract = ct
			must(t, s.Outbox.Put(ctx, r))
		}
		// o0 is sent; o1 and o2 stay queued.
		recs, err := s.Outbox.Claim(ctx, store.Claim{Mailbox: "out", Now: t0, Lease: time.Minute, Max: 1, Token: "t"})
		must(t, err)
		recs[0].State = store.Sent
		must(t, s.Outbox.Update(ctx, recs[0], "t"))
		return s
	}

	t.Run("UnknownQuarantined", func(t *testing.T) {
		s := h.New(t)
		if s.RawQuarantined == nil || s.DeleteQuarantined == nil {
			t.Skip("the store reads no quarantined message by ID")
		}
		if _, err := s.RawQuarantined(ctx, 987654); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("raw of an unknown quarantined message: err = %v, want store.ErrNotFound", err)
		}
		if err := s.DeleteQuarantined(ctx, 987654); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete of an unknown quarantined message: err = %v, want store.ErrNotFound", err)
		}
	})

	t.Run("ByContract", func(t *testing.T) {
		s := setup(t)
		got, err := s.Received(ctx, "c1")
		must(t, err)
		slices.Sort(got)
		if fmt.Sprint(got) != "[k1-0 k1-1]" {
			t.Fatalf("received for c1: %v", got)
		}
		sent, err := s.Sent(ctx, "c1")
		must(t, err)
		if fmt.Sprint(sent) != "[o0 o2]" {
			t.Fatalf("sent for c1: %v", sent)
		}
	})

	// A reply matched to another contract's thread is kept with that
	// contract, not with the contract owning the mailbox it came through.
	t.Run("ByThreadContract", func(t *testing.T) {
		s := setup(t)
		must(t, s.Inbound.Commit(ctx, store.InboundRecord{Mailbox: "in-1", Folder: "INBOX", Key: "reply-for-c2", Contract: "c2",
			Checkpoint: store.Checkpoint{UIDValidity: 1, LastUID: 3}, Outcome: store.Handled, At: time.Now()}))
		c2, err := s.Received(ctx, "c2")
		must(t, err)
		c1, err := s.Received(ctx, "c1")
		must(t, err)
		if !slices.Contains(c2, "reply-for-c2") || slices.Contains(c1, "reply-for-c2") {
			t.Fatalf("reply filed wrong: c1 %v, c2 %v", c1, c2)
		}
	})

	t.Run("Prune", func(t *testing.T) {
		s := setup(t)
		must(t, s.Prune(ctx, time.Now().Add(-time.Hour)))
		for _, k := range []string{"k1-0", "k2-0"} {
			if d, _ := s.Inbound.Done(ctx, mailbox.ID("in-"+k[1:2]), k); d {
				t.Fatalf("old key %s not pruned", k)
			}
		}
		for _, k := range []string{"k1-1", "k2-1"} {
			if d, _ := s.Inbound.Done(ctx, mailbox.ID("in-"+k[1:2]), k); !d {
				t.Fatalf("recent key %s pruned", k)
			}
		}
		if cp, _, _ := s.Inbound.Checkpoint(ctx, "in-1", "INBOX"); cp.LastUID != 2 {
			t.Fatalf("checkpoint touched: %+v", cp)
		}
		raw, err := s.QuarantinedRaw(ctx, "in-1")
		must(t, err)
		if fmt.Sprint(raw) != "[false true]" {
			t.Fatalf("quarantined raw kept: %v (old dropped, recent kept)", raw)
		}
		if _, err := s.Outbox.Get(ctx, "o0"); err != nil {
			t.Fatalf("recently sent record pruned: %v", err)
		}
		// Finished outbox records are pruned by their last update (the
		// wall clock of the Update).
		must(t, s.Prune(ctx, time.Now().Add(time.Hour)))
		if _, err := s.Outbox.Get(ctx, "o0"); err == nil {
			t.Fatal("sent record not pruned")
		}
		if _, err := s.Outbox.Get(ctx, "o1"); err != nil {
			t.Fatalf("queued record pruned: %v", err)
		}
	})

	// A batch commit (store.BatchCommitter) of records without a
	// Contract records each under its mailbox's owner, as Commit does,
	// and under none for an unowned mailbox; a record's own Contract wins.
	t.Run("BatchOwner", func(t *testing.T) {
		s := setup(t)
		bc, ok := s.Inbound.(store.BatchCommitter)
		if !ok {
			t.Skip("the store has no CommitBatch")
		}
		must(t, s.Catalog.PutMailbox(ctx, Inbound("in-3")))
		cp := store.Checkpoint{UIDValidity: 1, LastUID: 9}
		must(t, bc.CommitBatch(ctx, []store.InboundRecord{
			{Mailbox: "in-1", Folder: "INBOX", Key: "b1", Checkpoint: cp, Outcome: store.Handled, At: time.Now()},
			{Mailbox: "in-2", Folder: "INBOX", Key: "b2", Checkpoint: cp, Outcome: store.Handled, At: time.Now()},
			{Mailbox: "in-3", Folder: "INBOX", Key: "b3", Checkpoint: cp, Outcome: store.Handled, At: time.Now()},
			{Mailbox: "in-1", Folder: "INBOX", Key: "b4", Checkpoint: cp, Outcome: store.Handled, At: time.Now(), Contract: "c2"},
		}))
		got1, err := s.Received(ctx, "c1")
		must(t, err)
		got2, err := s.Received(ctx, "c2")
		must(t, err)
		if !slices.Contains(got1, "b1") || slices.Contains(got1, "b2") || slices.Contains(got1, "b3") || slices.Contains(got1, "b4") {
			t.Fatalf("c1 received %v: want b1 and not b2, b3, b4", got1)
		}
		if !slices.Contains(got2, "b2") || !slices.Contains(got2, "b4") || slices.Contains(got2, "b3") {
			t.Fatalf("c2 received %v: want b2 and b4, not b3", got2)
		}
	})

	t.Run("EraseContract", func(t *testing.T) {
		s := setup(t)
		must(t, s.Erase(ctx, "c1"))
		if got, _ := s.Received(ctx, "c1"); len(got) != 0 {
			t.Fatalf("received left: %v", got)
		}
		if got, _ := s.Sent(ctx, "c1"); len(got) != 0 {
			t.Fatalf("sent left: %v", got)
		}
		if raw, _ := s.QuarantinedRaw(ctx, "in-1"); len(raw) != 0 {
			t.Fatalf("quarantine left: %v", raw)
		}
		if rs, err := s.Inbound.Receipts(ctx, "in-1", "INBOX"); err != nil || len(rs) != 0 {
			t.Fatalf("receipts (they hold the keys) left: %+v, %v", rs, err)
		}
		if rs, _ := s.Inbound.Receipts(ctx, "in-2", "INBOX"); len(rs) != 2 {
			t.Fatalf("other contract's receipts touched: %+v", rs)
		}
		if got, _ := s.Received(ctx, "c2"); len(got) != 2 {
			t.Fatalf("other contract touched: %v", got)
		}
		if got, _ := s.Sent(ctx, "c2"); len(got) != 1 {
			t.Fatalf("other contract's outbox touched: %v", got)
		}
		if raw, _ := s.QuarantinedRaw(ctx, "in-2"); len(raw) != 2 {
			t.Fatalf("other contract's quarantine touched: %v", raw)
		}
	})
}
