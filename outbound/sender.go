package outbound

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/internal/backoff"
	"github.com/correio-dev/correio/internal/breaker"
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
	// settings apply to the next connection).
	Catalog routing.Catalog
	// Transport sends; default smtp.New(smtp.Options{}), closed by Stop.
	Transport *smtp.Transport
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
}

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
)

// String returns "delivered", "deferred", "failed", "suppressed" or
// "rerouted".
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
	tr     *smtp.Transport
	ownTr  bool
	sem    *semaphore.Weighted
	policy backoff.Policy

	mu      sync.Mutex
	boxes   map[mailbox.ID]*boxState
	started bool

	wake       chan struct{}
	runCtx     context.Context
	cancelRun  context.CancelFunc
	sendCtx    context.Context
	cancelSend context.CancelFunc
	wg         sync.WaitGroup
	stopping   atomic.Bool
	rotate     int
}

type boxState struct {
	breaker *breaker.Breaker
	limiter *rate.Limiter
	rateCfg mailbox.Rate
	active  int

	lastSuccess time.Time
	lastErrorAt time.Time
	downSince   time.Time
	lastError   string
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
		o:      o,
		clk:    clock.OrReal(o.Clock),
		log:    o.Logger,
		tr:     o.Transport,
		sem:    semaphore.NewWeighted(int64(o.MaxConcurrency)),
		policy: backoff.Policy{Base: o.RetryBase, Max: o.RetryMax},
		boxes:  map[mailbox.ID]*boxState{},
		wake:   make(chan struct{}, 1),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.tr == nil {
		s.tr = smtp.New(smtp.Options{Logger: o.Logger})
		s.ownTr = true
	}
	return s, nil
}

// ErrStarted is returned by a second Start.
var ErrStarted = errors.New("outbound: sender already started")

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
// everything else queued (claimed records not yet sent are released). When
// ctx ends first, the sends in flight are interrupted (their records are
// released and may be sent again, with the same Message-ID). Stop returns
// once no goroutine of the Sender is left.
func (s *Sender) Stop(ctx context.Context) error {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		if s.ownTr {
			return s.tr.Close()
		}
		return nil
	}
	if s.stopping.Swap(true) {
		return nil
	}
	s.cancelRun()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.cancelSend()
		<-done
		err = ctx.Err()
	}
	s.cancelSend()
	if s.ownTr {
		_ = s.tr.Close()
	}
	return err
}

// Wake makes the dispatcher look at the outbox now. Enqueue does it by
// itself; call Wake when records reach the outbox another way, for example
// committed in the host's own database transaction (store/postgres.WithTx,
// with store/postgres.Store.ListenOutbox calling Wake on every commit).
func (s *Sender) Wake() { s.signal() }

