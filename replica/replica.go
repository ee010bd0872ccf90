// Package replica runs one replica of a host that several processes share:
// it spreads the catalog's mailboxes over the live replicas with leases in
// a coordination backend (store/postgres.Leases), and hands each replica's
// share to its engines (inbound.Poller, outbound.Sender) through their
// Assignment. The host writes no lease code:
//
//	r, _ := replica.New(replica.Options{Backend: st.Leases(), Catalog: cat})
//	p, _ := inbound.New(inbound.Options{..., Assignment: r, Leaser: r})
//	s, _ := outbound.New(outbound.Options{..., Assignment: r})
//	err := r.Run(ctx, p, s) // until ctx ends; then hands its mailboxes over
//
// What it guarantees:
//
//   - Membership by heartbeat: every lease round records the replica as
//     alive; a replica is counted in the fair shares while its heartbeat
//     is younger than the TTL. A starting replica joins (heartbeat only)
//     and claims after a jittered delay, so replicas started together see
//     each other and each claims its share, never all.
//   - No mailbox runs on two replicas at once: a lease is claimed only when
//     free or expired, and a replica over its share (a replica joined)
//     first stops the excess mailboxes' sessions and sends (the engines'
//     Reload returns once they stopped) and only then releases their
//     leases. A replica that cannot renew (the backend is unreachable)
//     stops all its mailboxes at half the TTL (StopAfter), leaving the
//     other half for the sessions to end before its leases can expire.
//   - Takeover within the TTL: the backend reports when the first lease
//     of a replica that stopped beating expires, and the survivors run
//     their round then; leases released by a replica that shuts down or
//     rebalances are claimed at once (the backend's notifications). The
//     outbox claims of a dead replica's outbound mailboxes are freed when
//     their lease moves.
//   - Per-mailbox limits hold for the whole cluster: an outbound mailbox,
//     like an inbound one, is run by one replica at a time, so its
//     MaxConnections and RateLimit are the cluster's (a lease on sending
//     per mailbox; the simpler correct choice: no shared counter on every
//     send, and a hand-over drains the old owner's sends first).
//   - Shutdown hands over at once: when Run's context ends, the replica
//     stops its mailboxes, releases every lease and leaves the membership,
//     then stops the engines.
//
// Each replica's inbound connection budget (MaxConnectionsPerHost and the
// rest) is its own: a survivor that inherits mailboxes beyond it reads
// them in the scheduler's fair rotation, so none goes unread.
package replica

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
)

// DefaultTTL is the lease TTL when Options.TTL is zero: a dead replica's
// mailboxes are taken over within it. A round every quarter TTL costs one
// transaction of about five statements per replica (10 replicas: 4
// transactions/s; see BENCHMARKS.md, "Replicas").
const DefaultTTL = 10 * time.Second

// MaxJoinDelay bounds how long a starting replica waits between joining
// and its first claim (a quarter of the TTL, at most this).
const MaxJoinDelay = 2 * time.Second

// StopAfter is the fraction of the TTL after the last successful round at
// which a replica that cannot renew stops every mailbox (two rounds missed).
const StopAfter = 0.5

func stopAfter(ttl time.Duration) time.Duration { return time.Duration(float64(ttl) * StopAfter) }

// MinTTL is the shortest TTL accepted.
const MinTTL = 200 * time.Millisecond

// Backend coordinates the replicas: store/postgres.Leases implements it.
// All replicas of a host use one backend and the same mailbox lists.
type Backend interface {
	// Join records owner's heartbeat without claiming.
	Join(ctx context.Context, owner string, ttl time.Duration) error
	// Round records owner's heartbeat, renews its leases among mailboxes
	// and claims free or expired ones up to its fair share; it never
	// releases one (see store.LeaseRound).
	Round(ctx context.Context, owner string, mailboxes []mailbox.ID, ttl time.Duration) (store.LeaseRound, error)
	// Release gives up owner's leases of mailboxes.
	Release(ctx context.Context, owner string, mailboxes []mailbox.ID) error
	// Leave releases all of owner's leases and removes it from the
	// membership.
	Leave(ctx context.Context, owner string) error
}

