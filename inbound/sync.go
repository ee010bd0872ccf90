package inbound

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/transport"
)

// sinceSlack allows for INTERNALDATE's one-second resolution and for clock
// skew between the server and us when comparing with store.Checkpoint.Since:
// mail dated this close to the start is read rather than risked.
const sinceSlack = 5 * time.Minute

// sync hands off every message above the checkpoint.
//
// A producer goroutine fetches the messages batch by batch (one UID FETCH
// each) while this goroutine hands them off in UID order, so the server
// keeps sending while the host works. At most two batches are in flight, and
// the channel holds both, so a FETCH never waits on the handler (its
// deadline only measures the server). Post-actions are applied per batch
// on the same session, concurrently with the next FETCH.
func (w *worker) sync(ctx context.Context, s transport.Session, folder string, cp *store.Checkpoint) error {
	p := w.p
	in := w.mb.Inbound
	infos, err := s.List(ctx, cursorOf(*cp))
	if err != nil {
		return err
	}
	if len(infos) == 0 {
		return nil
	}
	if !infos[0].Date.IsZero() {
		lag := p.clk.Now().Sub(infos[0].Date)
		p.update(w.mb.ID, func(h *engine.Health) (engine.State, string) { h.Lag = max(lag, 0); return "", "" })
	}
	p.update(w.mb.ID, func(*engine.Health) (engine.State, string) { return engine.StateFetching, "" })

	maxSize := in.MaxMessageSizeOrDefault()
	wanted := func(i transport.Item) bool {
		return (in.StartFrom != mailbox.StartUnseen || !i.Seen) && i.Size <= maxSize
	}
	bs := p.o.BatchSize
	var batches [][]transport.Item
	for len(infos) > 0 {
		n := min(len(infos), bs)
		batches = append(batches, infos[:n])
		infos = infos[n:]
	}
	if w.limit > 0 && len(batches) > w.limit { // a short session's turn
		batches, w.more = batches[:w.limit], true
	}

	// Producer. endOfBatch follows the spools of each batch: a message
	// whose batch ended without it is gone from the server (another client
	// expunged it meanwhile), so nobody waits for it. The channel holds the
	// two batches in flight, their ends and one end not yet read.
	fctx, stopFetch := context.WithCancel(ctx)
	endOfBatch := &transport.Spool{}
	arrived := make(chan *transport.Spool, 2*bs+3)
	tokens := make(chan struct{}, 2) // batches in flight
	var fetchErr error
	fetched := make(chan struct{})
	go func() {
		defer close(fetched)
		defer close(arrived)
		for _, batch := range batches {
			var want []transport.Item
			for _, i := range batch {
				if wanted(i) {
					want = append(want, i)
				}
			}
			select {
			case tokens <- struct{}{}:
			case <-fctx.Done():
				return
			}
			if len(want) > 0 {
				if err := s.Fetch(fctx, want, func(sp *transport.Spool) { arrived <- sp }); err != nil {
					if fctx.Err() == nil {
						fetchErr = err
					}
					return
				}
			}
			arrived <- endOfBatch
		}
	}()
	byID := map[string]*transport.Spool{}
	current, ended := 0, 0 // the batch being handed off; batches whose end arrived
	// spool waits for id's message; nil with a nil error means the server
	// no longer has it, nil with an error that the fetch failed first.
	spool := func(id string) (*transport.Spool, error) {
		for {
			if sp, ok := byID[id]; ok {
				delete(byID, id)
				return sp, nil
			}
			if ended > current { // its batch ended without it
				return nil, nil
			}
			sp, ok := <-arrived
			if !ok {
				<-fetched
				if fetchErr == nil && ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, fetchErr
			}
			if sp == endOfBatch {
				ended++
				continue
			}
			if old := byID[sp.ID]; old != nil { // sent twice (cannot happen; be safe)
				_ = old.Close()
			}
			byID[sp.ID] = sp
		}
	}
	defer func() {
		stopFetch()
		<-fetched
		for sp := range arrived {
			_ = sp.Close()
		}
		for _, sp := range byID {
			_ = sp.Close()
		}
	}()

	bg := context.WithoutCancel(ctx)
	var failure error
	for bi, batch := range batches {
		current = bi
		// One MaxHandoffs slot per batch, not per backlog: a mailbox with
		// a long backlog delays another's new mail by one batch at most
		// (the semaphore serves waiters in order).
		if err := p.handoff.Acquire(ctx, 1); err != nil {
			break
		}
		var post, quarantine []string
		for _, i := range batch {
			if ctx.Err() != nil {
				break
			}
			var next store.Checkpoint
			if next, failure = checkpointOf(i.Cursor, cp.Since); failure != nil {
				break
			}
			var q, handed bool
			q, handed, failure = w.one(ctx, folder, next, i, spool)
			if failure != nil {
				break
			}
			if q {
				quarantine = append(quarantine, i.ID)
			} else if handed {
				post = append(post, i.ID)
			}
			*cp = next
		}
		// Post-actions of what was committed, even when the batch stopped;
		// kept for the next session when they fail.
		if err := w.postActions(bg, s, post, quarantine); err != nil {
			w.pending.done = append(w.pending.done, post...)
			w.pending.quarantined = append(w.pending.quarantined, quarantine...)
			if failure == nil {
				failure = err
			}
		}
		p.handoff.Release(1)
		if failure != nil || ctx.Err() != nil {
			break
		}
		<-tokens // this batch is done: let the producer start another
	}
	if failure == nil && ctx.Err() == nil {
		// Let the last FETCH finish before the deferred stopFetch: a
		// cancelled fetch closes the connection.
		<-fetched
		failure = fetchErr
	}
	return failure
}

