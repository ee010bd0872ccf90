package memory_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
)

func TestInboundStore(t *testing.T) {
	ctx := context.Background()
	s := memory.NewInboundStore()
	if _, ok, err := s.Checkpoint(ctx, "m", "INBOX"); ok || err != nil {
		t.Fatalf("empty store has a checkpoint: %v", err)
	}
	cp := store.Checkpoint{UIDValidity: 7, LastUID: 3}
	if err := s.Commit(ctx, store.InboundRecord{Mailbox: "m", Folder: "INBOX", Key: "k1", Checkpoint: cp, Outcome: store.Handled, Fence: 2}); err != nil {
		t.Fatal(err)
	}
	if got, ok, _ := s.Checkpoint(ctx, "m", "INBOX"); !ok || got != cp {
		t.Fatalf("checkpoint %+v", got)
	}
	if done, _ := s.Done(ctx, "m", "k1"); !done {
		t.Fatal("key not recorded")
	}
	if done, _ := s.Done(ctx, "other", "k1"); done {
		t.Fatal("keys leak across mailboxes")
	}
	// A replica holding an older fencing token cannot write any more.
	if err := s.Commit(ctx, store.InboundRecord{Mailbox: "m", Folder: "INBOX", Key: "k2", Checkpoint: store.Checkpoint{UIDValidity: 7, LastUID: 4}, Fence: 1}); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("stale fence: %v", err)
	}
	if err := s.SetCheckpoint(ctx, "m", "INBOX", store.Checkpoint{UIDValidity: 8}, 1); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("stale fence on checkpoint: %v", err)
	}
	if done, _ := s.Done(ctx, "m", "k2"); done {
		t.Fatal("fenced commit was recorded")
	}
	if err := s.Quarantine(ctx, store.QuarantineItem{Mailbox: "m", Key: "q", Reason: "broken", Fence: 2}, bytes.NewReader([]byte("raw"))); err != nil {
		t.Fatal(err)
	}
	q := s.Quarantined("m")
	if len(q) != 1 || string(q[0].Raw) != "raw" || q[0].Reason != "broken" {
		t.Fatalf("%+v", q)
	}
	if len(s.Records("m")) != 1 {
		t.Fatal("records")
	}
}
