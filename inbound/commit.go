package inbound

import (
	"context"
	"time"

	"github.com/correio-dev/correio/store"
)

// Group commits. During a sync, the records of successful hand-offs (key,
// checkpoint, receipt) are kept in the worker and written together, in one
// store transaction (store.BatchCommitter), when CommitBatch of them are
// waiting, when the oldest has waited CommitWithin (checked as each
// hand-off returns and before the next starts), when the next message is
// not fetched yet, before any other store write of the mailbox and always
// before the batch's post-actions are applied. A message therefore still
// leaves the server's view only once its key is durable (guarantee 1). What
// widens is guarantee 2's in-flight window: a crash can repeat, with the
// same Delivery.Key, the hand-offs not yet committed, at most CommitBatch
// of them (and never more than one fetch batch) instead of one. CommitBatch
// 1 restores one commit per hand-off; HandleInTx hosts have no window at
// all, as before (their key commits in their own transaction).

// grouping reports whether w groups its commits: a store with
// CommitBatch, CommitBatch above 1, and inside a sync (Ingest commits each
// message before it returns).
func (w *worker) grouping() bool {
	_, ok := w.p.o.Store.(store.BatchCommitter)
	return ok && w.syncing && w.p.o.CommitBatch > 1
}

// record commits r, or keeps it for the group commit. rc is r's receipt
// (its post-action), owed once r is durable.
func (w *worker) record(ctx context.Context, r store.InboundRecord) error {
	if !w.grouping() {
		if err := w.p.o.Store.Commit(ctx, r); err != nil {
			return err
		}
		w.owe(r.Key, r.Receipt)
		return nil
	}
	if len(w.pend) == 0 {
		w.pendSince = w.p.clk.Now()
	}
	w.pend = append(w.pend, r)
	if w.pendKeys == nil {
		w.pendKeys = map[string]bool{}
	}
	w.pendKeys[r.Key] = true
	if len(w.pend) >= w.p.o.CommitBatch {
		return w.flush(ctx)
	}
	return w.flushIfOld(ctx)
}

// flushIfOld commits the kept records when the oldest has waited
// CommitWithin.
func (w *worker) flushIfOld(ctx context.Context) error {
	if len(w.pend) > 0 && w.p.clk.Now().Sub(w.pendSince) >= w.p.o.CommitWithin {
		return w.flush(ctx)
	}
	return nil
}

// pending reports whether key waits in the group commit (handed off in
// this batch, not durable yet): the same message again is a duplicate.
func (w *worker) pending(key string) bool { return w.pendKeys[key] }

// flush writes the kept records in one transaction; only then are their
// post-actions owed. On failure nothing of them is owed: their messages
// stay on the server unchanged and are read (and handed) again.
func (w *worker) flush(ctx context.Context) error {
	if len(w.pend) == 0 {
		return nil
	}
	rs := w.pend
	w.pend = w.pend[:0:0]
	clear(w.pendKeys)
	if err := w.p.o.Store.(store.BatchCommitter).CommitBatch(ctx, rs); err != nil {
		return err
	}
	for _, r := range rs {
		w.owe(r.Key, r.Receipt)
	}
	return nil
}

// setCheckpoint moves the checkpoint without a key, after the kept
// records (so the checkpoints stay in order).
func (w *worker) setCheckpoint(ctx context.Context, folder string, cp store.Checkpoint) error {
	if err := w.flush(ctx); err != nil {
		return err
	}
	return w.p.o.Store.SetCheckpoint(ctx, w.mb.ID, folder, cp, w.fence)
}

// commitWithinDefault is a zero CommitWithin's value.
func commitWithinDefault(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultCommitWithin
	}
	return d
}
