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

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/semaphore"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/internal/backoff"
	"github.com/correio-dev/correio/internal/breaker"
	"github.com/correio-dev/correio/internal/telemetry"
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
	DefaultCommitBatch           = 50
	DefaultCommitWithin          = 100 * time.Millisecond
	DefaultRetryBase             = time.Second
	DefaultRetryMax              = 5 * time.Minute
	DefaultBreakerThreshold      = 3
	DefaultLoopGuardMax          = 20
	DefaultLoopGuardWindow       = time.Hour
	// DefaultMaxCheckDelay is how late a check of a mailbox may be, past
	// its interval, before the mailbox is over budget (see
	// Options.MaxCheckDelay).
	DefaultMaxCheckDelay = time.Minute
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
	// DefaultMaxConnections, lowered to what the process's file-descriptor
	// limit allows, with a warning). Up to the caps every mailbox keeps a
	// session (IDLE, or polling); beyond them a share of the connections
	// serves a fair rotation of short sessions, so every mailbox is still
	// checked (Health.Mode rotating). See README, "Thousands of mailboxes".
	MaxConnections int
	// MaxConnectionsPerHost caps connections to one server host (default
	// DefaultMaxConnectionsPerHost): mailboxes of one provider share its
	// limits, and a dead host holds only its own slots. Providers that
	// document a limit per account (Gmail, Microsoft 365) get that too.
	MaxConnectionsPerHost int
	// MaxCheckDelay is how late a mailbox's check may be, past its
	// interval (PollInterval; IdleRenew in push mode), before it is
	// engine.StateOverBudget, with an event and a log line (default
	// DefaultMaxCheckDelay, or twice the estimated rotation when that is
	// longer, so the bound grows with the mailboxes rotating).
	MaxCheckDelay time.Duration
	// MaxHandoffs caps concurrent fetch-and-hand-off batches (default
	// DefaultMaxHandoffs).
	MaxHandoffs int
	// BatchSize is the number of messages fetched per batch (default
	// DefaultBatchSize).
	BatchSize int
	// CommitBatch is how many hand-offs of one mailbox are recorded in the
	// store with one transaction (a group commit, when the store is a
	// store.BatchCommitter: store/sqlite, store/postgres, store/memory),
	// default DefaultCommitBatch; never more than one fetch batch
	// (BatchSize). 1 commits every hand-off on its own. A crash repeats
	// (with the same Delivery.Key) the hand-offs not committed yet: at
	// most CommitBatch per mailbox, instead of one (README, "Guarantees").
	CommitBatch int
	// CommitWithin bounds how long a hand-off waits for its group commit
	// (default DefaultCommitWithin): checked as each hand-off returns and
	// before the next starts, so one handler call longer than it extends
	// the wait by that call.
	CommitWithin time.Duration
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
	// AuthRetry is how a mailbox whose server refused its credentials
	// (engine.StateAuthFailed) is retried: by default 3 times in the first
	// hour, then once an hour, never with the reconnect backoff, so the
	// provider does not lock the account. A dead OAuth2 grant
	// (transport.ErrReauthRequired, engine.StateReauthRequired) is not
	// retried until the mailbox changes or CheckNow.
	AuthRetry engine.AuthRetry
	// TracerProvider receives the Poller's spans (README, "Telemetry"):
	// correio.inbound.session, .check, .fetch and .handoff. Nil means the
	// OpenTelemetry global provider (a no-op until the host sets one): the
	// one intended exception to "no global state".
	TracerProvider trace.TracerProvider
}

