package inbound

import (
	"context"
	"log/slog"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/message"
	"github.com/correio-dev/correio/store/memory"
)

func TestRotationShare(t *testing.T) {
	for _, tc := range []struct{ cap, demand, slots int }{
		{100, 50, 0}, {100, 100, 0}, {100, 101, 1}, {100, 150, 34}, {10, 15, 4}, {100, 10000, 99}, {1, 2, 1},
	} {
		pl := &pool{cap: tc.cap, demand: tc.demand}
		if got := pl.rotationSlots(); got != tc.slots {
			t.Errorf("cap %d demand %d: %d rotation slots, want %d", tc.cap, tc.demand, got, tc.slots)
		}
	}
}

// Beyond the cap, kept grants are revoked down to the kept share, waiters
// are served in order as slots come back, and a cancelled waiter holds
// nothing.
func TestSchedulerRevokesAndServesInOrder(t *testing.T) {
	s := newScheduler(1000, 2, func(string) int { return 0 })
	ctx := context.Background()
	a, b := s.join("h", "a"), s.join("h", "b")
	ga, _ := s.acquire(ctx, a, nil)
	gb, _ := s.acquire(ctx, b, nil)
	if !ga.kept || !gb.kept {
		t.Fatal("two mailboxes under a cap of two should keep their sessions")
	}
	c := s.join("h", "c") // 3 over 2: one rotation slot, one kept
	if n := btoi(s.isRevoked(ga)) + btoi(s.isRevoked(gb)); n != 1 {
		t.Fatalf("%d kept grants revoked, want 1", n)
	}
	queued := make(chan string, 3)
	got := make(chan *grant, 2)
	go func() { g, _ := s.acquire(ctx, c, func() { queued <- "c" }); got <- g }()
	if <-queued != "c" {
		t.Fatal("c should queue while both slots are held")
	}
	d := s.join("h", "d")
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { _, err := s.acquire(cctx, d, func() { queued <- "d" }); errc <- err }()
	<-queued
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("a cancelled acquire returned a grant")
	}
	revoked := ga
	if !s.isRevoked(ga) {
		revoked = gb
	}
	s.release(revoked, 0)
	gc := <-got
	if gc.kept {
		t.Fatal("the slot freed for the rotation went to a kept session")
	}
	s.release(gc, 10*time.Millisecond)
	if s.avg != 10*time.Millisecond {
		t.Fatalf("average short session %v", s.avg)
	}
	s.mu.Lock()
	hp := s.hosts["h"]
	inUse := hp.kept + hp.short
	s.mu.Unlock()
	if inUse != 1 {
		t.Fatalf("%d slots in use, want 1 (the cancelled waiter holds none)", inUse)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// The loop guard counts a sender's messages within the window and
// forgets expired ones, each event once.
func TestSenderLogWindow(t *testing.T) {
	var l senderLog
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	win := time.Hour
	for i := range 3 {
		now := t0.Add(time.Duration(i) * time.Minute)
		if n := l.add("x", now, now.Add(-win)); n != i+1 {
			t.Fatalf("count %d, want %d", n, i+1)
		}
	}
	for i := range 20000 { // many senders, then all expire
		now := t0.Add(2*time.Minute + time.Duration(i)*time.Millisecond)
		l.add(string(rune('a'+i%26))+string(rune(i)), now, now.Add(-win))
	}
	later := t0.Add(3 * time.Hour)
	if n := l.add("x", later, later.Add(-win)); n != 1 {
		t.Fatalf("count after the window %d, want 1", n)
	}
	if len(l.counts) != 1 || len(l.events)-l.head != 1 {
		t.Fatalf("%d senders, %d events kept after expiry", len(l.counts), len(l.events)-l.head)
	}
}

// BenchmarkFlood records messages from 20,000 distinct senders within the
// window (past the 10,000 where the old guard swept its whole map on every
// message).
func BenchmarkFlood(b *testing.B) {
	var l senderLog
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	addrs := make([]string, 20000)
	for i := range addrs {
		addrs[i] = "sender" + string(rune('a'+i%26)) + time.Duration(i).String() + "@example.com"
	}
	for i, a := range addrs { // 20,000 senders in the window
		now := t0.Add(time.Duration(i) * time.Millisecond)
		l.add(a, now, now.Add(-time.Hour))
	}
	b.ResetTimer()
	for i := range b.N {
		now := t0.Add(time.Duration(len(addrs)+i) * time.Millisecond)
		l.add(addrs[i%len(addrs)], now, now.Add(-time.Hour))
	}
}

// BenchmarkOwnFrom checks a message's author against the addresses of
// 10,000 mailboxes.
func BenchmarkOwnFrom(b *testing.B) {
	p := &Poller{own: map[string]int{}}
	for i := range 10000 {
		p.addOwn("box"+time.Duration(i).String()+"@helpdesk.example", 1)
	}
	m := &message.Message{From: []*mail.Address{{Address: "customer@example.com"}}}
	b.ResetTimer()
	for range b.N {
		if len(p.ownFrom(m)) != 0 {
			b.Fatal("not ours")
		}
	}
}

// BenchmarkFloodSweep is the guard this replaced (a slice per sender and
// a sweep of the whole map on every message past 10,000 senders), kept
// here to compare with BenchmarkFlood.
func BenchmarkFloodSweep(b *testing.B) {
	senders := map[string][]time.Time{}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	addrs := make([]string, 20000)
	for i := range addrs {
		addrs[i] = "sender" + string(rune('a'+i%26)) + time.Duration(i).String() + "@example.com"
	}
	for i, a := range addrs { // 20,000 senders in the window
		senders[a] = []time.Time{t0.Add(time.Duration(i) * time.Millisecond)}
	}
	b.ResetTimer()
	for i := range b.N {
		now := t0.Add(time.Duration(len(addrs)+i) * time.Millisecond)
		cut := now.Add(-time.Hour)
		addr := addrs[i%len(addrs)]
		ts := senders[addr]
		j := 0
		for j < len(ts) && ts[j].Before(cut) {
			j++
		}
		senders[addr] = append(ts[j:], now)
		if len(senders) > 10000 {
			for a, t := range senders {
				if len(t) == 0 || t[len(t)-1].Before(cut) {
					delete(senders, a)
				}
			}
		}
	}
}

// A provider's per-account limit holds back a second session of one
// account while another account on the same host gets its slot.
func TestSchedulerAccountLimit(t *testing.T) {
	s := newScheduler(100, 100, func(h string) int {
		if h == "imap.gmail.com" {
			return 1
		}
		return 0
	})
	ctx := context.Background()
	a1, a2, b := s.join("IMAP.gmail.com", "ann"), s.join("imap.gmail.com", "Ann"), s.join("imap.gmail.com", "bob")
	g1, _ := s.acquire(ctx, a1, nil)
	queued := make(chan struct{}, 1)
	got := make(chan *grant, 1)
	go func() {
		g, _ := s.acquire(ctx, a2, func() { queued <- struct{}{} })
		got <- g
	}()
	<-queued
	gb, err := s.acquire(ctx, b, func() { t.Error("bob queued behind ann's account limit") })
	if err != nil || gb == nil {
		t.Fatal(err)
	}
	select {
	case <-got:
		t.Fatal("ann's second session got a slot past the account limit")
	case <-time.After(20 * time.Millisecond):
	}
	s.release(g1, time.Millisecond)
	if g := <-got; g == nil {
		t.Fatal("ann's second session never got the slot")
	}
}

// A mailbox past its bound is over budget once per bound: one event and
// one log line however often the budget is checked and however often it
// is queued or connecting again meanwhile; the scan skips while no bound
// can have passed; a check (a new bound) ends it.
func TestOverBudgetOncePerBound(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
	var logs strings.Builder
	var events []Event
	p, err := New(Options{Store: memory.NewInboundStore(), Handler: HandlerFunc(func(context.Context, *Delivery) error { return nil }),
		Catalog: memory.NewCatalog(), Clock: clk, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		OnEvent: func(e Event) { events = append(events, e) }})
	if err != nil {
		t.Fatal(err)
	}
	e := &mbHealth{h: engine.Health{Mailbox: "m", Kind: mailbox.Inbound, State: engine.StateWaiting}}
	p.health["m"] = e
	p.hmu.Lock()
	p.setDeadlineLocked(e, clk.Now().Add(time.Minute))
	p.hmu.Unlock()
	overs := func() (n int) {
		for _, ev := range events {
			if ev.Health.State == engine.StateOverBudget {
				n++
			}
		}
		return n
	}
	p.checkBudget()
	if overs() != 0 || e.h.State != engine.StateWaiting {
		t.Fatalf("over budget before its bound: %s", e.h.State)
	}
	clk.Advance(2 * time.Minute)
	p.checkBudget()
	p.update("m", func(*engine.Health) (engine.State, string) { return engine.StateQueued, "" })
	p.checkBudget()
	p.update("m", func(*engine.Health) (engine.State, string) { return engine.StateConnecting, "" })
	p.checkBudget()
	if overs() != 1 || e.h.State != engine.StateOverBudget {
		t.Fatalf("%d over-budget events, state %s; want 1, over_budget until checked", overs(), e.h.State)
	}
	if n := strings.Count(logs.String(), "not checked within its bound"); n != 1 {
		t.Fatalf("%d log lines, want 1", n)
	}
	// Checked: waiting with a new bound; late again past it.
	p.updateRecord("m", func(e *mbHealth) (engine.State, string) {
		p.setDeadlineLocked(e, clk.Now().Add(time.Minute))
		return engine.StateWaiting, ""
	})
	if e.h.State != engine.StateWaiting {
		t.Fatalf("checked: %s, want waiting", e.h.State)
	}
	clk.Advance(2 * time.Minute)
	p.checkBudget()
	if overs() != 2 {
		t.Fatalf("%d over-budget events after a second late bound, want 2", overs())
	}
}

// Poll intervals are spread over their last fifth: never longer than the
// interval, never shorter than 0.8 of it, and not all alike.
func TestJitterWithinInterval(t *testing.T) {
	const d = time.Minute
	seen := map[time.Duration]bool{}
	for range 1000 {
		j := jitter(d)
		if j > d || j < d*4/5 {
			t.Fatalf("jitter(%v) = %v, want within [%v, %v]", d, j, d*4/5, d)
		}
		seen[j] = true
	}
	if len(seen) < 100 {
		t.Fatalf("only %d distinct intervals in 1000", len(seen))
	}
	if jitter(0) != 0 || jitter(3) != 3 {
		t.Fatal("tiny intervals change")
	}
}
