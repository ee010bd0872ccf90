package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/internal/pgtest"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/postgres"
)

func heldSet(r store.LeaseRound) map[mailbox.ID]int64 {
	m := map[mailbox.ID]int64{}
	for _, l := range r.Held {
		m[l.Mailbox] = l.Token
	}
	return m
}

// TestLeaseRoundNeverReleases: a round claims up to the fair share of the
// live replicas (joined ones count before they claim) and never takes a
// lease away from its holder; the excess moves only by Release.
func TestLeaseRoundNeverReleases(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.Database(t), postgres.Options{CheckInterval: -1})
	fake := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	l := s.Leases()
	l.Clock = fake
	const ttl = 10 * time.Second
	mbs := mailboxes(20)
	round := func(owner string) store.LeaseRound {
		t.Helper()
		r, err := l.Round(ctx, owner, mbs, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// Three replicas join before any claims: each claims its share only.
	for _, o := range []string{"A", "B", "C"} {
		if err := l.Join(ctx, o, ttl); err != nil {
			t.Fatal(err)
		}
	}
	total := 0
	for _, o := range []string{"A", "B", "C"} {
		r := round(o)
		if r.Members != 3 || r.Share != 7 || len(r.Held) != 7 && o != "C" {
			t.Fatalf("%s: members %d share %d held %d", o, r.Members, r.Share, len(r.Held))
		}
		total += len(r.Held)
	}
	if total != 20 {
		t.Fatalf("held %d of 20", total)
	}
	// C leaves: A and B's shares grow to 10 and they take C's leases.
	if err := l.Leave(ctx, "C"); err != nil {
		t.Fatal(err)
	}
	a, b := round("A"), round("B")
	if a.Share != 10 || len(a.Held) != 10 || len(b.Held) != 10 {
		t.Fatalf("after C left: A %d (share %d), B %d", len(a.Held), a.Share, len(b.Held))
	}
	// D joins: A and B keep all they hold (over the share of 7) and D gets
	// nothing until they release.
	if err := l.Join(ctx, "D", ttl); err != nil {
		t.Fatal(err)
	}
	a, d := round("A"), round("D")
	if a.Share != 7 || len(a.Held) != 10 || len(d.Held) != 0 {
		t.Fatalf("D joined: A %d (share %d), D %d", len(a.Held), a.Share, len(d.Held))
	}
	if err := l.Release(ctx, "A", []mailbox.ID{a.Held[7].Mailbox, a.Held[8].Mailbox, a.Held[9].Mailbox}); err != nil {
		t.Fatal(err)
	}
	d = round("D")
	if len(d.Held) != 3 {
		t.Fatalf("D took %d of the 3 A released", len(d.Held))
	}
	for m := range heldSet(d) {
		if _, ok := heldSet(round("A"))[m]; ok {
			t.Fatalf("%s held by A and D", m)
		}
	}
}

// TestLeaseRoundTakeover: a replica that stops beating is reported by
// Expiring (how long until its first lease expires); at expiry the others
// take its leases, and its claimed outbox records are freed then.
func TestLeaseRoundTakeover(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.Database(t), postgres.Options{CheckInterval: -1})
	fake := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	l := s.Leases()
	l.Clock = fake
	const ttl = 10 * time.Second
	mbs := append(mailboxes(3), "out")
	for _, o := range []string{"A", "B"} {
		if err := l.Join(ctx, o, ttl); err != nil {
			t.Fatal(err)
		}
	}
	a, err := l.Round(ctx, "A", mbs, ttl)
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Round(ctx, "B", mbs, ttl)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Held) != 2 || len(b.Held) != 2 || b.Expiring != 0 {
		t.Fatalf("A %d, B %d, expiring %v", len(a.Held), len(b.Held), b.Expiring)
	}
	dead, live := "A", "B"
	if _, ok := heldSet(b)["out"]; ok {
		dead, live = "B", "A"
	}
	// The dead replica's sender had claimed a record of "out".
	ob := s.Outbox()
	if err := ob.Put(ctx, queuedRec("r1")); err != nil {
		t.Fatal(err)
	}
	if got, err := ob.Claim(ctx, store.Claim{Mailbox: "out", Now: t0, Lease: time.Hour, Max: 1, Token: "tok-" + dead}); err != nil || len(got) != 1 {
		t.Fatalf("claim: %v %v", got, err)
	}
	// The dead replica stops; the live one beats every quarter TTL.
	var r store.LeaseRound
	for range 3 {
		fake.Advance(ttl / 4)
		if r, err = l.Round(ctx, live, mbs, ttl); err != nil {
			t.Fatal(err)
		}
	}
	if len(r.Held) != 2 || r.Expiring <= 0 || r.Expiring > ttl/4+time.Millisecond {
		t.Fatalf("before expiry: held %d, expiring in %v", len(r.Held), r.Expiring)
	}
	fake.Advance(r.Expiring)
	if r, err = l.Round(ctx, live, mbs, ttl); err != nil {
		t.Fatal(err)
	}
	if r.Members != 1 || len(r.Held) != 4 || r.Expiring != 0 {
		t.Fatalf("at expiry: members %d, held %d, expiring %v", r.Members, len(r.Held), r.Expiring)
	}
	got, err := ob.Claim(ctx, store.Claim{Mailbox: "out", Now: t0, Lease: time.Hour, Max: 1, Token: "tok-" + live})
	if err != nil || len(got) != 1 {
		t.Fatalf("the dead replica's claim was not freed at takeover: %v %v", got, err)
	}
	// The live replica's process restarts under the same ID before its
	// leases expire: joining frees its predecessor's claims.
	if err := l.Join(ctx, live, ttl); err != nil {
		t.Fatal(err)
	}
	got, err = ob.Claim(ctx, store.Claim{Mailbox: "out", Now: t0, Lease: time.Hour, Max: 1, Token: "tok-restarted"})
	if err != nil || len(got) != 1 {
		t.Fatalf("the previous process's claim was not freed when its successor joined: %v %v", got, err)
	}
}

