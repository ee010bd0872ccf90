package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/internal/pgtest"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store/postgres"
)

func mailboxes(n int) []mailbox.ID {
	out := make([]mailbox.ID, n)
	for i := range out {
		out[i] = mailbox.ID(fmt.Sprintf("mb%05d", i))
	}
	return out
}

func owned(ls []postgres.Lease) map[mailbox.ID]int64 {
	m := map[mailbox.ID]int64{}
	for _, l := range ls {
		m[l.Mailbox] = l.Token
	}
	return m
}

// TestLeasesTwoReplicas runs two "replicas" over one database with a fake
// clock: fair share, takeover after expiry, fencing of the stale replica.
func TestLeasesTwoReplicas(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.Database(t), postgres.Options{CheckInterval: -1})
	fake := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	l := s.Leases()
	l.Clock = fake
	const ttl = 30 * time.Second
	mbs := mailboxes(20)

	a, err := l.ClaimFairShare(ctx, "A", mbs, ttl)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 20 {
		t.Fatalf("alone, A holds %d of 20", len(a))
	}
	// B joins: everything is held and unexpired, so B gets nothing yet.
	b, err := l.ClaimFairShare(ctx, "B", mbs, ttl)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 0 {
		t.Fatalf("B took %d unexpired leases", len(b))
	}
	// A's next round sees two replicas and releases its excess; B takes it.
	fake.Advance(ttl / 3)
	if a, err = l.ClaimFairShare(ctx, "A", mbs, ttl); err != nil {
		t.Fatal(err)
	}
	if b, err = l.ClaimFairShare(ctx, "B", mbs, ttl); err != nil {
		t.Fatal(err)
	}
	if len(a) != 10 || len(b) != 10 {
		t.Fatalf("shares A=%d B=%d, want 10/10", len(a), len(b))
	}
	ao, bo := owned(a), owned(b)
	for _, m := range mbs {
		_, inA := ao[m]
		_, inB := bo[m]
		if inA == inB {
			t.Fatalf("mailbox %s held by A=%v B=%v", m, inA, inB)
		}
	}
	// A cannot Acquire one of B's mailboxes.
	if _, err := l.Acquire(ctx, "A", b[0].Mailbox, ttl); !errors.Is(err, postgres.ErrLeaseHeld) {
		t.Fatalf("acquire of B's lease: err = %v, want ErrLeaseHeld", err)
	}

	// A stalls: B keeps renewing, A's leases expire, B takes them over.
	victim := a[0]
	fake.Advance(ttl / 2)
	if _, err := l.ClaimFairShare(ctx, "B", mbs, ttl); err != nil {
		t.Fatal(err)
	}
	fake.Advance(ttl/2 + time.Second) // A last renewed 31s ago
	if b, err = l.ClaimFairShare(ctx, "B", mbs, ttl); err != nil {
		t.Fatal(err)
	}
	if len(b) != 20 {
		t.Fatalf("after A expired, B holds %d of 20", len(b))
	}
	newTok := owned(b)[victim.Mailbox]
	if newTok <= victim.Token {
		t.Fatalf("takeover token %d not above the old %d", newTok, victim.Token)
	}

	// The stale replica cannot commit; the new owner can.
	commit := func(token int64) error {
		tx, err := s.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if err := postgres.CheckFence(ctx, tx, victim.Mailbox, token); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
	if err := commit(victim.Token); !errors.Is(err, postgres.ErrFenced) {
		t.Fatalf("stale replica commit: err = %v, want ErrFenced", err)
	}
	if err := commit(newTok); err != nil {
		t.Fatalf("owner commit: %v", err)
	}
	// A wakes up: its renewal reports the loss.
	got, err := l.Renew(ctx, "A", []mailbox.ID{victim.Mailbox}, ttl)
	if err != nil || len(got) != 0 {
		t.Fatalf("stale renew = %v, %v; want nothing held", got, err)
	}
	// Renewal keeps the token; release frees the lease at once.
	got, err = l.Renew(ctx, "B", []mailbox.ID{victim.Mailbox}, ttl)
	if err != nil || len(got) != 1 || got[0].Token != newTok {
		t.Fatalf("renew = %v, %v; want token %d", got, err, newTok)
	}
	if err := l.Release(ctx, "B", []mailbox.ID{victim.Mailbox}); err != nil {
		t.Fatal(err)
	}
	if err := commit(newTok); !errors.Is(err, postgres.ErrFenced) {
		t.Fatalf("commit after release: err = %v, want ErrFenced", err)
	}
	re, err := l.Acquire(ctx, "A", victim.Mailbox, ttl)
	if err != nil || re.Token <= newTok {
		t.Fatalf("reacquire = %+v, %v; want a token above %d", re, err, newTok)
	}
	if err := l.Leave(ctx, "B"); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Renew(ctx, "B", mbs, ttl); len(got) != 0 {
		t.Fatalf("B still holds %d leases after Leave", len(got))
	}
}

