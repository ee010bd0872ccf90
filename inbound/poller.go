package inbound

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/internal/backoff"
	"github.com/correio-dev/correio/internal/breaker"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/message"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/threading"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/imap"
)

// LoopGuard flags a sender that sends more than Max messages to one
// mailbox within Window (an auto-responder answering our answers). The zero
// value flags more than 20 per hour.
type LoopGuard struct {
	Max    int
	Window time.Duration
}

// Defaults of Options.
const (
	DefaultMaxConnections        = 10000
	DefaultMaxConnectionsPerHost = 100
	DefaultMaxHandoffs           = 32
	DefaultBatchSize             = 50
	DefaultRetryBase             = time.Second
	DefaultRetryMax              = 5 * time.Minute
	DefaultBreakerThreshold      = 3
	DefaultLoopGuardMax          = 20
	DefaultLoopGuardWindow       = time.Hour
)

// Options configure a Poller. Store, Handler and Catalog are required;
// every other field has a working default.
type Options struct {
	Store   store.Inbound
	Handler Handler
	// Catalog is where the Poller finds its mailboxes (every enabled and
	// disabled inbound mailbox the Assignment runs; changes are picked up
	// when the catalog's Version changes, checked every Refresh, and on
	// Reload) and each mailbox's contract (InboundOwner).
	Catalog engine.Catalog
	// Assignment says which of the catalog's inbound mailboxes this
	// Poller runs (nil: all of them). Call Reload when its answers change.
	Assignment engine.Assignment
	// Refresh is how often the catalog's Version is checked for changes
	// (default engine.DefaultRefresh).
	Refresh time.Duration
	// Sent finds the messages correio sent, for thread matching. Optional.
	Sent threading.SentIndex
	// Tokens parses the subject thread token (default workflow's format).
	Tokens *threading.Tokens
	// OwnAddresses are addresses of our own mailboxes besides the polled
	// ones: mail from them is a loop.
	OwnAddresses []string
	// Source reads the mailboxes. Nil means the IMAP transport configured
	// by IMAP (http.Client.Transport style); a transport.Sources chooses one
	// per mailbox by its transport kind, and a host may wrap either
	// (tracing, its own limits, a fake in its tests).
	Source transport.Source
	// IMAP configures the default IMAP source's connections (Dialer, TLS,
	// timeouts, spooling); unused when Source is set.
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
	Leaser store.Leaser

	// MaxConnections caps live connections of the poller (default
	// DefaultMaxConnections). A mailbox holds one connection while it runs,
	// including while in IDLE.
	MaxConnections int
	// MaxConnectionsPerHost caps connections to one server host (default
	// DefaultMaxConnectionsPerHost): mailboxes of one provider share its
	// limits, and a dead host holds only its own slots.
	MaxConnectionsPerHost int
	// MaxHandoffs caps concurrent fetch-and-hand-off batches (default
	// DefaultMaxHandoffs).
	MaxHandoffs int
	// BatchSize is the number of messages fetched per batch (default
	// DefaultBatchSize).
	BatchSize int
	// RetryBase and RetryMax shape the exponential backoff with jitter
	// between reconnects and handler retries, and the circuit breaker's
	// cooldown (defaults DefaultRetryBase and DefaultRetryMax).
	RetryBase, RetryMax time.Duration
	// BreakerThreshold is the consecutive failures that open a mailbox's
	// circuit breaker and mark it down (default DefaultBreakerThreshold).
	BreakerThreshold int
	// IdleRenew is how long one IDLE lasts before it is renewed (default
	// 25 min, below the 29 min of RFC 2177).
	IdleRenew time.Duration
	LoopGuard LoopGuard
}

// ErrStarted is returned by Start when the Poller was already started.
var ErrStarted = engine.ErrStarted

// Poller reads any number of inbound mailboxes at once and hands every
// message to the Handler exactly once per mailbox. Its mailboxes come from
// Options.Catalog, filtered by Options.Assignment; changes are picked up
// while it runs (see Reload).
type Poller struct {
	o       Options
	clk     clock.Clock
	log     *slog.Logger
	tokens  *threading.Tokens
	backoff backoff.Policy
	assign  engine.Assignment
	conns   *semaphore.Weighted
	handoff *semaphore.Weighted
	syncMu  sync.Mutex // one sync at a time

	mu     sync.Mutex
	ctx    context.Context // Start's context, nil before Start
	cancel context.CancelFunc
	// abort ends the work that outlives a worker's context (a hand-off,
	// post-actions): Stop ends it when its deadline is near (finishing).
	abort   context.Context
	abortFn context.CancelFunc
	started bool
	stopped bool
	workers map[mailbox.ID]*worker
	health  map[mailbox.ID]*engine.Health
	hosts   map[string]*semaphore.Weighted
	pending []Event
	emitMu  sync.Mutex // orders OnEvent calls
	wg      sync.WaitGroup
	watchWG sync.WaitGroup
}