// ScopeName is the instrumentation scope of the Poller's spans.
const ScopeName = "github.com/correio-dev/correio/inbound"

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
	sched   *scheduler
	tracer  trace.Tracer
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
	paused  map[mailbox.ID]bool // by Pause

	// hmu guards health and pending only, so Health and HealthAll never
	// wait for the engine's work.
	hmu     sync.Mutex
	health  map[mailbox.ID]*mbHealth
	order   []*mbHealth // health sorted by mailbox ID; nil after a change
	pending []Event
	nextDue time.Time // no bound passes before it (zero: no bound set)

	ownMu   sync.RWMutex
	own     map[string]int // our addresses (lower case) -> mailboxes using them
	emitMu  sync.Mutex     // orders OnEvent calls
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
	if opts.CommitBatch <= 0 {
		opts.CommitBatch = DefaultCommitBatch
	}
	opts.CommitWithin = commitWithinDefault(opts.CommitWithin)
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
	if opts.MaxCheckDelay <= 0 {
		opts.MaxCheckDelay = DefaultMaxCheckDelay
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
		handoff: semaphore.NewWeighted(int64(opts.MaxHandoffs)),
		tracer:  telemetry.Tracer(opts.TracerProvider, ScopeName),
		workers: map[mailbox.ID]*worker{},
		health:  map[mailbox.ID]*mbHealth{},
		own:     map[string]int{},
	}
	// abort is made here, not in Start: pushed mail (Ingester) hands off
	// through the Poller without starting it.
	p.abort, p.abortFn = context.WithCancel(context.Background())
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.o.MaxConnections = fitDescriptors(p.log, opts.MaxConnections)
	p.sched = newScheduler(p.o.MaxConnections, opts.MaxConnectionsPerHost, accountLimit)
	for _, a := range opts.OwnAddresses {
		p.addOwn(a, 1)
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
	p.mu.Unlock()
	version := p.o.Catalog.Version()
	p.sync()
	p.watchWG.Add(2)
	go p.watch(p.ctx, version)
	go p.watchBudget(p.ctx)
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
	p.mu.Unlock()
	p.hmu.Lock()
	for _, e := range p.health {
		if e.h.State != engine.StateDisabled {
			p.setLocked(&e.h, engine.StateStopped, "")
		}
	}
	p.hmu.Unlock()
	p.flushEvents()
	return interrupted
}

// StopMargin is the most time Poller.Stop gives the hand-offs and
// post-actions it interrupts to wind down before its context's deadline.
const StopMargin = time.Second

// Run starts the Poller, reads every mailbox until ctx ends, then stops
// it, waits for in-flight hand-offs to finish and returns nil.
func (p *Poller) Run(ctx context.Context) error { return engine.Run(ctx, p) }

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
		if m == nil || m.Kind != mailbox.Inbound || m.Inbound == nil || !p.assign.Runs(m.ID) ||
			m.Transport() == mailbox.TransportPush { // pushed mail comes through an Ingester
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
	if old := p.workers[m.ID]; old != nil {
		p.addOwn(old.mb.Address, -1)
	}
	p.addOwn(m.Address, 1)
	w := &worker{p: p, mb: m, src: src, kick: make(chan struct{}, 1), br: &breaker.Breaker{Threshold: p.o.BreakerThreshold, Cooldown: p.backoff, Clock: p.clk}, done: make(chan struct{})}
	p.workers[m.ID] = w
	p.hmu.Lock()
	defer p.hmu.Unlock()
	e := p.health[m.ID]
	if e == nil {
		e = &mbHealth{h: engine.Health{Mailbox: m.ID, Kind: mailbox.Inbound}}
		p.health[m.ID] = e
		p.order = nil
	}
	p.setDeadlineLocked(e, time.Time{})
	e.h.Mode, e.h.NextCheck = "", time.Time{}
	if !m.Enabled {
		w.closed = true
		close(w.done)
		p.setLocked(&e.h, engine.StateDisabled, "")
		return
	}
	if p.paused[m.ID] {
		w.closed = true
		close(w.done)
		text := engine.ErrPausedByAdmin.Error()
		if e.h.State == engine.StatePaused && e.h.LastError == text {
			text = "" // still paused (the mailbox changed): no new event
		} else {
			e.h.LastError, e.h.LastErrorAt = text, p.clk.Now()
		}
		p.setLocked(&e.h, engine.StatePaused, text)
		return
	}
	if e.h.State == engine.StatePaused && e.h.LastError == engine.ErrPausedByAdmin.Error() {
		e.h.LastError = "" // resumed
	}
	p.setLocked(&e.h, engine.StateStarting, "") // its worker sets the first bound
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
	if w := p.workers[id]; w != nil {
		p.addOwn(w.mb.Address, -1)
	}
	delete(p.workers, id)
	p.mu.Unlock()
	p.hmu.Lock()
	delete(p.health, id)
	p.order = nil
	p.hmu.Unlock()
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
	p.hmu.Lock()
	defer p.hmu.Unlock()
	e, ok := p.health[id]
	if !ok {
		return engine.Health{}, fmt.Errorf("inbound: mailbox %q: %w", id, engine.ErrUnknownMailbox)
	}
	return e.h, nil
}