// Listener is implemented by a Backend that announces joins and released
// leases (store/postgres.Leases does, with LISTEN/NOTIFY): the replica
// then runs a round at once instead of at its next tick.
type Listener interface {
	ListenLeases(ctx context.Context, wake func(owner string)) error
}

// Engine is what a replica drives: inbound.Poller and outbound.Sender.
// Reload must return once the engine stopped the mailboxes its Assignment
// no longer runs.
type Engine interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Reload()
}

// Options configure a Replica. Backend and Catalog are required.
type Options struct {
	// ID names the replica; unique among the live replicas (two
	// processes with one ID would share leases). Default: host name,
	// process ID and a random suffix.
	ID string
	// Backend coordinates the replicas.
	Backend Backend
	// Catalog lists the mailboxes to spread: every inbound and outbound
	// mailbox in it, read at every round.
	Catalog engine.Catalog
	// TTL is the lease TTL (default DefaultTTL, at least MinTTL). Rounds
	// run about every TTL/4.
	TTL time.Duration
	// StopTimeout bounds the engines' Stop at shutdown (default 30 s).
	StopTimeout time.Duration
	// Logger (default discard) receives the share changes and failures.
	Logger *slog.Logger
}

// Errors.
var (
	// ErrConfig: invalid Options.
	ErrConfig = errors.New("replica: invalid options")
	// ErrNotHeld: the replica does not hold the mailbox's lease (Fence).
	ErrNotHeld = fmt.Errorf("replica: mailbox not held by this replica: %w", store.ErrFenced)
	// ErrRunning: Run was called twice.
	ErrRunning = errors.New("replica: already running")
)

// Status is a replica's view after its last round.
type Status struct {
	ID string
	// Members and Share as the last successful round saw them.
	Members, Share int
	// Held is the number of mailboxes the replica runs.
	Held int
	// LastRound is when the last successful round started (zero before).
	LastRound time.Time
	// Err is the last round's error, nil when it succeeded.
	Err error
}

// Replica is one replica: see the package documentation. It implements
// engine.Assignment (give it to the engines as their Assignment) and
// store.Leaser (the Poller's Leaser: the fencing token of each mailbox it
// runs).
type Replica struct {
	o   Options
	log *slog.Logger

	mu      sync.Mutex
	held    map[mailbox.ID]int64 // mailbox -> fencing token, the mailboxes run
	status  Status
	running bool

	wake chan struct{}
}

// New checks opts and returns a Replica; Run starts it.
func New(o Options) (*Replica, error) {
	if o.Backend == nil || o.Catalog == nil {
		return nil, fmt.Errorf("%w: Backend and Catalog are required", ErrConfig)
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.TTL < MinTTL {
		return nil, fmt.Errorf("%w: TTL %v is shorter than %v", ErrConfig, o.TTL, MinTTL)
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 30 * time.Second
	}
	if o.ID == "" {
		host, _ := os.Hostname()
		o.ID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), rand.Text()[:8])
	}
	r := &Replica{o: o, log: o.Logger, held: map[mailbox.ID]int64{}, wake: make(chan struct{}, 1)}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.status.ID = o.ID
	return r, nil
}

// ID returns the replica's ID (its lease owner name).
func (r *Replica) ID() string { return r.o.ID }

// Runs reports whether this replica runs mailbox id now
// (engine.Assignment).
func (r *Replica) Runs(id mailbox.ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.held[id]
	return ok
}

// Fence returns the fencing token of the lease by which this replica runs
// mb (store.Leaser), or an error matching ErrNotHeld and store.ErrFenced.
func (r *Replica) Fence(_ context.Context, mb mailbox.ID) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	tok, ok := r.held[mb]
	if !ok {
		return 0, fmt.Errorf("%w: %q (replica %s)", ErrNotHeld, mb, r.o.ID)
	}
	return tok, nil
}

// Status returns the replica's state after its last round.
func (r *Replica) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.status
	s.Held = len(r.held)
	return s
}

