package outbound

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/semaphore"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/internal/backoff"
	"github.com/correio-dev/correio/internal/breaker"
	"github.com/correio-dev/correio/internal/telemetry"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/threading"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/smtp"
)

// Defaults of Options.
const (
	DefaultMaxConcurrency   = 32
	DefaultBatchSize        = 20
	DefaultLease            = 10 * time.Minute
	DefaultMaxAge           = 24 * time.Hour
	DefaultRetryBase        = time.Minute
	DefaultRetryMax         = time.Hour
	DefaultBreakerThreshold = 5
	DefaultBreakerCooldown  = 30 * time.Second
)

// Options configure a Sender. Outbox and Catalog are required.
type Options struct {
	// Outbox stores the messages durably.
	Outbox store.Outbox
	// Catalog supplies the mailboxes (read at every batch, so changed
	// settings apply to the next connection; HealthAll lists its outbound
	// mailboxes).
	Catalog engine.Catalog
	// Assignment says which mailboxes' queued mail this Sender sends (nil:
	// every mailbox). The records of other mailboxes stay queued for the
	// Sender that runs them. With an Assignment, a mailbox's rate window
	// starts used up (nothing for RateLimit.Per) rather than empty: the
	// mailbox may have been sending from another replica a moment before,
	// and its limit is the cluster's.
	Assignment engine.Assignment
	// Transport sends. Nil means the SMTP transport, smtp.New with the
	// Logger, closed by Stop (http.Client.Transport style); a
	// transport.Senders chooses one per mailbox by its transport kind, and
	// a host may wrap either (tracing, its own limits, a recording fake in
	// its tests). A Transport passed in is not closed by Stop.
	Transport transport.Sender
	// Clock drives retries, leases, breakers and rate limits.
	Clock clock.Clock
	// Logger receives delivery events (never secrets); default discard.
	Logger *slog.Logger
	// MaxConcurrency bounds the batches in flight over all mailboxes
	// (default 32). Each mailbox also keeps to its MaxConnections.
	MaxConcurrency int
	// BatchSize is how many messages a worker sends over one connection
	// (default 20).
	BatchSize int
	// Lease is how long a claim holds (default 10 min); a crashed
	// worker's records are sent again once it expires.
	Lease time.Duration
	// MaxAge is how long a message is retried after Enqueue (default 24 h).
	MaxAge time.Duration
	// RetryBase and RetryMax shape the exponential backoff with jitter
	// (defaults 1 min and 1 h).
	RetryBase, RetryMax time.Duration
	// BreakerThreshold consecutive connection failures open a mailbox's
	// circuit breaker (default 5); it probes again after BreakerCooldown,
	// growing with each failed probe (default 30 s).
	BreakerThreshold int
	BreakerCooldown  time.Duration
	// Suppressions, when set, is consulted at Enqueue; recipients refused
	// permanently are added to it.
	Suppressions store.Suppressions
	// FailoverAfter, when positive, turns the failover on: messages
	// routed to a contract's mailbox (routing.RuleContract) that has been
	// failing longer than this go out through the system mailbox instead,
	// with its From, Reply-To and Message-ID domain. Off by default: the
	// messages wait for their own mailbox.
	FailoverAfter time.Duration
	// OnEvent, when set, is called for every delivery event. It runs on
	// the delivery goroutine: keep it fast.
	OnEvent func(Event)
	// Tokens formats the thread token put in subjects; default
	// threading.TokenFormat{}.
	Tokens *threading.Tokens
	// AuthRetry is how a mailbox whose server refused its credentials
	// (engine.StateAuthFailed) is retried: by default 3 times in the first
	// hour, then once an hour, with one login for all of its queued
	// messages (they stay queued meanwhile, no attempt counted). A dead
	// OAuth2 grant (engine.StateReauthRequired) is not retried until the
	// mailbox changes in the catalog or CheckNow.
	AuthRetry engine.AuthRetry
	// TracerProvider receives the Sender's spans (README, "Telemetry"):
	// correio.outbound.session and correio.outbound.send. Nil means the
	// OpenTelemetry global provider (a no-op until the host sets one): the
	// one intended exception to "no global state".
	TracerProvider trace.TracerProvider
}

