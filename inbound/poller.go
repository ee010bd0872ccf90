package inbound

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/internal/backoff"
	"github.com/correio-dev/correio/internal/breaker"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/message"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/transport/imap"
	"github.com/correio-dev/correio/workflow"
)

// LoopGuard flags a sender that sends more than Max messages to one
// mailbox within Window (an auto-responder answering our answers). The zero
// value flags more than 20 per hour.
type LoopGuard struct {
	Max    int
	Window time.Duration
}

// Options configure a Poller. Store and Handler are required; every other
// field has a working default.
type Options struct {
	Store   Store
	Handler Handler
	// Catalog gives each mailbox's contract (InboundOwner). Optional.
	Catalog routing.Catalog
	// Sent finds the messages correio sent, for thread matching. Optional.
	Sent routing.SentIndex
	// Tokens parses the subject thread token (default workflow's format).
	Tokens *workflow.Tokens
	// OwnAddresses are addresses of our own mailboxes besides the polled
	// ones: mail from them is a loop.
	OwnAddresses []string
	// IMAP configures connections (Dialer, TLS, timeouts, spooling).
	IMAP *imap.Config
	// Parse bounds the parser. Its Auth field turns on sender
	// authentication (Delivery.FromAuthenticated): name the authserv-id of
	// the receiving server whose Authentication-Results to trust.
	Parse message.Options
	Clock clock.Clock
	// Logger (default discard).
	Logger *slog.Logger
	// OnEvent receives every health change, in order, outside the
	// Poller's lock (it may call Health). It should return quickly: the
	// mailbox that changed waits for it.
	OnEvent func(Event)
	// Leaser hands out fencing tokens (optional).
	Leaser Leaser

	// MaxConnections caps live IMAP connections of the poller (default
	// 10000). A mailbox holds one connection while it runs, including while
	// in IDLE.
	MaxConnections int
	// MaxConnectionsPerHost caps connections to one server host (default
	// 100): mailboxes of one provider share its limits, and a dead host
	// holds only its own slots.
	MaxConnectionsPerHost int
	// MaxHandoffs caps concurrent fetch-and-hand-off batches (default 32).
	MaxHandoffs int
	// BatchSize is the number of messages fetched per UID FETCH (default 50).
	BatchSize int
	// Backoff between reconnects and handler retries (default 1 s .. 5 min).
	Backoff backoff.Policy
	// BreakerThreshold is the consecutive failures that open a mailbox's
	// circuit breaker and mark it down (default 3).
	BreakerThreshold int
	// IdleRenew is how long one IDLE lasts before it is renewed (default
	// 25 min, below the 29 min of RFC 2177).
	IdleRenew time.Duration
	LoopGuard LoopGuard
}

// ErrClosed is returned by Run when called twice.
var ErrClosed = errors.New("inbound: poller already ran")

// Poller reads any number of inbound mailboxes at once and hands every
// message to the Handler exactly once per mailbox. Add, change and remove
// mailboxes at any time, before or during Run.
type Poller struct {
	o       Options
	clk     clock.Clock
	log     *slog.Logger
	tokens  *workflow.Tokens
	conns   *semaphore.Weighted
	handoff *semaphore.Weighted

	mu      sync.Mutex
	ctx     context.Context // Run's context, nil before Run
	ran     bool
	workers map[mailbox.ID]*worker
	health  map[mailbox.ID]*Health
	hosts   map[string]*semaphore.Weighted
	pending []Event
	emitMu  sync.Mutex // orders OnEvent calls
	wg      sync.WaitGroup
}

