package inbound_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store/memory"
)

// The measurement scaled down: 15 mailboxes on one host with a
// cap of 10 (150 over 100 left 50 never read). Every mailbox gets its mail,
// first and again later; the mailboxes past the cap rotate, the others
// keep their push sessions; when the catalog grows past the cap, kept
// sessions make room for the rotation.
func TestBeyondHostCapEveryMailboxRead(t *testing.T) {
	srv := newServer(t)
	const n, capacity = 15, 10
	var mbs []*mailbox.Mailbox
	for i := range n {
		u := fmt.Sprintf("u%02d", i)
		srv.AddUser(u, "pw-"+u)
		srv.Append(u, "INBOX", rawMsg(u, 1))
		m := mb(u, u, srv.Host(), srv.Port())
		m.Inbound.PollInterval = 50 * time.Millisecond
		mbs = append(mbs, m)
	}
	var over atomic.Int64
	o := fastOptions(memory.NewInboundStore(), newRecorder())
	rec := o.Handler.(*recorder)
	o.MaxConnectionsPerHost = capacity
	o.MaxCheckDelay = 10 * time.Second
	o.OnEvent = func(e inbound.Event) {
		if e.Health.State == engine.StateOverBudget {
			over.Add(1)
		}
	}
	// The first 10 fit: all push.
	r := start(t, o, mbs[:capacity]...)
	eventually(t, "10 mailboxes in push mode", func() bool {
		push := 0
		for _, h := range mustHealthAll(t, r.p) {
			if h.Mode == engine.ModePush && h.Push && h.State == engine.StateWaiting {
				push++
			}
		}
		return push == capacity
	})
	for _, m := range mbs[capacity:] {
		putMailbox(t, r.cat, m)
	}
	r.p.Reload()
	eventually(t, "every mailbox read", func() bool { return rec.total() == n })
	for i := range n {
		u := fmt.Sprintf("u%02d", i)
		srv.Append(u, "INBOX", rawMsg(u, 2))
	}
	eventually(t, "every mailbox's new mail read", func() bool { return rec.total() == 2*n })
	modes := map[engine.Mode]int{}
	for _, h := range mustHealthAll(t, r.p) {
		modes[h.Mode]++
		if h.LastCheck.IsZero() || h.NextCheck.Before(h.LastCheck) {
			t.Errorf("%s: last check %v, next %v", h.Mailbox, h.LastCheck, h.NextCheck)
		}
	}
	// 15 over 10: ceil(10*5/15) = 4 connections rotate, 6 stay kept.
	if modes[engine.ModeRotating] < n-capacity || modes[engine.ModePush] == 0 || modes[engine.ModePush]+modes[engine.ModeRotating] != n {
		t.Fatalf("modes %v: want push and rotating mailboxes, at least %d rotating", modes, n-capacity)
	}
	if d := rec.dupes(); len(d) > 0 {
		t.Fatalf("handed twice: %v", d)
	}
	if over.Load() != 0 {
		t.Fatalf("%d over-budget events with a 10 s bound", over.Load())
	}
}

