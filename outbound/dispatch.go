package outbound

import (
	"context"
	"crypto/rand"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/internal/backoff"
	"github.com/correio-dev/correio/internal/breaker"
	"github.com/correio-dev/correio/internal/telemetry"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/transport"
)

func (s *Sender) box(id mailbox.ID) *boxState {
	st := s.boxes[id]
	if st == nil {
		st = &boxState{breaker: &breaker.Breaker{
			Threshold: s.o.BreakerThreshold,
			Cooldown:  backoff.Policy{Base: s.o.BreakerCooldown, Max: 20 * s.o.BreakerCooldown},
			Clock:     s.clk,
		}}
		s.boxes[id] = st
	}
	return st
}

// run is the dispatcher: it starts a worker per due mailbox while the
// mailbox's connection cap, its breaker and the total bound allow.
func (s *Sender) run() {
	defer s.wg.Done()
	for {
		next := s.dispatch()
		var tc <-chan time.Time
		var timer clock.Timer
		if !next.IsZero() {
			timer = s.clk.NewTimer(max(next.Sub(s.clk.Now()), 0))
			tc = timer.C()
			// The clock may have moved on between reading it and arming
			// the timer (a test's fake clock advanced meanwhile): the timer
			// would then fire after next. Look again rather than wait.
			if !s.clk.Now().Before(next) {
				timer.Stop()
				continue
			}
		}
		select {
		case <-s.runCtx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-s.wake:
		case <-tc:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

func (s *Sender) dispatch() time.Time {
	if s.runCtx.Err() != nil {
		return time.Time{}
	}
	now := s.clk.Now()
	s.starved.Store(false)
	due, next, err := s.o.Outbox.Due(s.runCtx, now)
	if err != nil {
		s.log.Warn("outbox due query failed", slog.String("error", err.Error()))
		return now.Add(time.Second)
	}
	if len(due) == 0 {
		return next
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rotate++
	start := s.rotate % len(due)
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for i := range due {
		d := due[(start+i)%len(due)]
		if !s.assign.Runs(d.Mailbox) {
			continue
		}
		st := s.box(d.Mailbox)
		limit := s.o.BatchSize
		cap := mailbox.DefaultMaxConnections
		mb, ok := s.o.Catalog.Mailbox(d.Mailbox)
		if ok && mb.Outbound != nil {
			cap = mb.Outbound.MaxConnectionsOrDefault()
		} else {
			mb = nil
		}
		if held, until := s.heldLocked(st, mb, now); held {
			earliest(until)
			continue
		}
		if !st.connected || !st.downSince.IsZero() || st.hold != "" {
			cap = 1 // one login first: a refused one must not be repeated per batch
		}
		want := (d.Count + limit - 1) / limit
		for st.active < cap && want > 0 {
			if !s.sem.TryAcquire(1) {
				// A finishing worker wakes us; the running ones stop
				// claiming more (keepClaiming) so this mailbox gets a
				// slot after their batch.
				s.starved.Store(true)
				return next
			}
			ok, until := st.breaker.Allow()
			if !ok && !s.failoverDue(st, now) {
				s.sem.Release(1)
				earliest(until)
				break
			}
			// With the breaker open, only the failover runs: it moves the
			// eligible records and parks the others until the breaker
			// probes again.
			var parkUntil time.Time
			if !ok {
				parkUntil = until
				want = 1
			}
			st.active++
			st.kicked = false
			want--
			s.wg.Add(1)
			go s.work(d.Mailbox, st, parkUntil)
		}
	}
	return next
}

// failoverDue reports whether st's mailbox has failed longer than the
// failover delay; callers hold s.mu.
func (s *Sender) failoverDue(st *boxState, now time.Time) bool {
	return s.o.FailoverAfter > 0 && !st.downSince.IsZero() && now.Sub(st.downSince) >= s.o.FailoverAfter
}

func newToken() string { return rand.Text() }

// storeCtx bounds store updates; they must happen even while stopping.
func (s *Sender) storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(s.sendCtx), time.Minute)
}

func (s *Sender) work(id mailbox.ID, st *boxState, parkUntil time.Time) {
	failover := !parkUntil.IsZero()
	defer func() {
		s.mu.Lock()
		st.active--
		s.idle.Broadcast()
		s.mu.Unlock()
		s.sem.Release(1)
		s.signal()
		s.wg.Done()
	}()
	ctx := s.sendCtx
	token := newToken()
	now := s.clk.Now()
	recs, err := s.o.Outbox.Claim(ctx, store.Claim{Mailbox: id, Now: now, Lease: s.o.Lease, Max: s.o.BatchSize, Token: token})
	if err != nil || len(recs) == 0 {
		if !failover {
			st.breaker.Abandon()
		}
		if err != nil {
			s.log.Warn("outbox claim failed", slog.String("mailbox", string(id)), slog.String("error", err.Error()))
		}
		return
	}
	mb, ok := s.o.Catalog.Mailbox(id)
	if !ok || mb.Outbound == nil || mb.Kind != mailbox.Outbound {
		st.breaker.Abandon()
		for _, r := range recs {
			s.kill(r, token, "the sending mailbox was removed or is not outbound", nil)
		}
		return
	}
	if failover {
		for _, r := range s.failover(recs, token, st, mb) {
			r.NextAttempt = parkUntil
			s.update(r, token)
		}
		return
	}
	s.mu.Lock()
	due := s.failoverDue(st, now)
	s.mu.Unlock()
	if due {
		if recs = s.failover(recs, token, st, mb); len(recs) == 0 {
			st.breaker.Abandon()
			return
		}
	}
	if !mb.Enabled {
		st.breaker.Abandon()
		err := &transport.Error{Class: transport.Temporary, Protocol: string(mb.Transport()), Op: "send", Err: routing.ErrMailboxDisabled, Hint: "enable the mailbox"}
		for _, r := range recs {
			s.retry(r, token, err)
		}
		return
	}
	// The breaker let this worker through when it was dispatched; another
	// worker's failure may have opened it since. Give the claims back
	// unsent: an open breaker costs no connection.
	if bs, _ := st.breaker.State(); bs == breaker.Open {
		for _, r := range recs {
			s.release(r, token)
		}
		return
	}
	ctx, span := s.tracer.Start(ctx, "correio.outbound.session", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(append(telemetry.Server(mb), telemetry.AttrMsgOpName.String("session"), telemetry.AttrMsgOpType.String("send"),
			telemetry.AttrMsgBatchCount.Int(len(recs)))...))
	defer span.End()
	conn, err := s.tr.Open(ctx, mb)
	if err != nil {
		telemetry.Fail(span, err)
		var hold engine.State
		if ctx.Err() == nil {
			hold = s.connFailed(st, mb, err)
		}
		for _, r := range recs {
			if ctx.Err() != nil {
				s.release(r, token)
				continue
			}
			if hold != "" && now.Sub(r.EnqueuedAt) <= s.o.MaxAge {
				// The login failed, not the message: it waits, queued,
				// for the mailbox (no attempt counted, no event per message).
				r.LastError = err.Error()
				r.NextAttempt = now
				s.update(r, token)
				continue
			}
			r.Attempts++
			s.retry(r, token, err)
		}
		return
	}
	defer conn.Close()
	s.connOK(st)
	for {
		if !s.sendBatch(ctx, conn, mb, st, recs, token) || !s.keepClaiming(mb) {
			return
		}
		// Claim the mailbox's next batch on the same connection: no
		// dispatcher round (a Due query) and no new connection per batch.
		recs, err = s.o.Outbox.Claim(ctx, store.Claim{Mailbox: id, Now: s.clk.Now(), Lease: s.o.Lease, Max: s.o.BatchSize, Token: token})
		if err != nil {
			s.log.Warn("outbox claim failed", slog.String("mailbox", string(id)), slog.String("error", err.Error()))
			return
		}
		if len(recs) == 0 {
			return
		}
	}
}

// keepClaiming reports whether a worker that sent its batch over mb's
// connection may claim another: not while stopping, while another mailbox
// waits for a slot of the total bound (fairness: one batch at most), or
// when the mailbox changed in the catalog (the dispatcher starts a worker
// with its new settings).
func (s *Sender) keepClaiming(mb *mailbox.Mailbox) bool {
	if s.stopping.Load() || s.starved.Load() || s.sendCtx.Err() != nil {
		return false
	}
	cur, ok := s.o.Catalog.Mailbox(mb.ID)
	return ok && cur == mb && cur.Enabled
}

// sendBatch sends recs over conn; false when the worker must stop (the
// connection broke, the rate limit is far off, the Sender is stopping):
// the records not sent are given back.
func (s *Sender) sendBatch(ctx context.Context, conn transport.Outgoing, mb *mailbox.Mailbox, st *boxState, recs []*store.OutboxRecord, token string) bool {
	for i, r := range recs {
		ok, later := s.waitRate(mb.ID, st, mb)
		if !later.IsZero() {
			// The rate limit is far off: give the rest back, due then,
			// rather than hold the claims past their lease.
			for _, rest := range recs[i:] {
				rest.NextAttempt = later
				s.update(rest, token)
			}
			return false
		}
		// A mailbox handed to another replica (Reload) sends nothing more.
		if s.stopping.Load() || !ok || !s.runs(mb.ID) {
			for _, rest := range recs[i:] {
				s.release(rest, token)
			}
			return false
		}
		if broken := s.sendOne(ctx, conn, mb, st, r, token); broken {
			for _, rest := range recs[i+1:] {
				s.release(rest, token)
			}
			return false
		}
	}
	return true
}

// runs reports whether the Assignment runs mailbox id.
func (s *Sender) runs(id mailbox.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.assign.Runs(id)
}

// waitRate waits for the mailbox's rate limit. It returns false when the
// Sender is stopping or the Assignment no longer runs the mailbox, and a
// time instead of waiting when the wait would be longer than half the
// claim lease.
func (s *Sender) waitRate(id mailbox.ID, st *boxState, mb *mailbox.Mailbox) (bool, time.Time) {
	cfg := mb.Outbound.RateLimit
	if cfg.Unlimited() {
		return true, time.Time{}
	}
	s.mu.Lock()
	if st.limiter == nil || st.rateCfg != cfg {
		st.limiter = newSendWindow(cfg)
		st.rateCfg = cfg
		if s.o.Assignment != nil {
			// The mailbox may come from another Sender that just spent
			// the window (see Options.Assignment).
			st.limiter.fill(s.clk.Now())
		}
	}
	now := s.clk.Now()
	r := st.limiter.reserve(now)
	s.mu.Unlock()
	cancel := func() {
		s.mu.Lock()
		r.cancel(s.clk.Now())
		s.mu.Unlock()
	}
	d := r.at.Sub(now)
	if d <= 0 {
		return true, time.Time{}
	}
	if d > s.o.Lease/2 {
		cancel()
		return false, now.Add(d)
	}
	// The timer runs to the reserved time, read against the clock again
	// now: time that passed since the reservation (a slow goroutine, a
	// test's fake clock moved) is not waited twice.
	t := s.clk.NewTimer(r.at.Sub(s.clk.Now()))
	defer t.Stop()
	for {
		s.mu.Lock()
		reloaded := s.reloaded
		s.mu.Unlock()
		// A Reload that came before this wait closed an older channel:
		// the Assignment is asked again here, not only when it closes.
		if !s.runs(id) {
			cancel()
			return false, time.Time{}
		}
		select {
		case <-t.C():
			return true, time.Time{}
		case <-s.runCtx.Done():
			cancel()
			return false, time.Time{}
		case <-reloaded:
			if !s.runs(id) {
				cancel()
				return false, time.Time{}
			}
		}
	}
}