// ScopeName is the instrumentation scope of the Sender's spans.
const ScopeName = "github.com/correio-dev/correio/outbound"

// EventKind says what happened to a message.
type EventKind int

const (
	// EventDelivered: the server accepted the message for Recipients.
	EventDelivered EventKind = iota + 1
	// EventDeferred: a temporary failure; retried at NextAttempt.
	EventDeferred
	// EventFailed: Recipients will not receive the message (permanent
	// refusal, or retried longer than MaxAge).
	EventFailed
	// EventSuppressed: Recipients were skipped by the suppression list.
	EventSuppressed
	// EventRerouted: the failover moved the message to the system mailbox.
	EventRerouted
	// EventHealth: the mailbox entered a state that needs a person
	// (authentication failed, re-authorisation required, down); Health
	// says which and what to do (Hint). Sent once when the state starts,
	// not per attempt; ID and Recipients are empty.
	EventHealth
	// EventCancelled: an administrator cancelled the queued message
	// (Cancel); Recipients will not receive it.
	EventCancelled
)

// String returns "delivered", "deferred", "failed", "suppressed",
// "rerouted", "health" or "cancelled".
func (k EventKind) String() string {
	switch k {
	case EventDelivered:
		return "delivered"
	case EventDeferred:
		return "deferred"
	case EventFailed:
		return "failed"
	case EventSuppressed:
		return "suppressed"
	case EventRerouted:
		return "rerouted"
	case EventHealth:
		return "health"
	case EventCancelled:
		return "cancelled"
	}
	return "unknown"
}

// Event reports a delivery outcome to the host.
type Event struct {
	Kind      EventKind
	ID        string // outbox record
	MessageID string
	Mailbox   mailbox.ID
	// Recipients concerned by the event.
	Recipients []string
	Attempt    int
	// NextAttempt of a deferred message.
	NextAttempt time.Time
	// Reason says why (the server's reply, the suppression reason, ...).
	Reason string
	// Err is the classified error, when there is one.
	Err error
	// Rule and Decision explain why the message goes out through Mailbox.
	Rule     routing.Rule
	Decision string
	// Health is the mailbox's health, for EventHealth.
	Health engine.Health
}

// Sender delivers enqueued messages: a queue per mailbox in the Outbox,
// workers that each send a batch over one pooled connection, retries with
// backoff, a circuit breaker and a rate limit per mailbox, and a total
// bound on concurrent batches. One mailbox's dead or slow server holds only
// its own connections and slots.
type Sender struct {
	o      Options
	clk    clock.Clock
	log    *slog.Logger
	tr     transport.Sender
	ownTr  *smtp.Transport // the default transport, closed by Stop
	sem    *semaphore.Weighted
	policy backoff.Policy
	assign engine.Assignment
	tracer trace.Tracer

	mu      sync.Mutex
	boxes   map[mailbox.ID]*boxState
	started bool
	// idle is signalled (on mu) whenever a worker ends; reloaded is
	// closed and replaced by every Reload, waking workers that wait for
	// the rate limit to check their assignment.
	idle     *sync.Cond
	reloaded chan struct{}

	wake       chan struct{}
	runCtx     context.Context
	cancelRun  context.CancelFunc
	sendCtx    context.Context
	cancelSend context.CancelFunc
	wg         sync.WaitGroup
	stopping   atomic.Bool
	// starved is set by the dispatcher when a due mailbox found no free
	// slot of the total bound: running workers then stop claiming more.
	starved atomic.Bool
	stopped chan struct{} // closed once a Stop's work is done
	rotate  int
}