// New checks opts and returns a Poller.
func New(opts Options) (*Poller, error) {
	if opts.Store == nil || opts.Handler == nil {
		return nil, errors.New("inbound: Options.Store and Options.Handler are required")
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = 10000
	}
	if opts.MaxConnectionsPerHost <= 0 {
		opts.MaxConnectionsPerHost = 100
	}
	if opts.MaxHandoffs <= 0 {
		opts.MaxHandoffs = 32
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 50
	}
	if opts.BreakerThreshold <= 0 {
		opts.BreakerThreshold = 3
	}
	if opts.IdleRenew <= 0 {
		opts.IdleRenew = imap.DefaultIdleRenew
	}
	if opts.LoopGuard.Max <= 0 {
		opts.LoopGuard.Max = 20
	}
	if opts.LoopGuard.Window <= 0 {
		opts.LoopGuard.Window = time.Hour
	}
	if opts.IMAP == nil {
		opts.IMAP = &imap.Config{}
	}
	p := &Poller{
		o:       opts,
		clk:     clock.OrReal(opts.Clock),
		log:     opts.Logger,
		tokens:  opts.Tokens,
		conns:   semaphore.NewWeighted(int64(opts.MaxConnections)),
		handoff: semaphore.NewWeighted(int64(opts.MaxHandoffs)),
		workers: map[mailbox.ID]*worker{},
		health:  map[mailbox.ID]*Health{},
		hosts:   map[string]*semaphore.Weighted{},
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.tokens == nil {
		p.tokens = workflow.TokenFormat{}.MustCompile()
	}
	return p, nil
}

// ErrNotInbound is returned by Add for a mailbox without inbound settings.
var ErrNotInbound = errors.New("inbound: not an inbound mailbox")

// Add starts reading m, or applies a changed m: the mailbox's worker is
// stopped (its in-flight hand-off finishes) and started again with the new
// settings. Other mailboxes are not touched. A disabled mailbox is kept in
// health as disabled and not read.
func (p *Poller) Add(m *mailbox.Mailbox) error {
	if m == nil || m.Kind != mailbox.Inbound || m.Inbound == nil {
		return ErrNotInbound
	}
	m = m.Clone()
	p.stop(m.ID)
	defer p.flushEvents()
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.health[m.ID]
	if h == nil {
		h = &Health{Mailbox: m.ID}
		p.health[m.ID] = h
	}
	w := &worker{p: p, mb: m, br: &breaker.Breaker{Threshold: p.o.BreakerThreshold, Cooldown: p.o.Backoff, Clock: p.clk}, done: make(chan struct{})}
	p.workers[m.ID] = w
	if !m.Enabled {
		w.closed = true
		close(w.done)
		p.setLocked(h, StateDisabled, "")
		return nil
	}
	p.setLocked(h, StateStarting, "")
	if p.ctx != nil {
		p.startLocked(w)
	}
	return nil
}

// Remove stops reading a mailbox (its in-flight hand-off finishes) and
// forgets its health. Its checkpoint and keys stay in the store, so adding
// it again never hands a message twice.
func (p *Poller) Remove(id mailbox.ID) {
	p.stop(id)
	p.mu.Lock()
	delete(p.workers, id)
	delete(p.health, id)
	p.mu.Unlock()
}

func (p *Poller) stop(id mailbox.ID) {
	p.mu.Lock()
	w := p.workers[id]
	var cancel context.CancelFunc
	if w != nil {
		cancel = w.cancel
		if !w.started && !w.closed { // added before Run, never started
			w.closed = true
			close(w.done)
		}
	}
	p.mu.Unlock()
	if w == nil {
		return
	}
	if cancel != nil {
		cancel()
	}
	<-w.done
}

func (p *Poller) startLocked(w *worker) {
	ctx, cancel := context.WithCancel(p.ctx)
	w.cancel, w.started = cancel, true
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(w.done)
		w.run(ctx)
	}()
}

// Run reads every mailbox until ctx ends, then waits for in-flight
// hand-offs to finish and returns nil. It may be called once.
func (p *Poller) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.ran {
		p.mu.Unlock()
		return ErrClosed
	}
	p.ran, p.ctx = true, ctx
	for _, w := range p.workers {
		if w.mb.Enabled {
			p.startLocked(w)
		}
	}
	p.mu.Unlock()
	<-ctx.Done()
	p.wg.Wait()
	p.mu.Lock()
	for _, h := range p.health {
		if h.State != StateDisabled {
			p.setLocked(h, StateStopped, "")
		}
	}
	p.mu.Unlock()
	p.flushEvents()
	return nil
}