// TestLeaseNotifications: Join, Release and Leave wake ListenLeases with
// the replica's ID.
func TestLeaseNotifications(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := open(t, pgtest.Database(t), postgres.Options{CheckInterval: -1})
	l := s.Leases()
	var mu sync.Mutex
	var got []string
	ready := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- l.ListenLeases(ctx, func(o string) {
			if o == "" {
				once.Do(func() { close(ready) })
				return
			}
			mu.Lock()
			got = append(got, o)
			mu.Unlock()
		})
	}()
	<-ready
	if err := l.Join(ctx, "A", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx, "B", nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Leave(ctx, "C"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notifications: %v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got[0] != "A" || got[1] != "B" || got[2] != "C" {
		t.Fatalf("notifications %v", got)
	}
	cancel()
	<-done
}

// BenchmarkLeaseRound10k is one replica's Round among 10 replicas sharing
// 10,000 mailboxes (1,000 leases each, renewed; nothing to claim): what
// each replica pays every TTL/4. The backend's CPU per second for the
// cluster is 10 replicas × 4/TTL × this.
func BenchmarkLeaseRound10k(b *testing.B) {
	ctx := context.Background()
	s := open(b, pgtest.Database(b), postgres.Options{CheckInterval: -1})
	l := s.Leases()
	mbs := mailboxes(10000)
	const ttl = 10 * time.Second
	owners := make([]string, 10)
	for i := range owners {
		owners[i] = fmt.Sprintf("R%d", i)
		if err := l.Join(ctx, owners[i], time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	for _, o := range owners {
		if r, err := l.Round(ctx, o, mbs, time.Hour); err != nil || len(r.Held) != 1000 {
			b.Fatalf("%s claimed %d, %v", o, len(r.Held), err)
		}
	}
	i := 0
	for b.Loop() {
		r, err := l.Round(ctx, owners[i%len(owners)], mbs, ttl)
		if err != nil || len(r.Held) != 1000 {
			b.Fatalf("held %d, %v", len(r.Held), err)
		}
		i++
	}
	perSecond := float64(len(owners)) * 4 / ttl.Seconds()
	b.ReportMetric(perSecond, "rounds/s")
	b.ReportMetric(perSecond*5, "statements/s")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)*perSecond/1e4, "%core(client-measured)")
}
