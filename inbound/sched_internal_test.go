package inbound

import (
	"context"
	"testing"
	"time"
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
