package storetest_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/correio-dev/correio/internal/pgtest"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/postgres"
	"github.com/correio-dev/correio/store/sqlite"
	"github.com/correio-dev/correio/transport/smtp"
)

type mailStores struct {
	name string
	open func(b *testing.B) (store.Outbox, store.Inbound, func())
}

func allMailStores() []mailStores {
	return []mailStores{
		{"Memory", func(*testing.B) (store.Outbox, store.Inbound, func()) {
			return memory.NewOutbox(), memory.NewInboundStore(), func() {}
		}},
		{"SQLite", func(b *testing.B) (store.Outbox, store.Inbound, func()) {
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "b.db"), sqlite.Options{CheckInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			return s.Outbox(), s.Inbound(), func() { s.Close() }
		}},
		{"Postgres", func(b *testing.B) (store.Outbox, store.Inbound, func()) {
			s, err := postgres.Open(context.Background(), pgtest.Database(b), postgres.Options{CheckInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			return s.Outbox(), s.Inbound(), s.Close
		}},
	}
}

var bt0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// BenchmarkOutboxCycle: per iteration, 20 messages are enqueued (Put, one
// transaction each, as Sender.Enqueue does), claimed as one batch and
// completed (Update to Sent, one transaction each) — the outbox's share of
// sending 20 messages. Reported as messages per second.
func BenchmarkOutboxCycle(b *testing.B) {
	const batch = 20
	for _, st := range allMailStores() {
		b.Run(st.name, func(b *testing.B) {
			ob, _, closeFn := st.open(b)
			defer closeFn()
			ctx := context.Background()
			n := 0
			start := time.Now()
			for b.Loop() {
				for range batch {
					n++
					r := &store.OutboxRecord{ID: fmt.Sprintf("r%08d", n), MessageID: fmt.Sprintf("m%08d@example.com", n), Mailbox: "mb",
						State: store.Queued, EnqueuedAt: bt0, NextAttempt: bt0, Message: store.Message{Mailbox: "mb", Subject: "Request opened",
							Text: "Your request was opened.", To: []store.Address{{Address: "a@example.org"}}, Thread: fmt.Sprint(n)},
						Recipients: []store.RecipientStatus{{Address: store.Address{Address: "a@example.org"}}}}
					if err := ob.Put(ctx, r); err != nil {
						b.Fatal(err)
					}
				}
				recs, err := ob.Claim(ctx, store.Claim{Mailbox: "mb", Now: bt0, Lease: time.Minute, Max: batch, Token: fmt.Sprint("t", n)})
				if err != nil || len(recs) != batch {
					b.Fatalf("claimed %d: %v", len(recs), err)
				}
				for _, r := range recs {
					r.State, r.Attempts = store.Sent, 1
					r.Recipients[0].State = store.Delivered
					if err := ob.Update(ctx, r, fmt.Sprint("t", n)); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// BenchmarkCheckpointCommit is the latency of one inbound Commit (key and
// checkpoint in one transaction, fencing token checked).
func BenchmarkCheckpointCommit(b *testing.B) {
	for _, st := range allMailStores() {
		b.Run(st.name, func(b *testing.B) {
			_, in, closeFn := st.open(b)
			defer closeFn()
			ctx := context.Background()
			i := 0
			for b.Loop() {
				i++
				if err := in.Commit(ctx, store.InboundRecord{Mailbox: "mb", Folder: "INBOX", Key: fmt.Sprint("k", i),
					Checkpoint: store.Checkpoint{UIDValidity: 1, LastUID: uint32(i)}, Outcome: store.Handled, At: bt0, Fence: 1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSenderThroughput: 500 messages per iteration enqueued through
// outbound.Sender and sent to one in-process SMTP server (plaintext,
// MaxConnections 4), with each outbox in the same run.
func BenchmarkSenderThroughput(b *testing.B) {
	const n = 500
	for _, st := range allMailStores() {
		b.Run(st.name, func(b *testing.B) {
			ob, _, closeFn := st.open(b)
			defer closeFn()
			srv, err := mailtest.NewSMTPServer(mailtest.SMTPOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			cat := memory.NewCatalog()
			ctx := context.Background()
			if err := cat.PutMailbox(ctx, &mailbox.Mailbox{ID: "out", Description: "out", Kind: mailbox.Outbound, Enabled: true,
				Outbound: &mailbox.OutboundSettings{
					Server:         mailbox.Server{Host: srv.Host(), Port: srv.Port(), Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
					From:           mailbox.Identity{Address: "desk@example.com"},
					Credentials:    mailbox.Credentials{Mechanism: mailbox.AuthNone},
					MaxConnections: 4,
				}}); err != nil {
				b.Fatal(err)
			}
			tr := smtp.New(smtp.Options{})
			defer tr.Close()
			s, err := outbound.New(outbound.Options{Outbox: ob, Catalog: cat, Transport: tr, MaxConcurrency: 4})
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Start(ctx); err != nil {
				b.Fatal(err)
			}
			defer s.Stop(ctx)
			sent := 0
			start := time.Now()
			for b.Loop() {
				for i := range n {
					if _, err := s.Enqueue(ctx, store.Message{Mailbox: "out", Subject: fmt.Sprint("Request ", i), Text: "Your request was opened.",
						To: []store.Address{{Address: "customer@example.org"}}}); err != nil {
						b.Fatal(err)
					}
				}
				sent += n
				wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
				if _, err := srv.WaitMessages(wctx, sent); err != nil {
					b.Fatal(err)
				}
				cancel()
			}
			b.ReportMetric(float64(sent)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
