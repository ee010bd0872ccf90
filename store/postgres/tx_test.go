package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/internal/pgtest"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/postgres"
	"github.com/correio-dev/correio/store/sqlstore"
	"github.com/correio-dev/correio/transport/imap"
	"github.com/correio-dev/correio/transport/smtp"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// TestInboundFencedByLease: a replica whose lease was taken over cannot
// commit a checkpoint, even before the new owner wrote anything.
func TestInboundFencedByLease(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.Database(t), postgres.Options{CheckInterval: -1})
	l := s.Leases()
	fake := clock.NewFake(t0)
	l.Clock = fake
	st := s.Inbound()
	a, err := l.Acquire(ctx, "A", "mb", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fa, err := l.Leaser("A").Fence(ctx, "mb")
	if err != nil || fa != a.Token {
		t.Fatalf("leaser token %d %v, lease %d", fa, err, a.Token)
	}
	rec := func(key string, uid uint32, fence int64) store.InboundRecord {
		return store.InboundRecord{Mailbox: "mb", Folder: "INBOX", Key: key, Checkpoint: store.Checkpoint{UIDValidity: 1, LastUID: uid}, Outcome: store.Handled, At: t0, Fence: fence}
	}
	if err := st.Commit(ctx, rec("k1", 1, a.Token)); err != nil {
		t.Fatal(err)
	}
	fake.Advance(time.Minute)
	if _, err := l.Leaser("A").Fence(ctx, "mb"); !errors.Is(err, postgres.ErrFenced) {
		t.Fatalf("expired lease still fences: %v", err)
	}
	b, err := l.Acquire(ctx, "B", "mb", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	err = st.Commit(ctx, rec("k2", 2, a.Token))
	if !errors.Is(err, store.ErrFenced) || !errors.Is(err, postgres.ErrFenced) {
		t.Fatalf("stale replica committed: %v", err)
	}
	if err := st.SetCheckpoint(ctx, "mb", "INBOX", store.Checkpoint{UIDValidity: 1, LastUID: 9}, a.Token); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("stale SetCheckpoint: %v", err)
	}
	if done, _ := st.Done(ctx, "mb", "k2"); done {
		t.Fatal("fenced key recorded")
	}
	if err := st.Commit(ctx, rec("k2", 2, b.Token)); err != nil {
		t.Fatalf("new owner: %v", err)
	}
	if cp, _, _ := st.Checkpoint(ctx, "mb", "INBOX"); cp.LastUID != 2 {
		t.Fatalf("checkpoint %+v", cp)
	}
}

func queuedRec(id string) *store.OutboxRecord {
	return &store.OutboxRecord{ID: id, MessageID: id + "@example.com", Mailbox: "out", State: store.Queued, EnqueuedAt: t0, NextAttempt: t0,
		Message:    store.Message{Mailbox: "out", Subject: "s", Text: "t", To: []store.Address{{Address: "a@example.org"}}},
		Recipients: []store.RecipientStatus{{Address: store.Address{Address: "a@example.org"}}}}
}