// A mailbox beyond the budget is checked again and again, each time within
// its bound (its poll interval plus MaxCheckDelay): never over budget.
func TestRotatingCheckedWithinBound(t *testing.T) {
	srv := newServer(t)
	o := fastOptions(memory.NewInboundStore(), newRecorder())
	o.MaxConnectionsPerHost = 2
	o.MaxCheckDelay = 5 * time.Second
	var mu sync.Mutex
	checks := map[mailbox.ID][]time.Time{}
	var over atomic.Int64
	o.OnEvent = func(e inbound.Event) {
		if e.Health.State == engine.StateOverBudget {
			over.Add(1)
		}
		if e.Health.Mode == engine.ModeRotating && !e.Health.LastCheck.IsZero() {
			mu.Lock()
			cs := checks[e.Health.Mailbox]
			if len(cs) == 0 || !cs[len(cs)-1].Equal(e.Health.LastCheck) {
				checks[e.Health.Mailbox] = append(cs, e.Health.LastCheck)
			}
			mu.Unlock()
		}
	}
	var mbs []*mailbox.Mailbox
	for i := range 6 {
		u := fmt.Sprintf("r%d", i)
		srv.AddUser(u, "pw-"+u)
		m := mb(u, u, srv.Host(), srv.Port())
		m.Inbound.PollInterval = 30 * time.Millisecond
		mbs = append(mbs, m)
	}
	start(t, o, mbs...)
	eventually(t, "every mailbox checked 5 times", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range mbs {
			if len(checks[m.ID]) < 5 {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	bound := 30*time.Millisecond*11/10 + o.MaxCheckDelay
	for id, cs := range checks {
		for i := 1; i < len(cs); i++ {
			if gap := cs[i].Sub(cs[i-1]); gap > bound {
				t.Errorf("%s: %v between checks, bound %v", id, gap, bound)
			}
		}
	}
	if over.Load() != 0 {
		t.Fatalf("%d over-budget events", over.Load())
	}
}

// Fairness under a backlog: a mailbox with 300 messages and a slow handler
// holds the one hand-off slot one batch at a time, so another mailbox's
// new mail waits for one batch, not the whole backlog.
func TestFairHandoffUnderBacklog(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("big", "pw-big")
	srv.AddUser("small", "pw-small")
	const backlog = 300
	for i := range backlog {
		srv.Append("big", "INBOX", rawMsg("big", i))
	}
	o := fastOptions(memory.NewInboundStore(), newRecorder())
	rec := o.Handler.(*recorder)
	o.MaxHandoffs = 1
	o.BatchSize = 10
	var atSmall atomic.Int64
	atSmall.Store(-1)
	rec.hook = func(d *inbound.Delivery) error {
		if d.Mailbox.ID == "big" {
			time.Sleep(3 * time.Millisecond)
			return nil
		}
		atSmall.Store(int64(rec.count("big")))
		return nil
	}
	r := start(t, o, mb("big", "big", srv.Host(), srv.Port()), mb("small", "small", srv.Host(), srv.Port()))
	eventually(t, "small waiting in push, big handing off", func() bool {
		h := r.health("small")
		return h.State == engine.StateWaiting && h.Push && rec.count("big") >= 20
	})
	before := rec.count("big")
	srv.Append("small", "INBOX", rawMsg("small", 1))
	eventually(t, "small's new mail handed", func() bool { return rec.count("small") == 1 })
	waited := int(atSmall.Load()) - before
	if rec.count("big") >= backlog && waited >= backlog-before {
		t.Fatalf("small's mail waited for the whole backlog (%d messages)", waited)
	}
	// The new mail waits for the batch in hand and, at worst, one more
	// (the one whose slot was asked first), plus the IDLE notice.
	if waited > 3*o.BatchSize {
		t.Fatalf("small's mail waited for %d of big's messages, want at most %d", waited, 3*o.BatchSize)
	}
	eventually(t, "the backlog handed", func() bool { return rec.count("big") == backlog })
}

// When checks cannot keep up (one connection, and the mailbox holding it
// stuck in a slow hand-off), the other mailbox goes over budget, with an
// event and a log line, and recovers once it is checked again.
func TestOverBudgetWhenChecksCannotKeepUp(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("slow", "pw-slow")
	srv.AddUser("late", "pw-late")
	srv.Append("slow", "INBOX", rawMsg("slow", 1))
	var logs syncBuffer
	o := fastOptions(memory.NewInboundStore(), newRecorder())
	rec := o.Handler.(*recorder)
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	o.MaxConnectionsPerHost = 1
	o.MaxCheckDelay = 150 * time.Millisecond
	release := make(chan struct{})
	rec.hook = func(d *inbound.Delivery) error {
		if d.Mailbox.ID == "slow" {
			<-release
		}
		return nil
	}
	events := make(chan inbound.Event, 1000)
	o.OnEvent = func(e inbound.Event) {
		select {
		case events <- e:
		default:
		}
	}
	slow, late := mb("slow", "slow", srv.Host(), srv.Port()), mb("late", "late", srv.Host(), srv.Port())
	slow.Inbound.PollInterval, late.Inbound.PollInterval = 50*time.Millisecond, 50*time.Millisecond
	r := start(t, o, slow, late)
	var ev inbound.Event
	deadline := time.After(60 * time.Second)
	for ev.Health.State != engine.StateOverBudget || ev.Health.Mailbox != "late" {
		select {
		case ev = <-events:
		case <-deadline:
			close(release)
			t.Fatalf("no over-budget event for the late mailbox: %+v %+v", r.health("late"), r.health("slow"))
		}
	}
	if !ev.Health.State.Failing() || ev.Err == "" {
		t.Fatalf("event %+v: want a failing state with a reason", ev)
	}
	if h := r.health("late"); h.State != engine.StateOverBudget {
		t.Fatalf("late: %s, want over_budget", h.State)
	}
	if !strings.Contains(logs.String(), "not checked within its bound") || !strings.Contains(logs.String(), "mailbox=late") {
		t.Fatalf("no log line: %s", logs.String())
	}
	// Several budget checks pass while it is late: it is reported once.
	time.Sleep(4 * o.MaxCheckDelay)
	close(release)
	eventually(t, "late checked again, no longer over budget", func() bool {
		h := r.health("late")
		return h.State == engine.StateWaiting && h.Mode == engine.ModeRotating && h.LastCheck.After(ev.Health.Since)
	})
	eventually(t, "slow's message handed", func() bool { return rec.count("slow") == 1 })
	overs := 1
	for drained := false; !drained; {
		select {
		case e := <-events:
			if e.Health.Mailbox != "late" {
				continue
			}
			if e.Health.State == engine.StateWaiting && e.Health.LastCheck.After(ev.Health.Since) {
				drained = true // checked again: a later lateness is a new one
				continue
			}
			if e.Health.State == engine.StateOverBudget {
				overs++
			}
		default:
			drained = true
		}
	}
	if overs != 1 {
		t.Fatalf("%d over-budget events for one late check, want 1", overs)
	}
	n := 0
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "not checked within its bound") && strings.Contains(l, "mailbox=late") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d log lines for one late check, want 1: %s", n, logs.String())
	}
}

// Mail from one of our own mailboxes is a loop; the set of our addresses
// follows the catalog (a removed mailbox's address is no longer ours).
func TestOwnAddressesFollowTheCatalog(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("a", "pw-a")
	srv.AddUser("b", "pw-b")
	o := fastOptions(memory.NewInboundStore(), newRecorder())
	rec := o.Handler.(*recorder)
	r := start(t, o, mb("a", "a", srv.Host(), srv.Port()), mb("b", "b", srv.Host(), srv.Port()))
	eventually(t, "a waiting", func() bool { return r.health("a").State == engine.StateWaiting })
	fromB := func(i int) []byte {
		return []byte(fmt.Sprintf("From: B <B@Helpdesk.Example>\r\nTo: a@helpdesk.example\r\nSubject: s%d\r\nMessage-ID: <own-%d@example.com>\r\n\r\nx\r\n", i, i))
	}
	srv.Append("a", "INBOX", fromB(1))
	eventually(t, "first handed", func() bool { return rec.count("a") == 1 })
	rec.mu.Lock()
	loop := rec.last["a"].Classification.Loop
	rec.mu.Unlock()
	if !loop {
		t.Fatal("mail from our own mailbox b is not a loop")
	}
	r.del(t, "b")
	srv.Append("a", "INBOX", fromB(2))
	eventually(t, "second handed", func() bool { return rec.count("a") == 2 })
	rec.mu.Lock()
	loop = rec.last["a"].Classification.Loop
	rec.mu.Unlock()
	if loop {
		t.Fatal("b was removed, yet its address still counts as ours")
	}
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var _ = context.Background

// The same past the global cap, across two hosts (the issue: MaxConnections
// 50 with 80 mailboxes on 4 hosts left 30 never read).
func TestBeyondGlobalCapEveryMailboxRead(t *testing.T) {
	srv := newServer(t)
	o := fastOptions(memory.NewInboundStore(), newRecorder())
	rec := o.Handler.(*recorder)
	o.MaxConnections = 4
	var mbs []*mailbox.Mailbox
	for i := range 8 {
		u := fmt.Sprintf("g%d", i)
		srv.AddUser(u, "pw-"+u)
		srv.Append(u, "INBOX", rawMsg(u, 1))
		host := srv.Host()
		if i%2 == 1 {
			host = "localhost" // another host name for the same server
		}
		m := mb(u, u, host, srv.Port())
		m.Inbound.PollInterval = 30 * time.Millisecond
		mbs = append(mbs, m)
	}
	r := start(t, o, mbs...)
	eventually(t, "every mailbox read", func() bool { return rec.total() == len(mbs) })
	for i, m := range mbs {
		srv.Append(string(m.ID), "INBOX", rawMsg(string(m.ID), 2+i))
	}
	eventually(t, "every mailbox's new mail read", func() bool { return rec.total() == 2*len(mbs) })
	rotating := 0
	for _, h := range mustHealthAll(t, r.p) {
		if h.Mode == engine.ModeRotating {
			rotating++
		}
	}
	if rotating < len(mbs)-o.MaxConnections {
		t.Fatalf("%d mailboxes rotating, want at least %d", rotating, len(mbs)-o.MaxConnections)
	}
}