// Health returns the health of one mailbox.
func (p *Poller) Health(id mailbox.ID) (Health, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h, ok := p.health[id]
	if !ok {
		return Health{}, false
	}
	return *h, true
}

// HealthAll returns the health of every mailbox.
func (p *Poller) HealthAll() []Health {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Health, 0, len(p.health))
	for _, h := range p.health {
		out = append(out, *h)
	}
	return out
}

// setLocked changes h's state; the event is queued and delivered by
// flushEvents once the lock is released, so OnEvent may call back into
// the Poller.
func (p *Poller) setLocked(h *Health, s State, errText string) {
	changed := h.State != s
	if changed {
		h.State, h.Since = s, p.clk.Now()
	}
	if (changed || errText != "") && p.o.OnEvent != nil {
		p.pending = append(p.pending, Event{Health: *h, Err: errText})
	}
}

// flushEvents delivers queued events, in order, outside the lock.
func (p *Poller) flushEvents() {
	if p.o.OnEvent == nil {
		return
	}
	p.emitMu.Lock()
	defer p.emitMu.Unlock()
	p.mu.Lock()
	evs := p.pending
	p.pending = nil
	p.mu.Unlock()
	for _, e := range evs {
		p.o.OnEvent(e)
	}
}

// update changes a mailbox's health under the lock.
func (p *Poller) update(id mailbox.ID, f func(h *Health) (State, string)) {
	p.mu.Lock()
	h := p.health[id]
	if h == nil {
		p.mu.Unlock()
		return
	}
	s, e := f(h)
	if s == "" {
		s = h.State
	}
	p.setLocked(h, s, e)
	p.mu.Unlock()
	p.flushEvents()
}

func (p *Poller) host(h string) *semaphore.Weighted {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.hosts[h]
	if s == nil {
		s = semaphore.NewWeighted(int64(p.o.MaxConnectionsPerHost))
		p.hosts[h] = s
	}
	return s
}