// one processes message i: skips it, quarantines it, or hands it off,
// committing next, the checkpoint that passes it. It returns whether it was
// quarantined or handed (for post-actions).
func (w *worker) one(ctx context.Context, folder string, next store.Checkpoint, i transport.Item, spool func(string) (*transport.Spool, error)) (quarantined, handed bool, err error) {
	p := w.p
	in := w.mb.Inbound
	bg := context.WithoutCancel(ctx)
	maxSize := in.MaxMessageSizeOrDefault()
	switch {
	case in.StartFrom == mailbox.StartNew && !next.Since.IsZero() && !i.Date.IsZero() && i.Date.Before(next.Since.Add(-sinceSlack)):
		// Older than the mailbox's start: after a UIDVALIDITY change the
		// folder is re-read, but "new only" never reads the old mail.
		return false, false, p.o.Store.SetCheckpoint(bg, w.mb.ID, folder, next, w.fence)
	case in.StartFrom == mailbox.StartUnseen && i.Seen:
		// Someone read it; "unseen only" skips it.
		return false, false, p.o.Store.SetCheckpoint(bg, w.mb.ID, folder, next, w.fence)
	case i.Size > maxSize:
		key := tooLargeKey(i)
		reason := fmt.Sprintf("message of %d bytes exceeds the mailbox limit of %d bytes", i.Size, maxSize)
		if err := w.quarantine(bg, folder, next, i, key, i.Size, reason, nil); err != nil {
			return false, false, err
		}
		return true, false, nil
	}
	sp, err := spool(i.ID)
	if te := (*transport.Error)(nil); errors.As(err, &te) && te.Item != "" && te.Item == i.ID {
		// The server sent this message far larger than it listed it: the
		// fetch was stopped before it was read; it is not fetched again.
		if err := w.quarantine(bg, folder, next, i, tooLargeKey(i), i.Size, "message refused unread: "+redact(w.mb, err), nil); err != nil {
			return false, false, err
		}
		return true, false, nil
	}
	if err != nil {
		return false, false, err
	}
	if sp == nil { // expunged by someone else meanwhile
		return false, false, p.o.Store.SetCheckpoint(bg, w.mb.ID, folder, next, w.fence)
	}
	defer sp.Close()
	q, err := w.deliver(ctx, folder, next, i, sp)
	if err != nil {
		return false, false, err
	}
	return q, !q, nil
}

// tooLargeKey is the key of a message quarantined unread for its size:
// IMAP's UIDVALIDITY and UID, as always, else the transport's id.
func tooLargeKey(i transport.Item) string {
	if i.UID != 0 {
		return fmt.Sprintf("toolarge:%d:%d", i.UIDValidity, i.UID)
	}
	return "toolarge:" + i.ID
}

// applyPending applies the post-actions a broken session left behind,
// unless the session's cursor was reset (IMAP: the folder's UIDVALIDITY
// changed, so the UIDs mean other messages now, and they are dropped).
func (w *worker) applyPending(ctx context.Context, s transport.Session, reset bool) error {
	pd := w.pending
	if len(pd.done) == 0 && len(pd.quarantined) == 0 {
		return nil
	}
	if reset {
		w.p.log.Warn("inbound: the mailbox's cursor was reset (IMAP: UIDVALIDITY changed); dropping pending post-actions", "mailbox", string(w.mb.ID), "messages", len(pd.done)+len(pd.quarantined))
		w.pending = pendingPost{}
		return nil
	}
	if err := w.postActions(ctx, s, pd.done, pd.quarantined); err != nil {
		return err
	}
	w.pending = pendingPost{}
	return nil
}

func (w *worker) postActions(ctx context.Context, s transport.Session, done, quarantined []string) error {
	in := w.mb.Inbound
	var err error
	switch in.PostAction {
	case mailbox.PostSeen, mailbox.PostMove, mailbox.PostDelete:
		if len(done) > 0 {
			err = s.Apply(ctx, transport.Action{Kind: in.PostAction, Folder: in.MoveTo}, done)
		}
	}
	if in.QuarantineFolder != "" && len(quarantined) > 0 {
		err = errors.Join(err, s.Apply(ctx, transport.Action{Kind: mailbox.PostMove, Folder: in.QuarantineFolder}, quarantined))
	}
	return err
}