// signal wakes the dispatcher.
func (s *Sender) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Enqueue validates msg, fixes its Message-ID on the sending mailbox's
// domain, applies the suppression list, tags the subject with the thread
// token, and stores it in the Outbox. It returns the record ID once the
// message is durable. A CR or LF in any header value is an *InputError
// wrapping workflow.ErrHeaderInjection.
func (s *Sender) Enqueue(ctx context.Context, msg store.Message) (string, error) {
	if err := validate(&msg); err != nil {
		return "", err
	}
	mb, ok := s.o.Catalog.Mailbox(msg.Mailbox)
	if !ok || mb.Kind != mailbox.Outbound || mb.Outbound == nil {
		return "", &InputError{Field: "mailbox", Err: fmt.Errorf("%w: %q", routing.ErrNotOutbound, msg.Mailbox)}
	}
	if msg.Thread != "" {
		tagged, err := s.o.Tokens.Tag(msg.Subject, msg.Thread)
		if err != nil {
			return "", &InputError{Field: "thread", Err: err}
		}
		msg.Subject = tagged
	}
	msg.To = slices.Clone(msg.To)
	msg.Cc = slices.Clone(msg.Cc)
	msg.Bcc = slices.Clone(msg.Bcc)
	msg.References = slices.Clone(msg.References)
	msg.Attachments = slices.Clone(msg.Attachments)
	now := s.clk.Now()
	rec := &store.OutboxRecord{
		ID:             "ob-" + strings.ToLower(rand.Text()),
		MessageID:      newMessageID(mb.Outbound.From.Address),
		Mailbox:        mb.ID,
		Message:        msg,
		State:          store.Queued,
		EnqueuedAt:     now,
		NextAttempt:    now,
		Rule:           msg.Rule,
		DecisionReason: msg.Reason,
		Contract:       msg.Contract,
	}
	var suppressed []store.RecipientStatus
	for kind, list := range [][]store.Address{msg.To, msg.Cc, msg.Bcc} {
		for _, a := range list {
			st := store.RecipientStatus{Address: a, Kind: store.RecipientKind(kind)}
			if s.o.Suppressions != nil && !msg.IgnoreSuppression {
				reason, ok, err := s.o.Suppressions.Suppressed(ctx, a.Address)
				if err != nil {
					return "", fmt.Errorf("outbound: suppression list: %w", err)
				}
				if ok {
					st.State, st.Reason = store.Suppressed, reason
					suppressed = append(suppressed, st)
				}
			}
			rec.Recipients = append(rec.Recipients, st)
		}
	}
	if len(rec.Pending()) == 0 {
		rec.State = store.Dead
		rec.Reason = "every recipient is on the suppression list"
	}
	if err := s.o.Outbox.Put(ctx, rec); err != nil {
		return "", fmt.Errorf("outbound: storing the message: %w", err)
	}
	for _, st := range suppressed {
		s.emit(Event{Kind: EventSuppressed, ID: rec.ID, MessageID: rec.MessageID, Mailbox: rec.Mailbox,
			Recipients: []string{st.Address.Address}, Reason: st.Reason, Rule: rec.Rule, Decision: rec.DecisionReason})
	}
	s.signal()
	return rec.ID, nil
}

func (s *Sender) emit(e Event) {
	lvl := slog.LevelInfo
	if e.Kind == EventDeferred || e.Kind == EventFailed {
		lvl = slog.LevelWarn
	}
	s.log.LogAttrs(context.Background(), lvl, "outbound "+e.Kind.String(), slog.String("id", e.ID), slog.String("message_id", e.MessageID),
		slog.String("mailbox", string(e.Mailbox)), slog.Int("recipients", len(e.Recipients)), slog.String("reason", e.Reason))
	if s.o.OnEvent != nil {
		s.o.OnEvent(e)
	}
}

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
		st := s.box(d.Mailbox)
		limit := s.o.BatchSize
		cap := mailbox.DefaultMaxConnections
		if mb, ok := s.o.Catalog.Mailbox(d.Mailbox); ok && mb.Outbound != nil {
			cap = mb.Outbound.MaxConnectionsOrDefault()
		}
		want := (d.Count + limit - 1) / limit
		for st.active < cap && want > 0 {
			if !s.sem.TryAcquire(1) {
				return next // a finishing worker wakes us
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
		err := &transport.Error{Class: transport.Temporary, Protocol: "smtp", Op: "send", Err: routing.ErrMailboxDisabled, Hint: "enable the mailbox"}
		for _, r := range recs {
			s.retry(r, token, err)
		}
		return
	}
	conn, err := s.tr.Conn(ctx, mb)
	if err != nil {
		if ctx.Err() == nil {
			s.connFailed(st, err)
		}
		for _, r := range recs {
			if ctx.Err() != nil {
				s.release(r, token)
				continue
			}
			r.Attempts++
			s.retry(r, token, err)
		}
		return
	}
	defer conn.Release()
	s.connOK(st)
	for i, r := range recs {
		ok, later := s.waitRate(st, mb)
		if !later.IsZero() {
			// The rate limit is far off: give the rest back, due then,
			// rather than hold the claims past their lease.
			for _, rest := range recs[i:] {
				rest.NextAttempt = later
				s.update(rest, token)
			}
			return
		}
		if s.stopping.Load() || !ok {
			for _, rest := range recs[i:] {
				s.release(rest, token)
			}
			return
		}
		s.sendOne(ctx, conn, mb, st, r, token)
		if conn.Broken() {
			for _, rest := range recs[i+1:] {
				s.release(rest, token)
			}
			return
		}
	}
}

