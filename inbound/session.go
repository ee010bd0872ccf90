package inbound

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/internal/breaker"
	"github.com/correio-dev/correio/internal/telemetry"
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
	senders senderLog
	pauses  int // consecutive temporary handler failures

	// hold is the state that needs a person the mailbox is in (auth
	// failed, re-authorisation required, down), "" otherwise; authFails
	// counts the retries of a refused login. kick is CheckNow's signal.
	hold      engine.State
	authFails int
	kick      chan struct{}
	// waitTimer is the timer of the kept session's wait in progress (nil
	// outside it), fired by CheckNow; guarded by waitMu.
	waitMu    sync.Mutex
	waitTimer clock.Timer
	// keyPrefix prefixes the keys of a released quarantined message.
	keyPrefix string

	// member is the mailbox's place in the connection budget; limit caps
	// the batches one sync hands off (0: all; short sessions take their
	// turn and come back) and more says the last sync left some.
	member *member
	limit  int
	more   bool

	// owed are the receipts (store.Receipt) committed in the batch being
	// handed off: its post-actions, applied at the batch's end. Receipts
	// whose post-action failed, or that a crash left, stay in the store
	// and are applied by the next session (applyPending). Only the
	// worker's goroutine uses them.
	owed []store.Receipt

	// syncing is set while sync hands off (group commits apply); pend
	// holds the records waiting for the group commit (commit.go), with
	// their keys and the time the oldest was kept.
	syncing   bool
	pend      []store.InboundRecord
	pendKeys  map[string]bool
	pendSince time.Time
	// recent are the keys handled in the fetch batch being handed off
	// and the one before (prepare.go).
	recent [2]map[string]bool
}

// rotationBatches is how many batches a short session hands off before
// it logs out and takes its turn again, so a backlog does not hold a
// rotation slot for long.
const rotationBatches = 4

func (w *worker) run(ctx context.Context) {
	p := w.p
	in := w.mb.Inbound
	w.member = p.sched.join(in.Server.Host, in.Credentials.Username)
	defer p.sched.leave(w.member)
	attempt := 0
	for ctx.Err() == nil {
		if w.hold == engine.StateReauthRequired {
			// Only a person can fix it: wait for a changed mailbox (its
			// worker is restarted) or CheckNow.
			if !w.waitKick(ctx) {
				return
			}
		}
		if ok, until := w.br.Allow(); !ok {
			if w.hold == "" {
				p.update(w.mb.ID, func(h *engine.Health) (engine.State, string) { return engine.StateDown, "" })
			}
			if !w.nap(ctx, max(until.Sub(p.clk.Now()), time.Millisecond)) {
				return
			}
			continue
		}
		w.expectCheck()
		turn := p.clk.Now()
		g, err := p.sched.acquire(ctx, w.member, func() {
			if w.hold == "" {
				p.update(w.mb.ID, func(*engine.Health) (engine.State, string) { return engine.StateQueued, "" })
			}
		})
		if err != nil {
			return
		}
		t0 := p.clk.Now()
		next, err := w.session(ctx, g, &attempt)
		p.sched.release(g, p.clk.Now().Sub(t0))
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			// A short session: the next turn comes after the interval,
			// less twice what this turn took (the wait for a slot,
			// connecting, the check), so the checks keep to the interval
			// while a turn takes up to twice as long as this one; at
			// least half the interval.
			if !g.kept && !w.nap(ctx, max(next-2*p.clk.Now().Sub(turn), next/2)) {
				return
			}
			// A revoked kept session rotates from now on; its next check
			// is its first turn.
			now := p.clk.Now()
			p.updateRecord(w.mb.ID, func(e *mbHealth) (engine.State, string) {
				p.setDeadlineLocked(e, time.Time{})
				e.h.Mode, e.h.Push, e.h.NextCheck = engine.ModeRotating, false, now
				return "", ""
			})
			continue
		}
		p.updateRecord(w.mb.ID, func(e *mbHealth) (engine.State, string) { p.setDeadlineLocked(e, time.Time{}); return "", "" })
		msg := redact(w.mb, err)
		var pe *errPaused
		if errors.As(err, &pe) {
			w.hold = ""
			p.log.Warn("inbound: handler failed; pausing", "mailbox", string(w.mb.ID), "err", msg)
			p.update(w.mb.ID, func(h *engine.Health) (engine.State, string) {
				h.LastError, h.LastErrorAt = msg, p.clk.Now()
				h.ConsecutiveFailures++
				return engine.StatePaused, msg
			})
			if !w.nap(ctx, p.backoff.Delay(w.pauses)) {
				return
			}
			w.pauses++
			continue
		}
		switch hold := holdFor(err); hold {
		case engine.StateReauthRequired:
			w.enterHold(hold, msg, hintOf(hold, err, w.mb))
			continue // waits for a person at the top of the loop
		case engine.StateAuthFailed:
			// Not the breaker's backoff: a few retries an hour, so the
			// provider does not lock the account.
			w.enterHold(hold, msg, hintOf(hold, err, w.mb))
			if !w.nap(ctx, p.o.AuthRetry.Delay(w.authFails)) {
				return
			}
			w.authFails++
			continue
		}
		open := w.br.Failure()
		if open || errors.Is(err, transport.ErrTLS) {
			w.enterHold(engine.StateDown, msg, hintOf(engine.StateDown, err, w.mb))
			if open {
				continue // the breaker decides when to try again
			}
		} else {
			w.hold = ""
			p.log.Warn("inbound: mailbox failed", "mailbox", string(w.mb.ID), "err", msg)
			p.update(w.mb.ID, func(h *engine.Health) (engine.State, string) {
				h.LastError, h.LastErrorAt = msg, p.clk.Now()
				h.ConsecutiveFailures++
				if h.DownSince.IsZero() {
					h.DownSince = h.LastErrorAt
				}
				return engine.StateRetrying, msg
			})
		}
		// A server that said how long to wait (Retry-After) is not asked
		// sooner.
		if !w.nap(ctx, max(p.backoff.Delay(attempt), transport.RetryAfter(err))) {
			return
		}
		attempt++
	}
}

