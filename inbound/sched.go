package inbound

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/correio-dev/correio/clock"
)

// The connection budget.
//
// Every session takes one slot of each pool it belongs to: the Poller's
// (MaxConnections), its server host's (MaxConnectionsPerHost) and, for
// providers that document a limit on simultaneous connections of one
// account, its account's (AccountLimits). A slot is either kept (a session
// that stays connected: IDLE, or polling on a kept connection) or short (a
// session that connects, checks, fetches, hands off, logs out and releases
// the slot).
//
// While a pool's demand (the mailboxes that belong to it) fits its
// capacity every mailbox keeps a session. Beyond it, a share of the pool
// is reserved for the rotation of short sessions, in proportion to the
// overflow: capacity × (demand − capacity) / demand slots (at least one),
// and the rest stays kept. Kept sessions over the new share (after the
// catalog grew) are revoked at their next wait. Mailboxes that find no slot
// queue per host in FIFO order; a released slot goes to the head of the
// queue of its host, then to the heads of the other hosts' queues in turn,
// so no mailbox waits for ever.

// pool is one capacity of the budget.
type pool struct {
	key      string
	cap      int
	demand   int // mailboxes that belong to the pool
	kept     int // kept slots in use (revoked ones included until released)
	short    int // short slots in use
	revoking int
	keptSet  map[*grant]struct{}
	queue    []*waiter // host pools only
}

// rotationSlots is the share of the pool reserved for short sessions.
func (pl *pool) rotationSlots() int {
	if pl.demand <= pl.cap {
		return 0
	}
	s := (pl.cap*(pl.demand-pl.cap) + pl.demand - 1) / pl.demand
	return min(max(s, 1), pl.cap)
}

func (pl *pool) canKeep() bool {
	return pl.kept < pl.cap-pl.rotationSlots() && pl.kept+pl.short < pl.cap
}

func (pl *pool) canShort() bool { return pl.kept+pl.short < pl.cap }

// grant is a slot in every pool of a member.
type grant struct {
	pools    []*pool
	kept     bool
	revoked  bool
	released bool
	timer    clock.Timer // the kept session's wait timer, fired on revoke
}

type waiter struct {
	pools []*pool
	ch    chan *grant
	gone  bool
}

// member is one mailbox's place in the budget.
type member struct {
	host  *pool
	pools []*pool // host, account (optional), global
}

type scheduler struct {
	mu       sync.Mutex
	perHost  int
	accounts func(host string) int
	global   *pool
	hosts    map[string]*pool
	accts    map[string]*pool
	waiting  []*pool // host pools with waiters, served in turn
	rr       int
	avg      time.Duration // moving average of short sessions
}

func newScheduler(global, perHost int, accountLimit func(host string) int) *scheduler {
	return &scheduler{perHost: perHost, accounts: accountLimit,
		global: &pool{key: "", cap: global, keptSet: map[*grant]struct{}{}},
		hosts:  map[string]*pool{}, accts: map[string]*pool{}}
}

// join adds a mailbox of host and account (its user name) to the demand.
func (s *scheduler) join(host, user string) *member {
	host = strings.ToLower(host)
	s.mu.Lock()
	defer s.mu.Unlock()
	hp := s.hosts[host]
	if hp == nil {
		hp = &pool{key: host, cap: s.perHost, keptSet: map[*grant]struct{}{}}
		s.hosts[host] = hp
	}
	m := &member{host: hp, pools: []*pool{hp}}
	if n := s.accounts(host); n > 0 {
		k := host + "\x00" + strings.ToLower(user)
		ap := s.accts[k]
		if ap == nil {
			ap = &pool{key: k, cap: n, keptSet: map[*grant]struct{}{}}
			s.accts[k] = ap
		}
		m.pools = append(m.pools, ap)
	}
	m.pools = append(m.pools, s.global)
	for _, pl := range m.pools {
		pl.demand++
		s.rebalanceLocked(pl)
	}
	return m
}

// leave removes m from the demand; its grants were released.
func (s *scheduler) leave(m *member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, pl := range m.pools {
		pl.demand--
		if pl.demand == 0 && pl.kept+pl.short == 0 && pl != s.global {
			delete(s.hosts, pl.key)
			delete(s.accts, pl.key)
		}
	}
}

// rebalanceLocked revokes kept grants beyond the pool's kept share.
func (s *scheduler) rebalanceLocked(pl *pool) {
	for over := pl.kept - pl.revoking - (pl.cap - pl.rotationSlots()); over > 0; over-- {
		for g := range pl.keptSet {
			if !g.revoked {
				g.revoked = true
				for _, p := range g.pools {
					p.revoking++
				}
				if g.timer != nil {
					g.timer.Reset(0)
				}
				break
			}
		}
	}
}