// waitRate waits for the mailbox's rate limit. It returns false when the
// Sender is stopping, and a time instead of waiting when the wait would be
// longer than half the claim lease.
func (s *Sender) waitRate(st *boxState, mb *mailbox.Mailbox) (bool, time.Time) {
	cfg := mb.Outbound.RateLimit
	if cfg.Unlimited() {
		return true, time.Time{}
	}
	s.mu.Lock()
	if st.limiter == nil || st.rateCfg != cfg {
		st.limiter = rate.NewLimiter(rate.Every(cfg.Per/time.Duration(cfg.N)), cfg.N)
		st.rateCfg = cfg
	}
	lim := st.limiter
	s.mu.Unlock()
	now := s.clk.Now()
	r := lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if d <= 0 {
		return true, time.Time{}
	}
	if d > s.o.Lease/2 {
		r.CancelAt(now)
		return false, now.Add(d)
	}
	t := s.clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true, time.Time{}
	case <-s.runCtx.Done():
		r.CancelAt(s.clk.Now())
		return false, time.Time{}
	}
}

func (s *Sender) connOK(st *boxState) {
	st.breaker.Success()
	s.mu.Lock()
	st.downSince = time.Time{}
	s.mu.Unlock()
}

func (s *Sender) connFailed(st *boxState, err error) {
	st.breaker.Failure()
	now := s.clk.Now()
	s.mu.Lock()
	if st.downSince.IsZero() {
		st.downSince = now
	}
	st.lastError, st.lastErrorAt = err.Error(), now
	s.mu.Unlock()
}

func (s *Sender) sendOne(ctx context.Context, conn *smtp.Conn, mb *mailbox.Mailbox, st *boxState, r *store.OutboxRecord, token string) {
	msg, err := build(r, mb)
	if err != nil {
		s.kill(r, token, "the message cannot be built: "+err.Error(), err)
		return
	}
	var to []string
	for _, rc := range r.Pending() {
		to = append(to, rc.Address.Address)
	}
	res, err := conn.Send(ctx, smtp.Envelope{From: mb.Outbound.From.Address, To: to}, msg)
	if err != nil && ctx.Err() != nil {
		s.release(r, token) // interrupted by Stop: may be resent, same Message-ID
		return
	}
	r.Attempts++
	now := s.clk.Now()
	rejected := map[string]*transport.Error{}
	for _, rj := range res.Rejected {
		rejected[strings.ToLower(rj.Address)] = rj.Err
	}
	var delivered, refused []string
	var refusedReason string
	for i := range r.Recipients {
		rc := &r.Recipients[i]
		if rc.State != store.Pending {
			continue
		}
		if rj, ok := rejected[strings.ToLower(rc.Address.Address)]; ok {
			if rj.Class == transport.Permanent {
				rc.State, rc.Reason = store.Refused, rj.Error()
				refused = append(refused, rc.Address.Address)
				refusedReason = rc.Reason
				if s.o.Suppressions != nil {
					sctx, cancel := s.storeCtx()
					if serr := s.o.Suppressions.Suppress(sctx, rc.Address.Address, rj.Error()); serr != nil {
						s.log.Warn("suppression list update failed", slog.String("error", serr.Error()))
					}
					cancel()
				}
			}
			continue
		}
		if err == nil {
			rc.State = store.Delivered
			delivered = append(delivered, rc.Address.Address)
		}
	}
	if err == nil {
		s.mu.Lock()
		st.lastSuccess = now
		s.mu.Unlock()
	} else {
		s.mu.Lock()
		st.lastError, st.lastErrorAt = err.Error(), now
		s.mu.Unlock()
		if conn.Broken() {
			s.connFailed(st, err)
		}
	}
	switch {
	case len(r.Pending()) == 0:
		r.State = store.Sent
		if len(delivered) == 0 && !anyDelivered(r) {
			r.State = store.Dead
			r.Reason = "every recipient was refused: " + refusedReason
		}
		r.LastError = errString(err)
		s.update(r, token)
	case err != nil && transport.ClassOf(err) == transport.Permanent && len(res.Rejected) == 0:
		// The whole message was refused (MAIL FROM, DATA): dead at once.
		s.kill(r, token, err.Error(), err)
	case err != nil:
		s.retry(r, token, err)
	default:
		// Some recipients were deferred (4xx at RCPT): retry those.
		var tmp error
		for _, rj := range res.Rejected {
			if rj.Err.Class != transport.Permanent {
				tmp = rj.Err
				break
			}
		}
		s.retry(r, token, tmp)
	}
	// Events go out once the outcome is stored.
	base := Event{ID: r.ID, MessageID: r.MessageID, Mailbox: r.Mailbox, Attempt: r.Attempts, Rule: r.Rule, Decision: r.DecisionReason}
	if len(delivered) > 0 {
		e := base
		e.Kind, e.Recipients, e.Reason = EventDelivered, delivered, res.Response
		s.emit(e)
	}
	if len(refused) > 0 {
		e := base
		e.Kind, e.Recipients, e.Reason = EventFailed, refused, refusedReason
		s.emit(e)
	}
}