// TestTransactionalOutbox: a record put with the host's transaction exists
// only if the transaction commits, and its commit wakes listeners.
func TestTransactionalOutbox(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.Database(t), postgres.Options{CheckInterval: -1})
	ob := s.Outbox()
	woke := make(chan mailbox.ID, 10)
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.ListenOutbox(lctx, func(mb mailbox.ID) { woke <- mb }) }()
	t.Cleanup(func() { cancel(); <-done })
	if mb := <-woke; mb != "" { // the initial catch-up call
		t.Fatalf("first wake %q", mb)
	}
	if _, err := s.Pool().Exec(ctx, "CREATE TABLE tickets (id text PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	// Rolled back: neither the ticket nor the message exists.
	err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO tickets VALUES ('T1')"); err != nil {
			return err
		}
		if err := ob.Put(postgres.WithTx(ctx, tx), queuedRec("r1")); err != nil {
			return err
		}
		return errors.New("host fails after enqueueing")
	})
	if err == nil {
		t.Fatal("no error")
	}
	if _, err := ob.Get(ctx, "r1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rolled-back record exists: %v", err)
	}
	// Committed: both exist, and the commit notified the listener.
	err = pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO tickets VALUES ('T2')"); err != nil {
			return err
		}
		if err := ob.Put(postgres.WithTx(ctx, tx), queuedRec("r2")); err != nil {
			return err
		}
		// Not visible outside the transaction before the commit.
		if _, err := ob.Get(ctx, "r2"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("visible before commit: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ob.Get(ctx, "r2"); err != nil {
		t.Fatal(err)
	}
	select {
	case mb := <-woke:
		if mb != "out" {
			t.Fatalf("woken for %q", mb)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no notification after commit")
	}
	if len(woke) != 0 {
		t.Fatal("the rolled-back enqueue notified")
	}
}

// TestHandleInTx runs a real poller against an in-process IMAP server with
// a host handler writing tickets in the hand-off transaction. A key
// committed by the host's transaction whose poller-side record was "lost"
// (simulated by rewinding the checkpoint) is not handed again.
func TestHandleInTx(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.Database(t), postgres.Options{CheckInterval: -1})
	if _, err := s.Pool().Exec(ctx, "CREATE TABLE tickets (key text PRIMARY KEY, subject text NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	srv, err := mailtest.NewIMAPServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.AddUser("desk", "pw")
	const n = 12
	for i := range n {
		raw := fmt.Sprintf("From: c%d@example.com\r\nTo: desk@example.com\r\nSubject: Problem %d\r\nMessage-ID: <p%d@example.com>\r\n\r\nhelp %d\r\n", i, i, i, i)
		if _, err := srv.Append("desk", "INBOX", []byte(raw)); err != nil {
			t.Fatal(err)
		}
	}
	mb := &mailbox.Mailbox{ID: "in", Description: "in", Kind: mailbox.Inbound, Enabled: true,
		Inbound: &mailbox.InboundSettings{
			Server:      mailbox.Server{Host: srv.Host(), Port: srv.Port(), Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			Credentials: mailbox.Credentials{Username: "desk", Password: mailbox.NewSecret("pw")}}}
	var calls, hiccups atomic.Int64
	h := inbound.HandlerFunc(postgres.HandleInTx(s, func(ctx context.Context, tx pgx.Tx, d *inbound.Delivery) error {
		calls.Add(1)
		if strings.Contains(d.Message.Subject, "Problem 3") && hiccups.Add(1) <= 2 {
			return errors.New("host database hiccup") // temporary: retried, nothing recorded
		}
		_, err := tx.Exec(ctx, "INSERT INTO tickets VALUES ($1, $2)", d.Key, d.Message.Subject)
		return err
	}))
	// The poller's own commit of one message fails once, as a crash right
	// after the host's transaction would: the message is handed again,
	// and HandleInTx finds its key without calling the host.
	st := &failOnce{Inbound: s.Inbound(), subjectUID: 6}
	run := func() {
		cat := memory.NewCatalog()
		if err := cat.PutMailbox(ctx, mb); err != nil {
			t.Fatal(err)
		}
		p, err := inbound.New(inbound.Options{Store: st, Catalog: cat, Handler: h, IMAP: &imap.Config{Timeout: 5 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- p.Run(pctx) }()
		deadline := time.Now().Add(60 * time.Second)
		for {
			cp, _, _ := s.Inbound().Checkpoint(ctx, "in", "INBOX")
			if cp.LastUID >= n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("poller stuck at %+v", cp)
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	run()
	if !st.failed.Load() {
		t.Fatal("the commit failure was not injected")
	}
	if want := int64(n + 2); calls.Load() != want { // 2 hiccups of Problem 3
		t.Fatalf("host called %d times, want %d (once per message plus the hiccups)", calls.Load(), want)
	}
	var tickets int
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM tickets").Scan(&tickets); err != nil || tickets != n {
		t.Fatalf("tickets %d (%v)", tickets, err)
	}
	// Lose the poller's own progress: the checkpoint goes back to the
	// start, as if every commit after the host's had been lost.
	cp, _, _ := s.Inbound().Checkpoint(ctx, "in", "INBOX")
	if err := s.Inbound().SetCheckpoint(ctx, "in", "INBOX", store.Checkpoint{UIDValidity: cp.UIDValidity}, 0); err != nil {
		t.Fatal(err)
	}
	before := calls.Load()
	run()
	if calls.Load() != before {
		t.Fatalf("handler called %d more times for messages already committed", calls.Load()-before)
	}
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM tickets").Scan(&tickets); err != nil || tickets != n {
		t.Fatalf("tickets %d (%v)", tickets, err)
	}
	recs, err := s.Inbound().Received(ctx, sqlstore.ReceivedFilter{Mailbox: "in"})
	if err != nil || len(recs) != n {
		t.Fatalf("received %d (%v)", len(recs), err)
	}
}

type failOnce struct {
	store.Inbound
	subjectUID uint32
	failed     atomic.Bool
}

func (f *failOnce) Commit(ctx context.Context, r store.InboundRecord) error {
	if r.Checkpoint.LastUID == f.subjectUID && f.failed.CompareAndSwap(false, true) {
		return errors.New("crash after the host's commit")
	}
	return f.Inbound.Commit(ctx, r)
}

// TestHandleInTxLeased: the host is called only on the replica holding the
// mailbox's lease.
func TestHandleInTxLeased(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.Database(t), postgres.Options{CheckInterval: -1})
	if _, err := s.Leases().Acquire(ctx, "B", "in", time.Minute); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	fn := func(context.Context, pgx.Tx, *inbound.Delivery) error { calls.Add(1); return nil }
	mb := &mailbox.Mailbox{ID: "in", Kind: mailbox.Inbound, Inbound: &mailbox.InboundSettings{}}
	d := &inbound.Delivery{Key: "k1", Mailbox: mb, UIDValidity: 1, UID: 1}
	err := postgres.HandleInTxLeased(s, "A", fn)(ctx, d)
	if !errors.Is(err, store.ErrFenced) || !errors.Is(err, postgres.ErrFenced) || calls.Load() != 0 {
		t.Fatalf("non-owner handed off: %v (calls %d)", err, calls.Load())
	}
	if done, _ := s.Inbound().Done(ctx, "in", "k1"); done {
		t.Fatal("key recorded by a non-owner")
	}
	if err := postgres.HandleInTxLeased(s, "B", fn)(ctx, d); err != nil || calls.Load() != 1 {
		t.Fatalf("owner: %v (calls %d)", err, calls.Load())
	}
	if err := postgres.HandleInTxLeased(s, "B", fn)(ctx, d); err != nil || calls.Load() != 1 {
		t.Fatalf("second hand-off of the same key: %v (calls %d)", err, calls.Load())
	}
	if done, _ := s.Inbound().Done(ctx, "in", "k1"); !done {
		t.Fatal("key not recorded")
	}
}

// TestTransactionalEnqueueWithSender: Sender.Enqueue inside the host's
// transaction; a rolled-back enqueue is never sent, a committed one is sent
// once the commit's notification wakes the idle Sender.
func TestTransactionalEnqueueWithSender(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.Database(t), postgres.Options{CheckInterval: -1})
	srv, err := mailtest.NewSMTPServer(mailtest.SMTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cat := memory.NewCatalog()
	if err := cat.PutMailbox(ctx, &mailbox.Mailbox{ID: "out", Description: "out", Kind: mailbox.Outbound, Enabled: true,
		Outbound: &mailbox.OutboundSettings{
			Server:      mailbox.Server{Host: srv.Host(), Port: srv.Port(), Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			From:        mailbox.Identity{Address: "desk@example.com"},
			Credentials: mailbox.Credentials{Mechanism: mailbox.AuthNone}}}); err != nil {
		t.Fatal(err)
	}
	tr := smtp.New(smtp.Options{})
	t.Cleanup(func() { tr.Close() })
	sender, err := outbound.New(outbound.Options{Outbox: s.Outbox(), Catalog: cat, Transport: tr, Suppressions: s.Suppressions()})
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sender.Stop(context.Background()) })
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.ListenOutbox(lctx, func(mailbox.ID) { sender.Wake() }) }()
	t.Cleanup(func() { cancel(); <-done })

	enqueue := func(subject string, commit bool) string {
		var id string
		err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
			var err error
			id, err = sender.Enqueue(postgres.WithTx(ctx, tx), store.Message{Mailbox: "out", Subject: subject, Text: "t",
				To: []store.Address{{Address: "customer@example.org"}}})
			if err == nil && !commit {
				err = errors.New("rollback")
			}
			// Let the Sender's own wake-up (from Enqueue) find nothing
			// committed yet, so only the commit's notification can make it
			// send. (A shorter pause only makes the test weaker, never
			// wrong.)
			time.Sleep(100 * time.Millisecond)
			return err
		})
		if commit && err != nil {
			t.Fatal(err)
		}
		return id
	}
	rolledBack := enqueue("rolled back", false)
	committed := enqueue("committed", true)
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	got, err := srv.WaitMessages(wctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got[0].Data), "Subject: committed") {
		t.Fatalf("sent %q", got[0].Data)
	}
	if _, err := s.Outbox().Get(ctx, rolledBack); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rolled-back record: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := s.Outbox().Get(ctx, committed)
		if err != nil {
			t.Fatal(err)
		}
		if r.State == store.Sent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("committed record %+v", r)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages sent", n)
	}
}