func (w *worker) success(attempt *int) {
	*attempt = 0
	w.br.Success()
	w.hold, w.authFails = "", 0
	paused := w.pauses > 0
	w.p.update(w.mb.ID, func(h *engine.Health) (engine.State, string) {
		h.LastSuccess, h.DownSince = w.p.clk.Now(), time.Time{}
		if !paused {
			h.LastError, h.ConsecutiveFailures = "", 0
		}
		return "", ""
	})
}

// expectCheck gives a mailbox that has no bound yet (it just started, or
// recovered from a failure) one: the check delay, or twice the estimated
// rotation when that is longer.
func (w *worker) expectCheck() {
	p := w.p
	grace := max(p.o.MaxCheckDelay, 2*p.sched.cycle(w.member))
	now := p.clk.Now()
	p.updateRecord(w.mb.ID, func(e *mbHealth) (engine.State, string) {
		if e.deadline.IsZero() {
			p.setDeadlineLocked(e, now.Add(grace))
		}
		return "", ""
	})
}

// checked records a check of the mailbox: mode, now, the next check in
// next, and the bound past which it is over budget.
func (w *worker) checked(mode engine.Mode, next time.Duration) {
	p := w.p
	grace := p.o.MaxCheckDelay
	if mode == engine.ModeRotating {
		grace = max(grace, 2*p.sched.cycle(w.member))
	}
	now := p.clk.Now()
	p.updateRecord(w.mb.ID, func(e *mbHealth) (engine.State, string) {
		e.h.Mode, e.h.LastCheck, e.h.NextCheck = mode, now, now.Add(next)
		e.h.Push, e.h.Lag = mode == engine.ModePush, 0
		p.setDeadlineLocked(e, now.Add(next+grace))
		return engine.StateWaiting, ""
	})
}