type boxState struct {
	breaker *breaker.Breaker
	limiter *sendWindow
	rateCfg mailbox.Rate
	active  int

	lastSuccess time.Time
	lastErrorAt time.Time
	downSince   time.Time
	lastError   string
	failures    int // connection failures since the last success

	// connected is true once a connection succeeded; until then, and while
	// failing, one batch at a time logs in. hold is the state a refused
	// login put the mailbox in (auth failed, re-authorisation required):
	// no batch starts before holdUntil (never for a dead grant) unless
	// the mailbox changed (heldSrc is the catalog's mailbox at the
	// failure) or CheckNow (kicked). attn is the state needing a person
	// whose event went out, hint what to do. paused is set by Pause.
	connected bool
	hold      engine.State
	holdUntil time.Time
	heldSrc   *mailbox.Mailbox
	authFails int
	kicked    bool
	attn      engine.State
	hint      string
	paused    bool
}

// ErrConfig is returned by New for missing options.
var ErrConfig = errors.New("outbound: invalid options")

// New returns a Sender; call Start to begin delivering.
func New(o Options) (*Sender, error) {
	if o.Outbox == nil || o.Catalog == nil {
		return nil, fmt.Errorf("%w: Outbox and Catalog are required", ErrConfig)
	}
	if o.MaxConcurrency <= 0 {
		o.MaxConcurrency = DefaultMaxConcurrency
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.RetryBase <= 0 {
		o.RetryBase = DefaultRetryBase
	}
	if o.RetryMax <= 0 {
		o.RetryMax = DefaultRetryMax
	}
	if o.BreakerThreshold <= 0 {
		o.BreakerThreshold = DefaultBreakerThreshold
	}
	if o.BreakerCooldown <= 0 {
		o.BreakerCooldown = DefaultBreakerCooldown
	}
	if o.Tokens == nil {
		o.Tokens = threading.TokenFormat{}.MustCompile()
	}
	s := &Sender{
		o:        o,
		clk:      clock.OrReal(o.Clock),
		log:      o.Logger,
		tr:       o.Transport,
		sem:      semaphore.NewWeighted(int64(o.MaxConcurrency)),
		policy:   backoff.Policy{Base: o.RetryBase, Max: o.RetryMax},
		tracer:   telemetry.Tracer(o.TracerProvider, ScopeName),
		boxes:    map[mailbox.ID]*boxState{},
		wake:     make(chan struct{}, 1),
		stopped:  make(chan struct{}),
		reloaded: make(chan struct{}),
	}
	s.idle = sync.NewCond(&s.mu)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.assign = o.Assignment; s.assign == nil {
		s.assign = engine.All
	}
	if s.tr == nil {
		s.ownTr = smtp.New(smtp.Options{Logger: o.Logger})
		s.tr = s.ownTr
	}
	return s, nil
}

// ErrStarted is returned by a second Start.
var ErrStarted = engine.ErrStarted

// Start releases stale claims (a previous process's lease that expired)
// and starts delivering in the background until Stop.
func (s *Sender) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return ErrStarted
	}
	s.started = true
	s.mu.Unlock()
	if n, err := s.o.Outbox.ReleaseStale(ctx, s.clk.Now()); err != nil {
		return fmt.Errorf("outbound: releasing stale claims: %w", err)
	} else if n > 0 {
		s.log.Info("released stale outbox claims", slog.Int("count", n))
	}
	s.runCtx, s.cancelRun = context.WithCancel(context.WithoutCancel(ctx))
	s.sendCtx, s.cancelSend = context.WithCancel(context.WithoutCancel(ctx))
	s.wg.Add(1)
	go s.run()
	return nil
}

