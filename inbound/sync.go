package inbound

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/internal/telemetry"
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
// deadline only measures the server). Between the two, the parse stage
// (prepare.go) parses the messages a few ahead of the hand-offs.
// Post-actions are applied per batch on the same session, concurrently
// with the next FETCH.
func (w *worker) sync(ctx context.Context, s transport.Session, folder string, cp *store.Checkpoint) error {
	p := w.p
	in := w.mb.Inbound
	w.syncing = true
	clear(w.recent[0])
	clear(w.recent[1])
	defer func() { w.syncing = false }()
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
				bctx, span := p.tracer.Start(fctx, "correio.inbound.fetch", trace.WithSpanKind(trace.SpanKindClient),
					trace.WithAttributes(telemetry.AttrMsgOpName.String("fetch"), telemetry.AttrMsgOpType.String("receive"),
						telemetry.AttrMsgBatchCount.Int(len(want))))
				err := s.Fetch(bctx, want, func(sp *transport.Spool) { arrived <- sp })
				telemetry.Fail(span, err)
				span.End()
				if err != nil {
					if fctx.Err() == nil {
						fetchErr = err
					}
					return
				}
			}
			arrived <- endOfBatch
		}
	}()
	ready := make(chan *prepared, prepareAhead)
	go w.prepare(fctx, arrived, ready, endOfBatch)
	byID := map[string]*prepared{}
	current, ended := 0, 0 // the batch being handed off; batches whose end arrived
	// spool waits for id's message; nil with a nil error means the server
	// no longer has it, nil with an error that the fetch failed first.
	spool := func(id string) (*prepared, error) {
		for {
			if pr, ok := byID[id]; ok {
				delete(byID, id)
				return pr, nil
			}
			if ended > current { // its batch ended without it
				return nil, nil
			}
			var pr *prepared
			var ok bool
			if len(w.pend) == 0 {
				pr, ok = <-ready
			} else {
				// Records wait for the group commit: wait for the
				// server no longer than CommitWithin allows them.
				t := p.clk.NewTimer(max(p.o.CommitWithin-p.clk.Now().Sub(w.pendSince), 0))
				select {
				case pr, ok = <-ready:
					t.Stop()
				case <-t.C():
					if err := w.flush(context.WithoutCancel(ctx)); err != nil {
						return nil, err
					}
					pr, ok = <-ready
				}
			}
			if !ok {
				<-fetched
				if fetchErr == nil && ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, fetchErr
			}
			if pr.sp == endOfBatch {
				ended++
				continue
			}
			if old := byID[pr.sp.ID]; old != nil { // sent twice (cannot happen; be safe)
				_ = old.sp.Close()
			}
			byID[pr.sp.ID] = pr
		}
	}
	defer func() {
		stopFetch()
		for pr := range ready { // the parse stage ends once the producer has
			if pr.sp != endOfBatch {
				_ = pr.sp.Close()
			}
		}
		<-fetched
		for _, pr := range byID {
			_ = pr.sp.Close()
		}
	}()

	var failure error
	for bi, batch := range batches {
		current = bi
		// One MaxHandoffs slot per batch, not per backlog: a mailbox with
		// a long backlog delays another's new mail by one batch at most
		// (the semaphore serves waiters in order).
		if err := p.handoff.Acquire(ctx, 1); err != nil {
			break
		}
		w.owed = w.owed[:0]
		w.nextBatch()
		for _, i := range batch {
			if ctx.Err() != nil {
				break
			}
			var next store.Checkpoint
			if next, failure = checkpointOf(i.Cursor, cp.Since); failure != nil {
				break
			}
			if failure = w.one(ctx, folder, next, i, spool); failure != nil {
				break
			}
			*cp = next
		}
		// Post-actions of what was committed, even when the batch stopped;
		// their receipts stay in the store for the next session when they
		// fail. The batch's group commit comes first: a post-action is
		// applied only once its key is durable.
		fctx, done := p.finishing(ctx)
		if err := w.flush(fctx); err != nil && failure == nil {
			failure = err
		}
		if err := w.settle(fctx, s, w.owed); err != nil && failure == nil {
			failure = err
		}
		done()
		w.owed = w.owed[:0]
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
// committing next, the checkpoint that passes it (and the receipt of its
// post-action, kept in w.owed).
func (w *worker) one(ctx context.Context, folder string, next store.Checkpoint, i transport.Item, spool func(string) (*prepared, error)) error {
	in := w.mb.Inbound
	bg := context.WithoutCancel(ctx)
	maxSize := in.MaxMessageSizeOrDefault()
	switch {
	case in.StartFrom == mailbox.StartNew && !next.Since.IsZero() && !i.Date.IsZero() && i.Date.Before(next.Since.Add(-sinceSlack)):
		// Older than the mailbox's start: after a UIDVALIDITY change the
		// folder is re-read, but "new only" never reads the old mail.
		return w.setCheckpoint(bg, folder, next)
	case in.StartFrom == mailbox.StartUnseen && i.Seen:
		// Someone read it; "unseen only" skips it.
		return w.setCheckpoint(bg, folder, next)
	case i.Size > maxSize:
		key := tooLargeKey(i)
		reason := fmt.Sprintf("message of %d bytes exceeds the mailbox limit of %d bytes", i.Size, maxSize)
		return w.quarantine(bg, folder, next, i, key, i.Size, reason, nil)
	}
	pr, err := spool(i.ID)
	if te := (*transport.Error)(nil); errors.As(err, &te) && te.Item != "" && te.Item == i.ID {
		// The server sent this message far larger than it listed it: the
		// fetch was stopped before it was read; it is not fetched again.
		return w.quarantine(bg, folder, next, i, tooLargeKey(i), i.Size, "message refused unread: "+redact(w.mb, err), nil)
	}
	if err != nil {
		return err
	}
	if pr == nil { // expunged by someone else meanwhile
		return w.setCheckpoint(bg, folder, next)
	}
	defer pr.sp.Close()
	res, err := w.deliverOne(ctx, folder, next, i, pr.sp, pr)
	if err == nil {
		w.noteKey(res.Key)
	}
	return err
}

// tooLargeKey is the key of a message quarantined unread for its size:
// IMAP's UIDVALIDITY and UID, as always, else the transport's id.
func tooLargeKey(i transport.Item) string {
	if i.UID != 0 {
		return fmt.Sprintf("toolarge:%d:%d", i.UIDValidity, i.UID)
	}
	return "toolarge:" + i.ID
}

// finishing returns a context for work that must finish even when ctx (the
// worker's) ends, a hand-off or post-actions, unless Stop's deadline is
// near: Poller.abort ends it.
func (p *Poller) finishing(ctx context.Context) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(p.abort, cancel)
	return c, func() { stop(); cancel() }
}