func anyDelivered(r *store.OutboxRecord) bool {
	for _, rc := range r.Recipients {
		if rc.State == store.Delivered {
			return true
		}
	}
	return false
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// retry schedules the next attempt with backoff, or kills the record once
// it would exceed MaxAge.
func (s *Sender) retry(r *store.OutboxRecord, token string, err error) {
	now := s.clk.Now()
	attempt := max(r.Attempts-1, 0)
	next := now.Add(s.policy.Delay(attempt))
	r.LastError = errString(err)
	if next.Sub(r.EnqueuedAt) > s.o.MaxAge {
		s.kill(r, token, fmt.Sprintf("gave up after %d attempts over %s: %s", r.Attempts, now.Sub(r.EnqueuedAt).Round(time.Second), r.LastError), err)
		return
	}
	r.State = store.Queued
	r.NextAttempt = next
	s.update(r, token)
	var to []string
	for _, rc := range r.Pending() {
		to = append(to, rc.Address.Address)
	}
	s.emit(Event{Kind: EventDeferred, ID: r.ID, MessageID: r.MessageID, Mailbox: r.Mailbox, Recipients: to, Attempt: r.Attempts,
		NextAttempt: next, Reason: r.LastError, Err: err, Rule: r.Rule, Decision: r.DecisionReason})
}

// kill marks the record dead with reason; pending recipients are refused.
func (s *Sender) kill(r *store.OutboxRecord, token, reason string, err error) {
	var to []string
	for i := range r.Recipients {
		if r.Recipients[i].State == store.Pending {
			r.Recipients[i].State, r.Recipients[i].Reason = store.Refused, reason
			to = append(to, r.Recipients[i].Address.Address)
		}
	}
	r.State = store.Dead
	r.Reason = reason
	if err != nil {
		r.LastError = err.Error()
	}
	s.update(r, token)
	s.emit(Event{Kind: EventFailed, ID: r.ID, MessageID: r.MessageID, Mailbox: r.Mailbox, Recipients: to, Attempt: r.Attempts,
		Reason: reason, Err: err, Rule: r.Rule, Decision: r.DecisionReason})
}

func (s *Sender) update(r *store.OutboxRecord, token string) {
	ctx, cancel := s.storeCtx()
	defer cancel()
	if err := s.o.Outbox.Update(ctx, r, token); err != nil {
		s.log.Error("outbox update failed", slog.String("id", r.ID), slog.String("error", err.Error()))
	}
}

func (s *Sender) release(r *store.OutboxRecord, token string) {
	ctx, cancel := s.storeCtx()
	defer cancel()
	if err := s.o.Outbox.Release(ctx, r.ID, token); err != nil {
		s.log.Error("outbox release failed", slog.String("id", r.ID), slog.String("error", err.Error()))
	}
}

// failover moves the records routed to a contract's mailbox to the system
// mailbox and returns the others (still claimed).
func (s *Sender) failover(recs []*store.OutboxRecord, token string, st *boxState, from *mailbox.Mailbox) []*store.OutboxRecord {
	sysID, ok := s.o.Catalog.SystemMailbox()
	if !ok || sysID == from.ID {
		return recs
	}
	sys, ok := s.o.Catalog.Mailbox(sysID)
	if !ok || sys.Outbound == nil || !sys.Enabled {
		return recs
	}
	s.mu.Lock()
	since := st.downSince
	s.mu.Unlock()
	var rest []*store.OutboxRecord
	for _, r := range recs {
		if r.Rule != routing.RuleContract {
			rest = append(rest, r)
			continue
		}
		d := routing.Decision{Mailbox: sys, Rule: routing.RuleFailover, Contract: r.Contract}
		r.Mailbox = sys.ID
		r.MessageID = newMessageID(sys.Outbound.From.Address)
		r.Rule = routing.RuleFailover
		r.DecisionReason = d.Reason()
		r.NextAttempt = s.clk.Now()
		s.update(r, token)
		s.emit(Event{Kind: EventRerouted, ID: r.ID, MessageID: r.MessageID, Mailbox: r.Mailbox, Attempt: r.Attempts,
			Reason: "mailbox " + string(from.ID) + " failing since " + since.Format(time.RFC3339), Rule: r.Rule, Decision: r.DecisionReason})
	}
	return rest
}

// HealthState summarises a mailbox's delivery health.
type HealthState string

// Health states.
const (
	// HealthIdle: nothing tried yet.
	HealthIdle HealthState = "idle"
	// HealthOK: the last connection attempt succeeded.
	HealthOK HealthState = "ok"
	// HealthFailing: connections fail, the breaker is still closed.
	HealthFailing HealthState = "failing"
	// HealthOpen: the breaker is open; the mailbox is tried again later.
	HealthOpen HealthState = "open"
)

// Health is the delivery view of one mailbox.
type Health struct {
	Mailbox     mailbox.ID
	State       HealthState
	LastSuccess time.Time
	// LastError is the last failure (classified, secrets never included)
	// and when it happened.
	LastError   string
	LastErrorAt time.Time
	// DownSince is the first failure since the last success.
	DownSince time.Time
	// QueueDepth counts queued messages; OldestQueued is the age of the
	// oldest.
	QueueDepth   int
	OldestQueued time.Duration
	// Active is the number of batches in flight.
	Active int
}

// Health returns the delivery health of a mailbox.
func (s *Sender) Health(ctx context.Context, id mailbox.ID) (Health, error) {
	qs, err := s.o.Outbox.Stats(ctx, id)
	if err != nil {
		return Health{}, err
	}
	now := s.clk.Now()
	h := Health{Mailbox: id, State: HealthIdle, QueueDepth: qs.Depth}
	if !qs.Oldest.IsZero() {
		h.OldestQueued = now.Sub(qs.Oldest)
	}
	s.mu.Lock()
	st := s.boxes[id]
	if st != nil {
		h.LastSuccess, h.LastError, h.LastErrorAt, h.DownSince, h.Active = st.lastSuccess, st.lastError, st.lastErrorAt, st.downSince, st.active
	}
	s.mu.Unlock()
	if st != nil {
		bs, _ := st.breaker.State()
		switch {
		case bs != breaker.Closed:
			h.State = HealthOpen
		case !h.DownSince.IsZero():
			h.State = HealthFailing
		case !h.LastSuccess.IsZero() || h.LastErrorAt.IsZero() && h.Active > 0:
			h.State = HealthOK
		}
	}
	return h, nil
}

// HealthAll returns the health of every outbound mailbox the Sender has
// worked with or that has queued mail, sorted by mailbox ID.
func (s *Sender) HealthAll(ctx context.Context) ([]Health, error) {
	ids := map[mailbox.ID]bool{}
	s.mu.Lock()
	for id := range s.boxes {
		ids[id] = true
	}
	s.mu.Unlock()
	due, _, err := s.o.Outbox.Due(ctx, s.clk.Now().Add(100*365*24*time.Hour))
	if err != nil {
		return nil, err
	}
	for _, d := range due {
		ids[d.Mailbox] = true
	}
	out := make([]Health, 0, len(ids))
	for id := range ids {
		h, err := s.Health(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b Health) int { return strings.Compare(string(a.Mailbox), string(b.Mailbox)) })
	return out, nil
}