// acquire returns a slot for m: kept when the pools' kept shares allow
// it, else short. queued is called (outside the lock) when m must wait.
func (s *scheduler) acquire(ctx context.Context, m *member, queued func()) (*grant, error) {
	s.mu.Lock()
	if !s.hasWaitersLocked(m.host) {
		if g := s.tryLocked(m.pools); g != nil {
			s.mu.Unlock()
			return g, nil
		}
	}
	w := &waiter{pools: m.pools, ch: make(chan *grant, 1)}
	if len(m.host.queue) == 0 {
		s.waiting = append(s.waiting, m.host)
	}
	m.host.queue = append(m.host.queue, w)
	// Waiters ahead held back by their account's limit let this one by
	// when a slot is free.
	s.serveLocked(m.host, -1)
	s.pruneWaitingLocked()
	served := len(w.ch) > 0
	s.mu.Unlock()
	if queued != nil && !served {
		queued()
	}
	select {
	case g := <-w.ch:
		return g, nil
	case <-ctx.Done():
		s.mu.Lock()
		w.gone = true
		s.mu.Unlock()
		select {
		case g := <-w.ch:
			s.release(g, 0)
		default:
		}
		return nil, ctx.Err()
	}
}

func (s *scheduler) hasWaitersLocked(hp *pool) bool {
	for len(hp.queue) > 0 && hp.queue[0].gone {
		hp.queue[0] = nil
		hp.queue = hp.queue[1:]
	}
	return len(hp.queue) > 0
}

func (s *scheduler) tryLocked(pools []*pool) *grant {
	keep, short := true, true
	for _, pl := range pools {
		keep = keep && pl.canKeep()
		short = short && pl.canShort()
	}
	if !keep && !short {
		return nil
	}
	g := &grant{pools: pools, kept: keep}
	for _, pl := range pools {
		if keep {
			pl.kept++
			pl.keptSet[g] = struct{}{}
		} else {
			pl.short++
		}
	}
	return g
}

// release gives g's slots back and hands them to waiters. took is how
// long a short session held its slot (for the estimate of the rotation).
func (s *scheduler) release(g *grant, took time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g.released {
		return
	}
	g.released = true
	for _, pl := range g.pools {
		if g.kept {
			pl.kept--
			delete(pl.keptSet, g)
			if g.revoked {
				pl.revoking--
			}
		} else {
			pl.short--
		}
	}
	if !g.kept && took > 0 {
		if s.avg == 0 {
			s.avg = took
		} else {
			s.avg = (7*s.avg + took) / 8
		}
	}
	s.dispatchLocked(g.pools[0])
}

// dispatchLocked grants free slots to waiters: first hp's queue, then the
// other hosts' heads in turn while the global pool has room.
func (s *scheduler) dispatchLocked(hp *pool) {
	s.serveLocked(hp, -1)
	for i := 0; i < len(s.waiting) && s.global.canShort(); {
		n := len(s.waiting)
		s.rr %= n
		h := s.waiting[s.rr]
		s.serveLocked(h, 1)
		if len(h.queue) == 0 {
			s.waiting = append(s.waiting[:s.rr], s.waiting[s.rr+1:]...)
		} else {
			s.rr++
		}
		i++
	}
	s.pruneWaitingLocked()
}

// serveLocked grants up to limit (all when negative) waiters of hp, in
// order; a waiter held back by its account's pool lets up to 8 others by.
func (s *scheduler) serveLocked(hp *pool, limit int) {
	for i := 0; i < len(hp.queue) && i < 8 && limit != 0; {
		w := hp.queue[i]
		if w.gone {
			hp.queue = append(hp.queue[:i], hp.queue[i+1:]...)
			continue
		}
		g := s.tryLocked(w.pools)
		if g == nil {
			if !hp.canShort() || !s.global.canShort() {
				return
			}
			i++
			continue
		}
		hp.queue = append(hp.queue[:i], hp.queue[i+1:]...)
		w.ch <- g
		limit--
	}
}

func (s *scheduler) pruneWaitingLocked() {
	kept := s.waiting[:0]
	for _, h := range s.waiting {
		if s.hasWaitersLocked(h) {
			kept = append(kept, h)
		}
	}
	clear(s.waiting[len(kept):])
	s.waiting = kept
}

// setTimer records the timer of a kept session's wait (nil after it); it
// returns false when the grant was revoked (the session should end).
func (s *scheduler) setTimer(g *grant, t clock.Timer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	g.timer = t
	return !g.revoked
}

func (s *scheduler) isRevoked(g *grant) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return g.revoked
}

// cycle estimates how long a full rotation of m's busiest pool takes:
// the mailboxes rotating through it over its rotation slots, times the
// average short session.
func (s *scheduler) cycle(m *member) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	avg := s.avg
	if avg == 0 {
		avg = time.Second
	}
	var out time.Duration
	for _, pl := range m.pools {
		slots := pl.rotationSlots()
		if slots == 0 {
			continue
		}
		rotating := pl.demand - (pl.cap - slots)
		out = max(out, time.Duration((rotating+slots-1)/slots)*avg)
	}
	return out
}

// jitter spreads d over its last fifth (0.8 d to d), so mailboxes with
// one interval do not check at the same instant and none waits longer
// than its interval.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	spread := int64(d / 5)
	if spread <= 0 {
		return d
	}
	return d - time.Duration(rand.Int64N(spread))
}

// accountLimits are the documented limits on simultaneous IMAP
// connections of one account, by server host: Gmail's 15 and Microsoft
// 365's (Exchange Online) 20 (see README, "Thousands of mailboxes").
// Mailboxes of one account (several folders) share its limit.
var accountLimits = map[string]int{
	"imap.gmail.com":        15,
	"imap.googlemail.com":   15,
	"outlook.office365.com": 20,
	"outlook.office.com":    20,
}

func accountLimit(host string) int { return accountLimits[strings.ToLower(host)] }