// owe keeps rc, the receipt committed with key, for the batch's
// post-actions.
func (w *worker) owe(key string, rc *store.Receipt) {
	if rc == nil {
		return
	}
	r := *rc
	r.Key = key
	w.owed = append(w.owed, r)
}

// applyPending applies the post-actions the store still owes (receipts a
// crash, or a session broken between a commit and its post-action, left
// behind), then clears their receipts. Receipts of another UIDVALIDITY,
// and all of them when the session's cursor was reset (IMAP: the folder's
// UIDVALIDITY changed), name other messages now: they are cleared unapplied.
func (w *worker) applyPending(ctx context.Context, s transport.Session, reset bool) error {
	ctx, done := w.p.finishing(ctx)
	defer done()
	st := w.p.o.Store
	folder := w.mb.Inbound.FolderOrDefault()
	rs, err := st.Receipts(ctx, w.mb.ID, folder)
	if err != nil || len(rs) == 0 {
		return err
	}
	cp, _, err := st.Checkpoint(ctx, w.mb.ID, folder)
	if err != nil {
		return err
	}
	var stale []string
	apply := rs[:0:0]
	for _, r := range rs {
		if reset || r.UIDValidity != cp.UIDValidity {
			stale = append(stale, r.Key)
		} else {
			apply = append(apply, r)
		}
	}
	if len(stale) > 0 {
		w.p.log.Warn("inbound: the mailbox's cursor was reset (IMAP: UIDVALIDITY changed); dropping pending post-actions", "mailbox", string(w.mb.ID), "messages", len(stale))
		if err := st.ClearReceipts(ctx, w.mb.ID, stale); err != nil {
			return err
		}
	}
	return w.settle(ctx, s, apply)
}

// settle applies the post-actions of rs on s, one Apply per action and
// target in the order they first appear, and clears the receipts of those
// applied. A message no longer on the server is harmless to Apply
// (transport.Session): its receipt is cleared too.
func (w *worker) settle(ctx context.Context, s transport.Session, rs []store.Receipt) error {
	if len(rs) == 0 {
		return nil
	}
	type group struct {
		a    transport.Action
		ids  []string
		keys []string
	}
	var groups []*group
	for _, r := range rs {
		a := transport.Action{Kind: r.Action, Folder: r.Folder}
		var g *group
		for _, h := range groups {
			if h.a == a {
				g = h
				break
			}
		}
		if g == nil {
			g = &group{a: a}
			groups = append(groups, g)
		}
		g.ids = append(g.ids, r.ItemID)
		g.keys = append(g.keys, r.Key)
	}
	var applied []string
	var errs error
	for _, g := range groups {
		if err := s.Apply(ctx, g.a, g.ids); err != nil {
			errs = errors.Join(errs, err)
			continue
		}
		applied = append(applied, g.keys...)
	}
	if len(applied) > 0 {
		if err := w.p.o.Store.ClearReceipts(ctx, w.mb.ID, applied); err != nil {
			errs = errors.Join(errs, err)
		}
	}
	return errs
}