// TestCheckFenceBlocksTakeover: while a checkpoint transaction holds the
// fence, a takeover waits for it, so a commit never interleaves with a new
// owner.
func TestCheckFenceBlocksTakeover(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.Database(t), postgres.Options{CheckInterval: -1})
	fake := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	l := s.Leases()
	l.Clock = fake
	lease, err := l.Acquire(ctx, "A", "mb", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := s.Pool().BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := postgres.CheckFence(ctx, tx, "mb", lease.Token); err != nil {
		t.Fatal(err)
	}
	fake.Advance(2 * time.Second)
	done := make(chan error, 1)
	go func() {
		_, err := l.Acquire(ctx, "B", "mb", time.Second)
		done <- err
	}()
	// The takeover is blocked on the row lock until A's commit.
	var waiting bool
	for !waiting {
		err := s.Pool().QueryRow(ctx, "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%correio_leases%'").Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			t.Fatalf("takeover finished while the fence was held: %v", err)
		default:
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("takeover after commit: %v", err)
	}
}

// BenchmarkLeaseRenew10k renews 10,000 leases of one replica with one
// statement per round; ClaimFairShare is the full round (heartbeat, count,
// renew, no claims needed).
func BenchmarkLeaseRenew10k(b *testing.B) {
	ctx := context.Background()
	s := open(b, pgtest.Database(b), postgres.Options{CheckInterval: -1})
	l := s.Leases()
	mbs := mailboxes(10000)
	held, err := l.ClaimFairShare(ctx, "A", mbs, time.Minute)
	if err != nil || len(held) != len(mbs) {
		b.Fatalf("claimed %d, %v", len(held), err)
	}
	b.Run("Renew", func(b *testing.B) {
		for b.Loop() {
			got, err := l.Renew(ctx, "A", mbs, time.Minute)
			if err != nil || len(got) != len(mbs) {
				b.Fatalf("renewed %d, %v", len(got), err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(len(mbs)), "µs/lease")
	})
	b.Run("ClaimFairShare", func(b *testing.B) {
		for b.Loop() {
			got, err := l.ClaimFairShare(ctx, "A", mbs, time.Minute)
			if err != nil || len(got) != len(mbs) {
				b.Fatalf("held %d, %v", len(got), err)
			}
		}
	})
}

// TestLeasesConcurrentReplicas: four replicas run lease rounds at the same
// time. No mailbox is ever held by two, and once every replica ran a round
// after the others, every mailbox is held and the shares are fair.
func TestLeasesConcurrentReplicas(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.Database(t), postgres.Options{CheckInterval: -1})
	fake := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	l := s.Leases()
	l.Clock = fake
	const ttl = time.Minute
	mbs := mailboxes(202)
	owners := []string{"r1", "r2", "r3", "r4"}
	// Every replica joins first (a round over no mailbox records its
	// heartbeat), so all count four replicas.
	for _, o := range owners {
		if got, err := l.ClaimFairShare(ctx, o, nil, ttl); err != nil || len(got) != 0 {
			t.Fatalf("join: %v, %v", got, err)
		}
	}
	held := make([][]postgres.Lease, len(owners))
	for round := 0; round < 3; round++ {
		errs := make(chan error, len(owners))
		for i, o := range owners {
			go func() {
				var err error
				held[i], err = l.ClaimFairShare(ctx, o, mbs, ttl)
				errs <- err
			}()
		}
		for range owners {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		seen := map[mailbox.ID]string{}
		for i, ls := range held {
			for _, le := range ls {
				if prev, ok := seen[le.Mailbox]; ok {
					t.Fatalf("round %d: mailbox %s held by %s and %s", round, le.Mailbox, prev, owners[i])
				}
				seen[le.Mailbox] = owners[i]
			}
		}
	}
	// Settle: sequential rounds (the first releases any excess, the second
	// picks up what was released).
	total := 0
	for range 2 {
		for i, o := range owners {
			var err error
			if held[i], err = l.ClaimFairShare(ctx, o, mbs, ttl); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range owners {
		got, err := l.Renew(ctx, owners[i], mbs, ttl)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > 51 {
			t.Fatalf("%s holds %d, above its share of 51", owners[i], len(got))
		}
		total += len(got)
	}
	if total != len(mbs) {
		t.Fatalf("%d of %d mailboxes held after settling", total, len(mbs))
	}
}