func (p *Poller) sleep(ctx context.Context, d time.Duration) bool {
	t := p.clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

// redact removes the mailbox's password from an error text (transport
// errors never carry it; this guards host handler errors).
func redact(m *mailbox.Mailbox, err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if pw := m.Inbound.Credentials.Password; !pw.IsZero() && len(pw.Reveal()) >= 4 {
		s = strings.ReplaceAll(s, pw.Reveal(), "[REDACTED]")
	}
	return s
}

// sinceSlack allows for INTERNALDATE's one-second resolution and for clock
// skew between the server and us when comparing with Checkpoint.Since:
// mail dated this close to the start is read rather than risked.
const sinceSlack = 5 * time.Minute

// classify is message.Classify; benchmarks swap it to measure the engine
// apart from classification.
var classify = message.Classify

// errPaused wraps a temporary handler failure.
type errPaused struct{ err error }

func (e *errPaused) Error() string { return "handler: " + e.err.Error() }
func (e *errPaused) Unwrap() error { return e.err }

// worker reads one mailbox.
type worker struct {
	p      *Poller
	mb     *mailbox.Mailbox
	br     *breaker.Breaker
	cancel context.CancelFunc
	done   chan struct{}
	// started and closed are guarded by Poller.mu.
	started, closed bool

	fence   int64
	own     []string // our addresses, refreshed per session
	senders map[string][]time.Time
	pauses  int // consecutive temporary handler failures

	// pending are post-actions of committed messages that failed (the
	// connection broke between the commit and the post-action): the
	// checkpoint has passed them, so they are applied on the next session
	// of the same UIDVALIDITY. Only the worker's goroutine uses them.
	pending pendingPost
}

type pendingPost struct {
	uidValidity       uint32
	done, quarantined []imap.UID
}

func (w *worker) run(ctx context.Context) {
	p := w.p
	attempt := 0
	for ctx.Err() == nil {
		if ok, until := w.br.Allow(); !ok {
			p.update(w.mb.ID, func(h *Health) (State, string) { return StateDown, "" })
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
			p.update(w.mb.ID, func(h *Health) (State, string) {
				h.LastError, h.LastErrorAt = msg, p.clk.Now()
				h.ConsecutiveFailures++
				return StatePaused, msg
			})
			if !p.sleep(ctx, p.o.Backoff.Delay(w.pauses)) {
				return
			}
			w.pauses++
			continue
		} else {
			open := w.br.Failure()
			p.log.Warn("inbound: mailbox failed", "mailbox", string(w.mb.ID), "err", msg)
			p.update(w.mb.ID, func(h *Health) (State, string) {
				h.LastError, h.LastErrorAt = msg, p.clk.Now()
				h.ConsecutiveFailures++
				if open {
					return StateDown, msg
				}
				return StateRetrying, msg
			})
			if open {
				continue // the breaker decides when to try again
			}
		}
		if !p.sleep(ctx, p.o.Backoff.Delay(attempt)) {
			return
		}
		attempt++
	}
}

func (w *worker) success(attempt *int) {
	*attempt = 0
	w.br.Success()
	paused := w.pauses > 0
	w.p.update(w.mb.ID, func(h *Health) (State, string) {
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
	p.update(w.mb.ID, func(*Health) (State, string) { return StateConnecting, "" })
	hostSem := p.host(strings.ToLower(in.Server.Host))
	for _, sem := range []*semaphore.Weighted{hostSem, p.conns} {
		if !sem.TryAcquire(1) {
			p.update(w.mb.ID, func(*Health) (State, string) { return StateQueued, "" })
			if err := sem.Acquire(ctx, 1); err != nil {
				return nil
			}
			p.update(w.mb.ID, func(*Health) (State, string) { return StateConnecting, "" })
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
	s, err := imap.Dial(ctx, p.o.IMAP, w.mb)
	if err != nil {
		return err
	}
	defer func() {
		if ctx.Err() != nil {
			s.Abort()
		} else {
			_ = s.Close()
		}
	}()
	folder := in.FolderOrDefault()
	f, err := s.Select(ctx, folder)
	if err != nil {
		return err
	}
	st := p.o.Store
	bg := context.WithoutCancel(ctx)
	cp, ok, err := st.Checkpoint(ctx, w.mb.ID, folder)
	if err != nil {
		return err
	}
	if !ok || cp.UIDValidity != f.UIDValidity {
		old := cp
		cp = Checkpoint{UIDValidity: f.UIDValidity, Since: old.Since}
		if !ok && in.StartFrom == mailbox.StartNew {
			if f.UIDNext > 0 {
				cp.LastUID = uint32(f.UIDNext) - 1
			}
			cp.Since = p.clk.Now()
		}
		if ok {
			p.log.Warn("inbound: UIDVALIDITY changed; re-reading the folder (keys prevent duplicates)", "mailbox", string(w.mb.ID), "old", old.UIDValidity, "new", f.UIDValidity)
		}
	}
	// Written on every connect: with leases this is where a replica that
	// lost its lease learns it (ErrFenced) before handing anything off.
	if !ok || cp.UIDValidity != f.UIDValidity || p.o.Leaser != nil {
		if err := st.SetCheckpoint(bg, w.mb.ID, folder, cp, w.fence); err != nil {
			return err
		}
	}
	if err := w.applyPending(bg, s, f.UIDValidity); err != nil {
		return err
	}
	w.success(attempt)
	w.own = w.ownAddresses()
	useIdle := s.Caps().Idle && in.Idle != mailbox.IdleOff
	for {
		if err := w.sync(ctx, s, folder, &cp); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		p.update(w.mb.ID, func(h *Health) (State, string) { h.Idle, h.Lag = useIdle, 0; return StateWaiting, "" })
		if useIdle {
			t := p.clk.NewTimer(p.o.IdleRenew)
			_, err := s.Idle(ctx, t.C(), p.o.IdleRenew+time.Minute)
			t.Stop()
			if err != nil {
				return err
			}
		} else {
			if !p.sleep(ctx, in.PollIntervalOrDefault()) {
				return nil
			}
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// sync hands off every message above the checkpoint.
//
// A producer goroutine fetches the messages batch by batch (one UID FETCH
// each) while this goroutine hands them off in UID order, so the server
// keeps sending while the host works. At most two batches are in flight, and
// the channel holds both, so a FETCH never waits on the handler (its
// deadline only measures the server). Post-actions are applied per batch
// on the same session, concurrently with the next FETCH.
func (w *worker) sync(ctx context.Context, s *imap.Session, folder string, cp *Checkpoint) error {
	p := w.p
	in := w.mb.Inbound
	infos, err := s.List(ctx, imap.UID(cp.LastUID))
	if err != nil {
		return err
	}
	if len(infos) == 0 {
		return nil
	}
	if !infos[0].Date.IsZero() {
		lag := p.clk.Now().Sub(infos[0].Date)
		p.update(w.mb.ID, func(h *Health) (State, string) { h.Lag = max(lag, 0); return "", "" })
	}
	p.update(w.mb.ID, func(*Health) (State, string) { return StateFetching, "" })
	if err := p.handoff.Acquire(ctx, 1); err != nil {
		return nil
	}
	defer p.handoff.Release(1)

	maxSize := in.MaxMessageSizeOrDefault()
	wanted := func(i imap.Info) bool {
		return (in.StartFrom != mailbox.StartUnseen || !i.Seen) && i.Size <= maxSize
	}
	bs := p.o.BatchSize
	var batches [][]imap.Info
	for len(infos) > 0 {
		n := min(len(infos), bs)
		batches = append(batches, infos[:n])
		infos = infos[n:]
	}

	// Producer.
	fctx, stopFetch := context.WithCancel(ctx)
	arrived := make(chan *imap.Spool, 2*bs)
	tokens := make(chan struct{}, 2) // batches in flight
	var fetchErr error
	fetched := make(chan struct{})
	go func() {
		defer close(fetched)
		defer close(arrived)
		for _, batch := range batches {
			var want []imap.UID
			var total int64
			for _, i := range batch {
				if wanted(i) {
					want = append(want, i.UID)
					total += i.Size
				}
			}
			select {
			case tokens <- struct{}{}:
			case <-fctx.Done():
				return
			}
			if len(want) == 0 {
				continue
			}
			if err := s.FetchEach(fctx, want, total, func(sp *imap.Spool) { arrived <- sp }); err != nil {
				if fctx.Err() == nil {
					fetchErr = err
				}
				return
			}
		}
	}()
	byUID := map[imap.UID]*imap.Spool{}
	// spool waits for uid's message; nil with a nil error means the server
	// no longer has it, nil with an error that the fetch failed first.
	spool := func(uid imap.UID) (*imap.Spool, error) {
		for {
			if sp, ok := byUID[uid]; ok {
				delete(byUID, uid)
				return sp, nil
			}
			sp, ok := <-arrived
			if !ok {
				<-fetched
				if fetchErr == nil && ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, fetchErr
			}
			if sp.UID < uid { // not wanted any more (cannot happen; be safe)
				_ = sp.Close()
				continue
			}
			byUID[sp.UID] = sp
		}
	}
	defer func() {
		stopFetch()
		<-fetched
		for sp := range arrived {
			_ = sp.Close()
		}
		for _, sp := range byUID {
			_ = sp.Close()
		}
	}()

	bg := context.WithoutCancel(ctx)
	var failure error
	for _, batch := range batches {
		var post, quarantine []imap.UID
		for _, i := range batch {
			if ctx.Err() != nil {
				break
			}
			var q, handed bool
			q, handed, failure = w.one(ctx, folder, cp, i, spool)
			if failure != nil {
				break
			}
			if q {
				quarantine = append(quarantine, i.UID)
			} else if handed {
				post = append(post, i.UID)
			}
			*cp = Checkpoint{UIDValidity: cp.UIDValidity, LastUID: uint32(i.UID), Since: cp.Since}
		}
		// Post-actions of what was committed, even when the batch stopped;
		// kept for the next session when they fail.
		if err := w.postActions(bg, s, post, quarantine); err != nil {
			w.pending.uidValidity = cp.UIDValidity
			w.pending.done = append(w.pending.done, post...)
			w.pending.quarantined = append(w.pending.quarantined, quarantine...)
			if failure == nil {
				failure = err
			}
		}
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

// one processes message i: skips it, quarantines it, or hands it off. It
// returns whether it was quarantined or handed (for post-actions).
func (w *worker) one(ctx context.Context, folder string, cp *Checkpoint, i imap.Info, spool func(imap.UID) (*imap.Spool, error)) (quarantined, handed bool, err error) {
	p := w.p
	in := w.mb.Inbound
	bg := context.WithoutCancel(ctx)
	next := Checkpoint{UIDValidity: cp.UIDValidity, LastUID: uint32(i.UID), Since: cp.Since}
	maxSize := in.MaxMessageSizeOrDefault()
	switch {
	case in.StartFrom == mailbox.StartNew && !cp.Since.IsZero() && !i.Date.IsZero() && i.Date.Before(cp.Since.Add(-sinceSlack)):
		// Older than the mailbox's start: after a UIDVALIDITY change the
		// folder is re-read, but "new only" never reads the old mail.
		return false, false, p.o.Store.SetCheckpoint(bg, w.mb.ID, folder, next, w.fence)
	case in.StartFrom == mailbox.StartUnseen && i.Seen:
		// Someone read it; "unseen only" skips it.
		return false, false, p.o.Store.SetCheckpoint(bg, w.mb.ID, folder, next, w.fence)
	case i.Size > maxSize:
		key := fmt.Sprintf("toolarge:%d:%d", cp.UIDValidity, i.UID)
		reason := fmt.Sprintf("message of %d bytes exceeds the mailbox limit of %d bytes", i.Size, maxSize)
		if err := w.quarantine(bg, folder, next, key, i.Size, reason, nil); err != nil {
			return false, false, err
		}
		return true, false, nil
	}
	sp, err := spool(i.UID)
	if err != nil {
		return false, false, err
	}
	if sp == nil { // expunged by someone else meanwhile
		return false, false, p.o.Store.SetCheckpoint(bg, w.mb.ID, folder, next, w.fence)
	}
	defer sp.Close()
	q, err := w.deliver(ctx, folder, next, sp)
	if err != nil {
		return false, false, err
	}
	return q, !q, nil
}

// applyPending applies the post-actions a broken session left behind, when
// the folder's UIDVALIDITY is still theirs (otherwise the UIDs mean other
// messages now, and they are dropped).
func (w *worker) applyPending(ctx context.Context, s *imap.Session, uidValidity uint32) error {
	pd := w.pending
	if len(pd.done) == 0 && len(pd.quarantined) == 0 {
		return nil
	}
	if pd.uidValidity != uidValidity {
		w.p.log.Warn("inbound: UIDVALIDITY changed; dropping pending post-actions", "mailbox", string(w.mb.ID), "messages", len(pd.done)+len(pd.quarantined))
		w.pending = pendingPost{}
		return nil
	}
	if err := w.postActions(ctx, s, pd.done, pd.quarantined); err != nil {
		return err
	}
	w.pending = pendingPost{}
	return nil
}

func (w *worker) postActions(ctx context.Context, s *imap.Session, done, quarantined []imap.UID) error {
	in := w.mb.Inbound
	var err error
	switch in.PostAction {
	case mailbox.PostSeen:
		err = s.MarkSeen(ctx, done)
	case mailbox.PostMove:
		err = s.Move(ctx, done, in.MoveTo)
	case mailbox.PostDelete:
		err = s.Delete(ctx, done)
	}
	if in.QuarantineFolder != "" && len(quarantined) > 0 {
		err = errors.Join(err, s.Move(ctx, quarantined, in.QuarantineFolder))
	}
	return err
}

func (w *worker) quarantine(ctx context.Context, folder string, next Checkpoint, key string, size int64, reason string, sp *imap.Spool) error {
	p := w.p
	st := p.o.Store
	q := QuarantineItem{Mailbox: w.mb.ID, Folder: folder, Key: key, UIDValidity: next.UIDValidity, UID: next.LastUID, Size: size, Reason: reason, At: p.clk.Now(), Fence: w.fence}
	var err error
	if sp != nil {
		err = st.Quarantine(ctx, q, sp.Reader())
	} else {
		err = st.Quarantine(ctx, q, nil)
	}
	if err != nil {
		return err
	}
	if err := st.Commit(ctx, Record{Mailbox: w.mb.ID, Folder: folder, Key: key, Checkpoint: next, Outcome: Quarantined, At: q.At, Fence: w.fence}); err != nil {
		return err
	}
	p.log.Warn("inbound: message quarantined", "mailbox", string(w.mb.ID), "uid", next.LastUID, "reason", reason)
	p.update(w.mb.ID, func(h *Health) (State, string) { h.Quarantined++; return "", "" })
	return nil
}

// deliver parses, classifies and hands off one message; it returns whether
// the message was quarantined.
func (w *worker) deliver(ctx context.Context, folder string, next Checkpoint, sp *imap.Spool) (bool, error) {
	p := w.p
	st := p.o.Store
	bg := context.WithoutCancel(ctx)
	parseOpts := p.o.Parse
	if parseOpts.MaxSize == 0 {
		parseOpts.MaxSize = w.mb.Inbound.MaxMessageSizeOrDefault()
	}
	m, perr := message.ParseContext(ctx, sp, sp.Size(), parseOpts)
	msgID := ""
	if m != nil {
		msgID = m.MessageID
	}
	key := Key(msgID, sp.SHA256)
	done, err := st.Done(ctx, w.mb.ID, key)
	if err != nil {
		return false, err
	}
	if done {
		p.update(w.mb.ID, func(h *Health) (State, string) { h.Duplicates++; return "", "" })
		return false, st.SetCheckpoint(bg, w.mb.ID, folder, next, w.fence)
	}
	if perr != nil || m == nil {
		return true, w.quarantine(bg, folder, next, key, sp.Size(), "unreadable: "+errText(perr), sp)
	}
	d := &Delivery{Key: key, Mailbox: w.mb, Message: m, Warnings: m.Warnings, Auth: m.Auth, FromAuthenticated: m.Auth != nil && m.Auth.FromAuthenticated,
		UID: next.LastUID, UIDValidity: next.UIDValidity, Size: sp.Size(), raw: sp}
	if p.o.Catalog != nil {
		d.MailboxContract, _ = p.o.Catalog.InboundOwner(w.mb.ID)
	}
	d.Contract = d.MailboxContract
	d.Classification = classify(m, message.ClassifyOptions{LoopHeader: routing.LoopHeader, OwnAddresses: w.own})
	d.SenderFlood = w.flood(m)
	th, err := w.thread(ctx, m)
	if err != nil {
		return false, &errPaused{err: fmt.Errorf("thread lookup: %w", err)}
	}
	if th != nil {
		d.Thread = th
		if th.Ref.Contract != "" {
			d.Contract = th.Ref.Contract
			d.ContractMismatch = d.MailboxContract != "" && th.Ref.Contract != d.MailboxContract
		}
	}
	herr := w.call(bg, d)
	switch {
	case herr == nil:
		if err := st.Commit(bg, Record{Mailbox: w.mb.ID, Folder: folder, Key: key, Checkpoint: next, Outcome: Handled, At: p.clk.Now(), Fence: w.fence, Contract: d.Contract}); err != nil {
			return false, err
		}
		w.pauses = 0
		p.update(w.mb.ID, func(h *Health) (State, string) {
			h.Handled++
			h.LastSuccess = p.clk.Now()
			h.LastError, h.ConsecutiveFailures = "", 0
			return "", ""
		})
		return false, nil
	case IsPermanent(herr):
		return true, w.quarantine(bg, folder, next, key, sp.Size(), "refused by handler: "+redact(w.mb, herr), sp)
	default:
		return false, &errPaused{err: herr}
	}
}

// call runs the handler, turning a panic into a temporary error.
func (w *worker) call(ctx context.Context, d *Delivery) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("inbound: handler panicked: %v", r)
		}
	}()
	return w.p.o.Handler.HandleMessage(ctx, d)
}

func errText(err error) string {
	if err == nil {
		return "no message"
	}
	return err.Error()
}

func (w *worker) ownAddresses() []string {
	out := append([]string(nil), w.p.o.OwnAddresses...)
	w.p.mu.Lock()
	for _, o := range w.p.workers {
		if o.mb.Address != "" {
			out = append(out, o.mb.Address)
		}
	}
	w.p.mu.Unlock()
	return out
}

// flood records the sender and reports whether it exceeded the loop guard.
func (w *worker) flood(m *message.Message) bool {
	if len(m.From) == 0 || m.From[0] == nil {
		return false
	}
	addr := strings.ToLower(m.From[0].Address)
	now := w.p.clk.Now()
	if w.senders == nil {
		w.senders = map[string][]time.Time{}
	}
	cut := now.Add(-w.p.o.LoopGuard.Window)
	ts := w.senders[addr]
	i := 0
	for i < len(ts) && ts[i].Before(cut) {
		i++
	}
	ts = append(ts[i:], now)
	w.senders[addr] = ts
	if len(w.senders) > 10000 { // bound memory: forget quiet senders
		for a, t := range w.senders {
			if len(t) == 0 || t[len(t)-1].Before(cut) {
				delete(w.senders, a)
			}
		}
	}
	return len(ts) > w.p.o.LoopGuard.Max
}

// thread matches a reply to a message correio sent: In-Reply-To, then
// References (newest first), then the subject token.
func (w *worker) thread(ctx context.Context, m *message.Message) (*ThreadMatch, error) {
	sent := w.p.o.Sent
	if sent != nil {
		for _, id := range m.InReplyTo {
			ref, ok, err := sent.SentByMessageID(ctx, id)
			if err != nil {
				return nil, err
			}
			if ok {
				return &ThreadMatch{Ref: ref, By: "in-reply-to"}, nil
			}
		}
		for i := len(m.References) - 1; i >= 0; i-- {
			ref, ok, err := sent.SentByMessageID(ctx, m.References[i])
			if err != nil {
				return nil, err
			}
			if ok {
				return &ThreadMatch{Ref: ref, By: "references"}, nil
			}
		}
	}
	id, ok := w.p.tokens.Parse(m.Subject)
	if !ok {
		return nil, nil
	}
	if sent != nil {
		ref, ok, err := sent.SentByThread(ctx, id)
		if err != nil {
			return nil, err
		}
		if ok {
			return &ThreadMatch{Ref: ref, By: "token"}, nil
		}
	}
	return &ThreadMatch{Ref: routing.ThreadRef{Thread: id}, By: "token"}, nil
}

// Probe tests m's settings the way the Poller would connect (its Dialer,
// address policy, TLS configuration and timeouts): connect, TLS, login,
// folder check, capabilities, logout. It is the "test connection" button
// before saving a mailbox; m need not be added.
func (p *Poller) Probe(ctx context.Context, m *mailbox.Mailbox) (imap.ProbeReport, error) {
	return imap.Probe(ctx, p.o.IMAP, m)
}