// New checks opts and returns a Poller.
func New(opts Options) (*Poller, error) {
	if opts.Store == nil || opts.Handler == nil || opts.Catalog == nil {
		return nil, errors.New("inbound: Options.Store, Options.Handler and Options.Catalog are required")
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = DefaultMaxConnections
	}
	if opts.MaxConnectionsPerHost <= 0 {
		opts.MaxConnectionsPerHost = DefaultMaxConnectionsPerHost
	}
	if opts.MaxHandoffs <= 0 {
		opts.MaxHandoffs = DefaultMaxHandoffs
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.BreakerThreshold <= 0 {
		opts.BreakerThreshold = DefaultBreakerThreshold
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = DefaultRetryBase
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = DefaultRetryMax
	}
	if opts.Refresh <= 0 {
		opts.Refresh = engine.DefaultRefresh
	}
	if opts.IdleRenew <= 0 {
		opts.IdleRenew = imap.DefaultIdleRenew
	}
	if opts.LoopGuard.Max <= 0 {
		opts.LoopGuard.Max = DefaultLoopGuardMax
	}
	if opts.LoopGuard.Window <= 0 {
		opts.LoopGuard.Window = DefaultLoopGuardWindow
	}
	if opts.IMAP == nil {
		opts.IMAP = &imap.Config{}
	}
	if opts.Source == nil {
		opts.Source = imap.NewSource(opts.IMAP)
	}
	p := &Poller{
		o:       opts,
		clk:     clock.OrReal(opts.Clock),
		log:     opts.Logger,
		tokens:  opts.Tokens,
		backoff: backoff.Policy{Base: opts.RetryBase, Max: opts.RetryMax},
		assign:  opts.Assignment,
		conns:   semaphore.NewWeighted(int64(opts.MaxConnections)),
		handoff: semaphore.NewWeighted(int64(opts.MaxHandoffs)),
		workers: map[mailbox.ID]*worker{},
		health:  map[mailbox.ID]*engine.Health{},
		hosts:   map[string]*semaphore.Weighted{},
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.tokens == nil {
		p.tokens = threading.TokenFormat{}.MustCompile()
	}
	if p.assign == nil {
		p.assign = engine.All
	}
	return p, nil
}

// ErrNotInbound is returned by Validate and Probe for a mailbox without
// inbound settings.
var ErrNotInbound = errors.New("inbound: not an inbound mailbox")

// Start reads the catalog and starts a worker for every inbound mailbox
// the Assignment runs, then keeps them in step with the catalog until ctx
// ends or Stop is called. It returns ErrStarted when called twice.
func (p *Poller) Start(ctx context.Context) error {
	p.mu.Lock()
	if p.started {
		p.mu.Unlock()
		return ErrStarted
	}
	p.started = true
	p.ctx, p.cancel = context.WithCancel(ctx)
	p.abort, p.abortFn = context.WithCancel(context.WithoutCancel(ctx))
	p.mu.Unlock()
	version := p.o.Catalog.Version()
	p.sync()
	p.watchWG.Add(1)
	go p.watch(p.ctx, version)
	return nil
}

// Stop stops every worker and waits until their in-flight hand-offs and
// post-actions finished, by ctx's deadline: those still running shortly
// before it (a quarter of the time left, at most StopMargin) are
// interrupted (the handler's context ends; an interrupted hand-off is not
// committed and is handed again, with the same Key, by the next run; a
// post-action left owed stays in the store as a receipt), and Stop then
// returns context.DeadlineExceeded. When ctx ends (or is cancelled) before
// they wound down, Stop returns ctx.Err() at once and the workers finish in
// the background. Health then says stopped.
func (p *Poller) Stop(ctx context.Context) error {
	p.mu.Lock()
	if !p.started || p.cancel == nil {
		p.mu.Unlock()
		return nil
	}
	p.cancel()
	abort := p.abortFn
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		p.watchWG.Wait()
		p.wg.Wait()
		close(done)
	}()
	var early <-chan time.Time
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		t := time.NewTimer(max(left-min(left/4, StopMargin), 0))
		defer t.Stop()
		early = t.C
	}
	var interrupted error
wait:
	for {
		select {
		case <-done:
			break wait
		case <-early:
			early, interrupted = nil, context.DeadlineExceeded
			abort()
		case <-ctx.Done():
			abort()
			return ctx.Err()
		}
	}
	p.mu.Lock()
	p.stopped = true
	for _, h := range p.health {
		if h.State != engine.StateDisabled {
			p.setLocked(h, engine.StateStopped, "")
		}
	}
	p.mu.Unlock()
	p.flushEvents()
	return interrupted
}

// StopMargin is the most time Poller.Stop gives the hand-offs and
// post-actions it interrupts to wind down before its context's deadline.
const StopMargin = time.Second

// Run starts the Poller, reads every mailbox until ctx ends, then stops
// it, waits for in-flight hand-offs to finish and returns nil.
func (p *Poller) Run(ctx context.Context) error {
	if err := p.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return p.Stop(context.Background())
}