// HealthAll returns the health of every mailbox, sorted by mailbox ID. It
// takes only the lock of the health records (never one the engine's work
// holds), so it answers in milliseconds at 10,000 mailboxes.
func (p *Poller) HealthAll(context.Context) ([]engine.Health, error) {
	// The copy (3 MB at 10,000 mailboxes) is allocated before the lock is
	// taken: an allocation may have to help the garbage collector, which
	// would stall every mailbox's health update behind this call.
	p.hmu.Lock()
	n := len(p.health)
	p.hmu.Unlock()
	out := make([]engine.Health, n)
	p.hmu.Lock()
	if p.order == nil { // sorted once per catalog change, not per call
		p.order = make([]*mbHealth, 0, len(p.health))
		for _, e := range p.health {
			p.order = append(p.order, e)
		}
		slices.SortFunc(p.order, func(a, b *mbHealth) int { return strings.Compare(string(a.h.Mailbox), string(b.h.Mailbox)) })
	}
	if len(out) != len(p.order) { // the catalog changed meanwhile
		out = make([]engine.Health, len(p.order))
	}
	for i, e := range p.order {
		out[i] = e.h
	}
	p.hmu.Unlock()
	return out, nil
}

// mbHealth is a mailbox's health record; deadline is when the mailbox is
// over budget unless checked before (zero: no bound, e.g. disabled).
type mbHealth struct {
	h        engine.Health
	deadline time.Time
	// late says the mailbox went over budget for this deadline (logged and
	// evented once); a new deadline clears it.
	late bool
}

// setDeadlineLocked (p.hmu held) gives e a new bound (zero: none) and
// keeps p.nextDue, the earliest bound checkBudget must look at, so its
// scans run only when a bound may have passed.
func (p *Poller) setDeadlineLocked(e *mbHealth, t time.Time) {
	e.deadline, e.late = t, false
	if !t.IsZero() && (p.nextDue.IsZero() || t.Before(p.nextDue)) {
		p.nextDue = t
	}
}

// setLocked (p.hmu held) changes h's state; the event is queued and delivered by
// flushEvents once the lock is released, so OnEvent may call back into
// the Poller.
func (p *Poller) setLocked(h *engine.Health, s engine.State, errText string) {
	changed := h.State != s
	if changed {
		h.State, h.Since = s, p.clk.Now()
	}
	if s.Hint() == "" {
		h.Hint = ""
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
	p.hmu.Lock()
	evs := p.pending
	p.pending = nil
	p.hmu.Unlock()
	for _, e := range evs {
		p.o.OnEvent(e)
	}
}

// update changes a mailbox's health under the lock.
func (p *Poller) update(id mailbox.ID, f func(h *engine.Health) (engine.State, string)) {
	p.updateRecord(id, func(e *mbHealth) (engine.State, string) { return f(&e.h) })
}

func (p *Poller) updateRecord(id mailbox.ID, f func(e *mbHealth) (engine.State, string)) {
	p.hmu.Lock()
	e := p.health[id]
	if e == nil {
		p.hmu.Unlock()
		return
	}
	s, text := f(e)
	if s == "" {
		s = e.h.State
	}
	if e.late {
		switch s { // over budget until checked, not queued again
		case engine.StateStarting, engine.StateQueued, engine.StateConnecting, engine.StateWaiting:
			s = engine.StateOverBudget
		}
	}
	p.setLocked(&e.h, s, text)
	p.hmu.Unlock()
	p.flushEvents()
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