// Stop stops claiming new work, lets the sends in flight finish and leaves
// everything else queued (claimed records not yet sent are released), and
// closes the default transport. It returns by ctx's deadline. Sends still
// in flight shortly before the deadline (a quarter of the time left when
// Stop was called, at most StopMargin) are interrupted, so that their
// records are released by the deadline (they may be sent again, with the
// same Message-ID); Stop then returns context.DeadlineExceeded. When ctx
// ends (or is cancelled) before the interrupted sends wound down, Stop
// returns ctx.Err() at once and they finish in the background; a claim not
// released comes back when its lease expires. A second Stop waits for the
// first one's work (by its own ctx) and returns nil once it is done.
func (s *Sender) Stop(ctx context.Context) error {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		if s.ownTr != nil {
			return s.ownTr.Close()
		}
		return nil
	}
	if !s.stopping.Swap(true) {
		s.cancelRun()
		go func() {
			s.wg.Wait()
			s.cancelSend()
			if s.ownTr != nil {
				_ = s.ownTr.Close()
			}
			close(s.stopped)
		}()
	}
	var early <-chan time.Time
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		t := time.NewTimer(max(left-min(left/4, StopMargin), 0))
		defer t.Stop()
		early = t.C
	}
	interrupted := false
	for {
		select {
		case <-s.stopped:
			if interrupted {
				return context.DeadlineExceeded
			}
			return nil
		case <-early:
			early, interrupted = nil, true
			s.cancelSend() // interrupt the sends in flight
		case <-ctx.Done():
			s.cancelSend()
			return ctx.Err()
		}
	}
}

// StopMargin is the most time Sender.Stop gives the sends it interrupts to
// release their records before its context's deadline.
const StopMargin = time.Second

// Wake makes the dispatcher look at the outbox now. Enqueue does it by
// itself; call Wake when records reach the outbox another way, for example
// committed in the host's own database transaction (store/postgres.WithTx,
// with store/postgres.Store.ListenOutbox calling Wake on every commit).
func (s *Sender) Wake() { s.signal() }

// Reload makes the Sender read the catalog and its Assignment now: the
// dispatcher looks at the outbox again at once (the catalog itself is read
// at every batch). It returns once no send is in flight for a mailbox the
// Assignment no longer runs: their workers stop before their next message
// (a message being sent finishes) and release the rest of their claims, so
// a replica that hands a mailbox over has stopped sending from it when
// Reload returns.
func (s *Sender) Reload() {
	s.mu.Lock()
	close(s.reloaded)
	s.reloaded = make(chan struct{})
	s.mu.Unlock()
	s.signal()
	s.mu.Lock()
	for s.busyUnassignedLocked() {
		s.idle.Wait()
	}
	var gone []mailbox.ID
	for id, st := range s.boxes {
		if !s.assign.Runs(id) {
			gone = append(gone, id)
			// Another Sender sends from it now: should it come back, its
			// limiter starts empty again rather than refilled.
			st.limiter = nil
		}
	}
	s.mu.Unlock()
	// The idle pooled connections of the mailboxes handed over are closed
	// too, so the cluster keeps to each mailbox's MaxConnections.
	if ic, ok := s.tr.(idleCloser); ok {
		for _, id := range gone {
			ic.CloseIdle(id)
		}
	}
}

// idleCloser is a transport that keeps idle connections per mailbox
// (smtp.Transport).
type idleCloser interface {
	CloseIdle(id mailbox.ID)
}

// busyUnassignedLocked reports whether a worker still runs for a mailbox
// the Assignment no longer runs; s.mu held.
func (s *Sender) busyUnassignedLocked() bool {
	for id, st := range s.boxes {
		if st.active > 0 && !s.assign.Runs(id) {
			return true
		}
	}
	return false
}

// Run starts the Sender, delivers until ctx ends, then stops it, letting
// the sends in flight finish, and returns nil (or Start's error).
func (s *Sender) Run(ctx context.Context) error { return engine.Run(ctx, s) }

// signal wakes the dispatcher.
func (s *Sender) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Probe tests m's settings the way the Sender would connect, through its
// Transport (for SMTP: greeting, EHLO, TLS, authentication, no message
// sent). It is the "test connection" button before saving a mailbox; m
// need not be in the catalog. Report.Detail holds the transport's own
// report (an smtp.ProbeReport for SMTP).
func (s *Sender) Probe(ctx context.Context, m *mailbox.Mailbox) (transport.Report, error) {
	return transport.CheckWith(ctx, s.tr, m)
}

// Validate checks m for the Sender's Transport: the settings its
// transport reads (mailbox.Validate when the transport has no checks of
// its own).
func (s *Sender) Validate(m *mailbox.Mailbox) error {
	if c, ok := s.tr.(transport.Checker); ok {
		return c.Validate(m)
	}
	return m.Validate()
}
