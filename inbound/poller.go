package inbound

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/internal/backoff"
	"github.com/correio-dev/correio/internal/breaker"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/message"
	"github.com/correio-dev/correio/routing"
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

// Options configure a Poller. Store and Handler are required; every other
// field has a working default.
type Options struct {
	Store   store.Inbound
	Handler Handler
	// Catalog gives each mailbox's contract (InboundOwner). Optional.
	Catalog routing.Catalog
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
	// Parse bounds the parser.
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
	tokens  *threading.Tokens
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
	if opts.Source == nil {
		opts.Source = imap.NewSource(opts.IMAP)
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
		p.tokens = threading.TokenFormat{}.MustCompile()
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