// Run starts the engines (with nothing assigned), joins the replicas and
// runs lease rounds, handing the mailboxes it gains and loses to the
// engines (Reload), until ctx ends. Then it hands over: it stops its
// mailboxes, leaves (its leases are released for the other replicas at
// once) and stops the engines. It returns nil after a clean shutdown, or
// the engines' Start or Stop error.
func (r *Replica) Run(ctx context.Context, engines ...Engine) error {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return ErrRunning
	}
	r.running = true
	r.mu.Unlock()
	// The engines outlive ctx: they stop after the hand-over.
	ectx := context.WithoutCancel(ctx)
	var started []Engine
	stopAll := func() error {
		sctx, cancel := context.WithTimeout(ectx, r.o.StopTimeout)
		defer cancel()
		var errs []error
		for _, e := range slices.Backward(started) {
			errs = append(errs, e.Stop(sctx))
		}
		return errors.Join(errs...)
	}
	for _, e := range engines {
		if err := e.Start(ectx); err != nil {
			return errors.Join(fmt.Errorf("replica: start: %w", err), stopAll())
		}
		started = append(started, e)
	}
	lctx, stopListen := context.WithCancel(ctx)
	var lwg sync.WaitGroup
	if l, ok := r.o.Backend.(Listener); ok {
		lwg.Add(1)
		go func() {
			defer lwg.Done()
			_ = l.ListenLeases(lctx, func(owner string) {
				if owner != r.o.ID {
					r.poke()
				}
			})
		}()
	}
	r.loop(ctx, engines)
	stopListen()
	lwg.Wait()
	// Hand over: stop the mailboxes, then release them.
	r.apply(engines, map[mailbox.ID]int64{})
	lctx2, cancel := context.WithTimeout(ectx, r.o.TTL)
	if err := r.o.Backend.Leave(lctx2, r.o.ID); err != nil {
		r.log.Warn("replica: leave failed; the leases expire after the TTL", "replica", r.o.ID, "err", err)
	}
	cancel()
	return stopAll()
}

func (r *Replica) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// loop joins, waits a jittered join delay, then runs rounds until ctx ends.
func (r *Replica) loop(ctx context.Context, engines []Engine) {
	ttl := r.o.TTL
	for {
		jctx, cancel := context.WithTimeout(ctx, ttl/2)
		err := r.o.Backend.Join(jctx, r.o.ID, ttl)
		cancel()
		if err == nil {
			break
		}
		r.log.Warn("replica: join failed; retrying", "replica", r.o.ID, "err", err)
		r.setErr(err)
		if !sleep(ctx, jitter(ttl/4)) {
			return
		}
	}
	// Replicas started together all joined before any of them claims
	// (one started later joins as a new member: the others hand it its
	// share).
	if !sleep(ctx, jitter(min(ttl/4, MaxJoinDelay))) {
		return
	}
	var lastOK time.Time
	prevHeld := 0
	for ctx.Err() == nil {
		start := time.Now()
		res, err := r.round(ctx, engines, lastOK)
		next := jitter(ttl / 4)
		if err != nil {
			r.setErr(err)
			r.log.Warn("replica: lease round failed", "replica", r.o.ID, "err", err)
			next = min(next, time.Second)
		} else {
			lastOK = start
			if res.Expiring > 0 {
				next = min(next, res.Expiring+time.Duration(mrand.Int64N(int64(50*time.Millisecond))))
			}
			// Claimed some but not the whole share (another replica won
			// some of the same leases): try again soon.
			if len(res.Held) < res.Share && len(res.Held) > prevHeld {
				next = min(next, 20*time.Millisecond+time.Duration(mrand.Int64N(int64(80*time.Millisecond))))
			}
			prevHeld = len(res.Held)
		}
		// Its leases expire a TTL after the last renewal: stop every
		// mailbox at StopAfter of it unless a round succeeds first.
		if !lastOK.IsZero() && r.Status().Held > 0 {
			left := time.Until(lastOK.Add(stopAfter(ttl)))
			if left <= 0 {
				r.log.Error("replica: no lease round succeeded for half the TTL; stopping every mailbox until one does", "replica", r.o.ID)
				r.apply(engines, map[mailbox.ID]int64{})
			} else {
				next = min(next, left)
			}
		}
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-r.wake:
			t.Stop()
			// Replicas woken by one notification do not claim at the
			// same instant.
			if !sleep(ctx, 20*time.Millisecond+time.Duration(mrand.Int64N(int64(130*time.Millisecond)))) {
				return
			}
		}
	}
}