// session runs one connection on grant g. A kept grant connects, syncs,
// waits, syncs ... until an error, ctx ends or the grant is revoked; a
// short one connects, syncs (up to rotationBatches batches), logs out and
// returns when the next turn is due.
func (w *worker) session(ctx context.Context, g *grant, attempt *int) (_ time.Duration, err error) {
	p := w.p
	in := w.mb.Inbound
	// One span per session: a kept session's span ends after its first
	// check, and each later check is a span of its own, linked to it.
	ctx, span := p.tracer.Start(ctx, "correio.inbound.session", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(append(telemetry.Server(w.mb), telemetry.AttrMsgOpName.String("session"), telemetry.AttrMsgOpType.String("receive"))...))
	sessionLink := trace.LinkFromContext(ctx)
	var checkSpan trace.Span
	endSpan := func(err error) {
		if span != nil {
			telemetry.Fail(span, err)
			span.End()
			span = nil
		}
		if checkSpan != nil {
			telemetry.Fail(checkSpan, err)
			checkSpan.End()
			checkSpan = nil
		}
	}
	defer func() { endSpan(err) }()
	if w.hold == "" { // a mailbox that needs a person stays in its state while retried
		p.update(w.mb.ID, func(*engine.Health) (engine.State, string) { return engine.StateConnecting, "" })
	}
	if p.o.Leaser != nil {
		f, err := p.o.Leaser.Fence(ctx, w.mb.ID)
		if err != nil {
			return 0, err
		}
		w.fence = f
	}
	s, err := p.o.Source.Open(ctx, w.mb)
	if err != nil {
		return 0, err
	}
	// A cancelled ctx drops the connection at once.
	defer func() { _ = s.Close(ctx) }()
	folder := in.FolderOrDefault()
	st := p.o.Store
	bg := context.WithoutCancel(ctx)
	cp, ok, err := st.Checkpoint(ctx, w.mb.ID, folder)
	if err != nil {
		return 0, err
	}
	var stored transport.Cursor
	if ok {
		stored = cursorOf(cp)
	}
	startNew := !ok && in.StartFrom == mailbox.StartNew
	from, reset, err := s.Resume(ctx, stored, startNew)
	if err != nil {
		return 0, err
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
			return 0, err
		}
	}
	// Written on every connect: with leases this is where a replica that
	// lost its lease learns it (store.ErrFenced) before handing anything off.
	if !ok || reset || p.o.Leaser != nil {
		if err := st.SetCheckpoint(bg, w.mb.ID, folder, cp, w.fence); err != nil {
			return 0, err
		}
	}
	if err := w.applyPending(bg, s, reset); err != nil {
		return 0, err
	}
	w.success(attempt)
	push := s.Push()
	if !g.kept {
		w.limit = rotationBatches
		defer func() { w.limit = 0 }()
		w.more = false
		if err := w.sync(ctx, s, folder, &cp); err != nil {
			return 0, err
		}
		next := jitter(in.PollIntervalOrDefault())
		if w.more {
			next = 0 // more to hand off: the next turn at once, behind the others
		}
		w.checked(engine.ModeRotating, next)
		return next, nil
	}
	mode := engine.ModePolling
	if push {
		mode = engine.ModePush
	}
	base := ctx
	for first := true; ; first = false {
		sctx := ctx
		if !first {
			sctx, checkSpan = p.tracer.Start(base, "correio.inbound.check", trace.WithNewRoot(), trace.WithLinks(sessionLink),
				trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(append(telemetry.Server(w.mb), telemetry.AttrMode.String(string(mode)))...))
		}
		if err := w.sync(sctx, s, folder, &cp); err != nil {
			return 0, err
		}
		if ctx.Err() != nil {
			return 0, nil
		}
		endSpan(nil)
		// Push sessions wait for the server, renewed every IdleRenew;
		// the others poll, jittered so they do not poll at one instant.
		d := jitter(in.PollIntervalOrDefault())
		if push {
			d = p.o.IdleRenew
		}
		w.checked(mode, d)
		t := p.clk.NewTimer(d)
		if !p.sched.setTimer(g, t) {
			t.Stop()
			return 0, nil // revoked: the budget is needed for the rotation
		}
		w.armWait(t)
		err := s.Wait(ctx, t.C())
		w.armWait(nil)
		p.sched.setTimer(g, nil)
		t.Stop()
		if err != nil {
			return 0, err
		}
		if ctx.Err() != nil || p.sched.isRevoked(g) {
			return 0, nil
		}
	}
}