// Reload makes the Poller read the catalog and its Assignment now and
// returns once it applied them: new mailboxes started, changed ones
// restarted with their new settings (their in-flight hand-off finished
// first), removed or unassigned ones stopped. Other mailboxes are not
// touched. Before Start and after Stop it does nothing.
func (p *Poller) Reload() {
	p.mu.Lock()
	live := p.started && !p.stopped && p.ctx.Err() == nil
	p.mu.Unlock()
	if live {
		p.sync()
	}
}

// watch applies catalog changes when the catalog's version moved (checked
// every Refresh).
func (p *Poller) watch(ctx context.Context, version uint64) {
	defer p.watchWG.Done()
	for {
		t := p.clk.NewTimer(p.o.Refresh)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
			if v := p.o.Catalog.Version(); v == version {
				continue
			}
		}
		t.Stop()
		version = p.o.Catalog.Version()
		p.sync()
	}
}

// sync makes the workers match the catalog and the assignment.
func (p *Poller) sync() {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	want := map[mailbox.ID]*mailbox.Mailbox{}
	for _, m := range p.o.Catalog.Mailboxes() {
		if m == nil || m.Kind != mailbox.Inbound || m.Inbound == nil || !p.assign.Runs(m.ID) {
			continue
		}
		want[m.ID] = m
	}
	p.mu.Lock()
	var gone []mailbox.ID
	var changed []*mailbox.Mailbox
	for id, w := range p.workers {
		m, ok := want[id]
		switch {
		case !ok:
			gone = append(gone, id)
		case m != w.src && !reflect.DeepEqual(m, w.src):
			changed = append(changed, m)
		default:
			w.src = m
		}
	}
	for id, m := range want {
		if p.workers[id] == nil {
			changed = append(changed, m)
		}
	}
	p.mu.Unlock()
	for _, id := range gone {
		p.remove(id)
	}
	for _, m := range changed {
		p.add(m)
	}
}

// add starts reading m, or applies a changed m: the mailbox's worker is
// stopped (its in-flight hand-off finishes) and started again with the new
// settings. A disabled mailbox is kept in health as disabled and not read.
func (p *Poller) add(src *mailbox.Mailbox) {
	m := src.Clone()
	p.stop(m.ID)
	defer p.flushEvents()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	h := p.health[m.ID]
	if h == nil {
		h = &engine.Health{Mailbox: m.ID, Kind: mailbox.Inbound}
		p.health[m.ID] = h
	}
	w := &worker{p: p, mb: m, src: src, br: &breaker.Breaker{Threshold: p.o.BreakerThreshold, Cooldown: p.backoff, Clock: p.clk}, done: make(chan struct{})}
	p.workers[m.ID] = w
	if !m.Enabled {
		w.closed = true
		close(w.done)
		p.setLocked(h, engine.StateDisabled, "")
		return
	}
	p.setLocked(h, engine.StateStarting, "")
	if p.ctx != nil {
		p.startLocked(w)
	}
}

// remove stops reading a mailbox (its in-flight hand-off finishes) and
// forgets its health. Its checkpoint and keys stay in the store, so adding
// it again never hands a message twice.
func (p *Poller) remove(id mailbox.ID) {
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
		if !w.started && !w.closed { // never started
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

// Health returns the health of one mailbox, or engine.ErrUnknownMailbox.
func (p *Poller) Health(_ context.Context, id mailbox.ID) (engine.Health, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h, ok := p.health[id]
	if !ok {
		return engine.Health{}, fmt.Errorf("inbound: mailbox %q: %w", id, engine.ErrUnknownMailbox)
	}
	return *h, nil
}

// HealthAll returns the health of every mailbox, sorted by mailbox ID.
func (p *Poller) HealthAll(context.Context) ([]engine.Health, error) {
	p.mu.Lock()
	out := make([]engine.Health, 0, len(p.health))
	for _, h := range p.health {
		out = append(out, *h)
	}
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b engine.Health) int { return strings.Compare(string(a.Mailbox), string(b.Mailbox)) })
	return out, nil
}

// setLocked changes h's state; the event is queued and delivered by
// flushEvents once the lock is released, so OnEvent may call back into
// the Poller.
func (p *Poller) setLocked(h *engine.Health, s engine.State, errText string) {
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
func (p *Poller) update(id mailbox.ID, f func(h *engine.Health) (engine.State, string)) {
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

// Probe tests m's settings the way the Poller would connect, through its
// Source (for IMAP: its Dialer, address policy, TLS configuration and
// timeouts; connect, TLS, login, folder check, capabilities, logout). It
// is the "test connection" button before saving a mailbox; m need not be
// added. Report.Detail holds the transport's own report (an
// imap.ProbeReport for IMAP).
func (p *Poller) Probe(ctx context.Context, m *mailbox.Mailbox) (transport.Report, error) {
	return transport.CheckWith(ctx, p.o.Source, m)
}

// Validate checks m for the Poller's Source: the settings its transport
// reads, and that the transport offers the mailbox's post-action.
func (p *Poller) Validate(m *mailbox.Mailbox) error {
	return transport.ValidateSource(p.o.Source, m)
}
