package inbound

import (
	"context"
	"errors"
	"strings"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/internal/breaker"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/transport"
)

// errPaused wraps a temporary handler failure.
type errPaused struct{ err error }

func (e *errPaused) Error() string { return "handler: " + e.err.Error() }

func (e *errPaused) Unwrap() error { return e.err }

// worker reads one mailbox.
type worker struct {
	p  *Poller
	mb *mailbox.Mailbox // the worker's own copy
	// src is the catalog's snapshot mb was cloned from (guarded by
	// Poller.mu), to tell a changed mailbox from an unchanged one.
	src    *mailbox.Mailbox
	br     *breaker.Breaker
	cancel context.CancelFunc
	done   chan struct{}
	// started and closed are guarded by Poller.mu.
	started, closed bool

	fence   int64
	own     []string // our addresses, refreshed per session
	senders map[string][]time.Time
	pauses  int // consecutive temporary handler failures

	// owed are the receipts (store.Receipt) committed in the batch being
	// handed off: its post-actions, applied at the batch's end. Receipts
	// whose post-action failed, or that a crash left, stay in the store
	// and are applied by the next session (applyPending). Only the
	// worker's goroutine uses them.
	owed []store.Receipt
}

func (w *worker) run(ctx context.Context) {
	p := w.p
	attempt := 0
	for ctx.Err() == nil {
		if ok, until := w.br.Allow(); !ok {
			p.update(w.mb.ID, func(h *engine.Health) (engine.State, string) { return engine.StateDown, "" })
			if !p.sleep(ctx, max(until.Sub(p.clk.Now()), time.Millisecond)) {
				return
			}
			continue
		}
		err := w.session(ctx, &attempt)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			continue
		}
		msg := redact(w.mb, err)
		var pe *errPaused
		if errors.As(err, &pe) {
			p.log.Warn("inbound: handler failed; pausing", "mailbox", string(w.mb.ID), "err", msg)
			p.update(w.mb.ID, func(h *engine.Health) (engine.State, string) {
				h.LastError, h.LastErrorAt = msg, p.clk.Now()
				h.ConsecutiveFailures++
				return engine.StatePaused, msg
			})
			if !p.sleep(ctx, p.backoff.Delay(w.pauses)) {
				return
			}
			w.pauses++
			continue
		} else {
			open := w.br.Failure()
			p.log.Warn("inbound: mailbox failed", "mailbox", string(w.mb.ID), "err", msg)
			p.update(w.mb.ID, func(h *engine.Health) (engine.State, string) {
				h.LastError, h.LastErrorAt = msg, p.clk.Now()
				h.ConsecutiveFailures++
				if open {
					return engine.StateDown, msg
				}
				return engine.StateRetrying, msg
			})
			if open {
				continue // the breaker decides when to try again
			}
		}
		// A server that said how long to wait (Retry-After) is not asked
		// sooner.
		if !p.sleep(ctx, max(p.backoff.Delay(attempt), transport.RetryAfter(err))) {
			return
		}
		attempt++
	}
}

func (w *worker) success(attempt *int) {
	*attempt = 0
	w.br.Success()
	paused := w.pauses > 0
	w.p.update(w.mb.ID, func(h *engine.Health) (engine.State, string) {
		h.LastSuccess = w.p.clk.Now()
		if !paused {
			h.LastError, h.ConsecutiveFailures = "", 0
		}
		return "", ""
	})
}

// session runs one connection: connect, select, sync, wait, sync ... until
// an error or ctx ends.
func (w *worker) session(ctx context.Context, attempt *int) error {
	p := w.p
	in := w.mb.Inbound
	p.update(w.mb.ID, func(*engine.Health) (engine.State, string) { return engine.StateConnecting, "" })
	hostSem := p.host(strings.ToLower(in.Server.Host))
	for _, sem := range []*semaphore.Weighted{hostSem, p.conns} {
		if !sem.TryAcquire(1) {
			p.update(w.mb.ID, func(*engine.Health) (engine.State, string) { return engine.StateQueued, "" })
			if err := sem.Acquire(ctx, 1); err != nil {
				return nil
			}
			p.update(w.mb.ID, func(*engine.Health) (engine.State, string) { return engine.StateConnecting, "" })
		}
		defer sem.Release(1)
	}
	if p.o.Leaser != nil {
		f, err := p.o.Leaser.Fence(ctx, w.mb.ID)
		if err != nil {
			return err
		}
		w.fence = f
	}
	s, err := p.o.Source.Open(ctx, w.mb)
	if err != nil {
		return err
	}
	// A cancelled ctx drops the connection at once.
	defer func() { _ = s.Close(ctx) }()
	folder := in.FolderOrDefault()
	st := p.o.Store
	bg := context.WithoutCancel(ctx)
	cp, ok, err := st.Checkpoint(ctx, w.mb.ID, folder)
	if err != nil {
		return err
	}
	var stored transport.Cursor
	if ok {
		stored = cursorOf(cp)
	}
	startNew := !ok && in.StartFrom == mailbox.StartNew
	from, reset, err := s.Resume(ctx, stored, startNew)
	if err != nil {
		return err
	}
	if !ok || reset {
		since := cp.Since
		if startNew {
			since = p.clk.Now()
		}
		if reset {
			p.log.Warn("inbound: the mailbox's cursor no longer applies (IMAP: UIDVALIDITY changed); re-reading the folder (keys prevent duplicates)", "mailbox", string(w.mb.ID), "old", string(stored), "new", string(from))
		}
		if cp, err = checkpointOf(from, since); err != nil {
			return err
		}
	}
	// Written on every connect: with leases this is where a replica that
	// lost its lease learns it (store.ErrFenced) before handing anything off.
	if !ok || reset || p.o.Leaser != nil {
		if err := st.SetCheckpoint(bg, w.mb.ID, folder, cp, w.fence); err != nil {
			return err
		}
	}
	if err := w.applyPending(bg, s, reset); err != nil {
		return err
	}
	w.success(attempt)
	w.own = w.ownAddresses()
	push := s.Push()
	for {
		if err := w.sync(ctx, s, folder, &cp); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		p.update(w.mb.ID, func(h *engine.Health) (engine.State, string) { h.Push, h.Lag = push, 0; return engine.StateWaiting, "" })
		// Push sessions wait for the server, renewed every IdleRenew;
		// the others poll.
		d := in.PollIntervalOrDefault()
		if push {
			d = p.o.IdleRenew
		}
		t := p.clk.NewTimer(d)
		err := s.Wait(ctx, t.C())
		t.Stop()
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}