// round runs one lease round and applies it: the mailboxes gained are
// started, the excess stopped and only then released.
func (r *Replica) round(ctx context.Context, engines []Engine, lastOK time.Time) (store.LeaseRound, error) {
	ttl := r.o.TTL
	var list []mailbox.ID
	listed := map[mailbox.ID]bool{}
	for _, m := range r.o.Catalog.Mailboxes() {
		if m != nil && (m.Kind == mailbox.Inbound || m.Kind == mailbox.Outbound) {
			list = append(list, m.ID)
			listed[m.ID] = true
		}
	}
	budget := ttl / 4
	if !lastOK.IsZero() {
		// A round must not outlast the point where the replica stops
		// everything for want of a renewal.
		budget = min(budget, max(time.Until(lastOK.Add(stopAfter(ttl))), 10*time.Millisecond))
	}
	rctx, cancel := context.WithTimeout(ctx, budget)
	res, err := r.o.Backend.Round(rctx, r.o.ID, list, ttl)
	cancel()
	if err != nil {
		return res, err
	}
	keep := make(map[mailbox.ID]int64, len(res.Held))
	var release []mailbox.ID
	// Keep the mailboxes already run before newly claimed ones.
	r.mu.Lock()
	held := slices.Clone(res.Held)
	slices.SortStableFunc(held, func(a, b store.MailboxLease) int {
		_, ra := r.held[a.Mailbox]
		_, rb := r.held[b.Mailbox]
		switch {
		case ra && !rb:
			return -1
		case rb && !ra:
			return 1
		}
		return 0
	})
	for id := range r.held {
		if !listed[id] {
			release = append(release, id) // removed from the catalog
		}
	}
	r.mu.Unlock()
	for _, l := range held {
		if !listed[l.Mailbox] {
			continue
		}
		if len(keep) < res.Share {
			keep[l.Mailbox] = l.Token
		} else {
			release = append(release, l.Mailbox)
		}
	}
	r.mu.Lock()
	r.status.Members, r.status.Share, r.status.LastRound, r.status.Err = res.Members, res.Share, time.Now(), nil
	r.mu.Unlock()
	r.apply(engines, keep)
	if len(release) > 0 {
		slices.Sort(release)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ttl/4)
		defer cancel()
		if err := r.o.Backend.Release(rctx, r.o.ID, release); err != nil {
			r.log.Warn("replica: release failed; the leases expire after the TTL", "replica", r.o.ID, "err", err)
		} else {
			r.log.Info("replica: released mailboxes over its share", "replica", r.o.ID, "released", len(release), "share", res.Share, "members", res.Members)
		}
	}
	return res, nil
}

// apply makes keep the mailboxes run and reloads the engines when that
// changed; Reload returns once the mailboxes no longer run have stopped.
func (r *Replica) apply(engines []Engine, keep map[mailbox.ID]int64) {
	r.mu.Lock()
	changed := len(keep) != len(r.held)
	if !changed {
		for id, tok := range keep {
			if old, ok := r.held[id]; !ok || old != tok {
				changed = true
				break
			}
		}
	}
	before := len(r.held)
	if changed {
		r.held = keep
	}
	r.mu.Unlock()
	if !changed {
		return
	}
	for _, e := range engines {
		e.Reload()
	}
	r.log.Info("replica: mailboxes changed", "replica", r.o.ID, "before", before, "now", len(keep))
}

func (r *Replica) setErr(err error) {
	r.mu.Lock()
	r.status.Err = err
	r.mu.Unlock()
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// jitter spreads d over ±20 %, so replicas do not run their rounds in step.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	spread := int64(d * 2 / 5)
	if spread <= 0 {
		return d
	}
	return d - d/5 + time.Duration(mrand.Int64N(spread))
}
