package integration_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/internal/mailstack"
	"github.com/correio-dev/correio/internal/pgtest"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/postgres"
	"github.com/correio-dev/correio/store/sqlite"
	"github.com/correio-dev/correio/transport/smtp"
)

// stores are the durable stores of the benchmarks below: each opens a
// fresh one (a new SQLite file, a new Postgres database).
type benchStores struct {
	b  *testing.B
	pg *pgtest.Server
}

var storeKinds = []string{"memory", "sqlite", "postgres"}

func (bs benchStores) open(kind string) (store.Inbound, store.Outbox, func()) {
	ctx := context.Background()
	switch kind {
	case "sqlite":
		st, err := sqlite.Open(ctx, filepath.Join(bs.b.TempDir(), "correio.db"), sqlite.Options{CheckInterval: -1})
		if err != nil {
			bs.b.Fatal(err)
		}
		return st.Inbound(), st.Outbox(), func() { _ = st.Close() }
	case "postgres":
		db, err := bs.pg.CreateDatabase(ctx)
		if err != nil {
			bs.b.Fatal(err)
		}
		st, err := postgres.Open(ctx, bs.pg.DSN(db), postgres.Options{CheckInterval: -1})
		if err != nil {
			bs.b.Fatal(err)
		}
		return st.Inbound(), st.Outbox(), func() { st.Close(); _ = bs.pg.DropDatabase(ctx, db) }
	}
	return memory.NewInboundStore(), memory.NewOutbox(), func() {}
}

// BenchmarkIngestDovecotStores is BenchmarkIngestDovecot (2,000 messages
// over IMAPS, post-action keep) with each store: memory, SQLite, Postgres
// (durable). Reported: messages per second and the ratio store/raw.
func BenchmarkIngestDovecotStores(b *testing.B) {
	s := benchStack(b)
	const user = "box50@example.test"
	fill(b, s, user, ingestN)
	bs := benchStores{b: b, pg: pgtest.Durable(b)}
	totals := make([]time.Duration, len(storeKinds))
	var raw time.Duration
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		raw += ingestRaw(b, s, user)
		for i, k := range storeKinds {
			b.StopTimer()
			in, _, closeStore := bs.open(k)
			runtime.GC()
			b.StartTimer()
			totals[i] += pollStore(b, s, in, inBox(s, "bench-in", user, mailbox.PostKeep, ""))
			b.StopTimer()
			closeStore()
			b.StartTimer()
		}
	}
	rate := func(d time.Duration) float64 { return float64(ingestN*b.N) / d.Seconds() }
	b.ReportMetric(rate(raw), "raw-msgs/s")
	for i, k := range storeKinds {
		b.ReportMetric(rate(totals[i]), k+"-msgs/s")
		b.ReportMetric(raw.Seconds()/totals[i].Seconds(), k+"-ratio")
	}
}

func pollStore(b *testing.B, s *mailstack.Stack, st store.Inbound, m *mailbox.Mailbox) time.Duration {
	var n atomic.Int64
	done := make(chan struct{})
	cat := memory.NewCatalog()
	if err := cat.PutMailbox(context.Background(), m); err != nil {
		b.Fatal(err)
	}
	o := inbound.Options{Store: st, Catalog: cat, IMAP: imapConfig(s),
		Handler: inbound.HandlerFunc(func(context.Context, *inbound.Delivery) error {
			if n.Add(1) == ingestN {
				close(done)
			}
			return nil
		})}
	p, err := inbound.New(o)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	t0 := time.Now()
	go func() { _ = p.Run(ctx); close(stopped) }()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d hand-offs", n.Load(), ingestN)
	}
	d := time.Since(t0)
	cancel()
	<-stopped
	return d
}

// BenchmarkSendPostfixStores is BenchmarkSendPostfix's Sender (1,000
// messages, 4 connections) with each outbox, against raw go-mail on 4
// reused connections in the same iteration.
func BenchmarkSendPostfixStores(b *testing.B) {
	s := benchStack(b)
	const from, to = "box51@example.test", "box52@example.test"
	bs := benchStores{b: b, pg: pgtest.Durable(b)}
	totals := make([]time.Duration, len(storeKinds))
	var raw time.Duration
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		raw += sendRaw(b, s, from, to, true)
		for i, k := range storeKinds {
			b.StopTimer()
			_, ob, closeStore := bs.open(k)
			runtime.GC()
			b.StartTimer()
			totals[i] += sendOutbox(b, s, ob, from, to)
			b.StopTimer()
			closeStore()
			b.StartTimer()
		}
	}
	rate := func(d time.Duration) float64 { return float64(sendN*b.N) / d.Seconds() }
	b.ReportMetric(rate(raw), "raw-msgs/s")
	for i, k := range storeKinds {
		b.ReportMetric(rate(totals[i]), k+"-msgs/s")
		b.ReportMetric(raw.Seconds()/totals[i].Seconds(), k+"-ratio")
	}
}

func sendOutbox(b *testing.B, s *mailstack.Stack, ob store.Outbox, from, to string) time.Duration {
	ctx := context.Background()
	cat := memory.NewCatalog()
	m := outBox(s, "bench-out", from)
	m.Outbound.MaxConnections = 4
	_ = cat.PutMailbox(ctx, m)
	tr := smtp.New(smtp.Options{RootCAs: s.CA.Pool(), CommandTimeout: 30 * time.Second})
	defer tr.Close()
	var sent atomic.Int64
	done := make(chan struct{})
	snd, err := outbound.New(outbound.Options{Outbox: ob, Catalog: cat, Transport: tr, MaxConcurrency: 4,
		OnEvent: func(e outbound.Event) {
			if e.Kind == outbound.EventDelivered && sent.Add(1) == sendN {
				close(done)
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	if err := snd.Start(ctx); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	for i := range sendN {
		if _, err := snd.Enqueue(ctx, store.Message{Mailbox: m.ID, To: []store.Address{{Address: to}},
			Subject: fmt.Sprintf("Request %d updated", i), Text: benchText}); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d sent", sent.Load(), sendN)
	}
	d := time.Since(t0)
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_ = snd.Stop(sctx)
	return d
}
