package storetest_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/internal/pgtest"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/postgres"
	"github.com/correio-dev/correio/store/secrets"
	"github.com/correio-dev/correio/store/sqlite"
	"github.com/correio-dev/correio/store/storetest"
	"github.com/correio-dev/correio/workflow"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// fill registers n contracts, each with an outbound and an inbound mailbox,
// and a system mailbox.
func fill(b testing.TB, c store.Catalog, n int) {
	ctx := context.Background()
	if err := c.PutMailbox(ctx, storetest.Outbound("sys")); err != nil {
		b.Fatal(err)
	}
	if err := c.SetSystemMailbox(ctx, "sys"); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		out, in := mailbox.ID(fmt.Sprintf("out%d", i)), mailbox.ID(fmt.Sprintf("in%d", i))
		if err := c.PutMailbox(ctx, storetest.Outbound(out)); err != nil {
			b.Fatal(err)
		}
		if err := c.PutMailbox(ctx, storetest.Inbound(in)); err != nil {
			b.Fatal(err)
		}
		if err := c.PutContract(ctx, &contract.Contract{ID: contract.ID(fmt.Sprintf("c%d", i)), Name: "C", OutboundMailbox: out, InboundMailboxes: []mailbox.ID{in}}); err != nil {
			b.Fatal(err)
		}
	}
}

func benchResolve(b *testing.B, c store.Catalog) {
	fill(b, c, 50)
	r := routing.NewResolver(c)
	ctx := context.Background()
	reqs := []routing.Request{
		{Choice: workflow.Contract, Contract: "c7"},
		{Choice: workflow.Contract},
		{Choice: workflow.Specific, MailboxID: "out3"},
		{Choice: workflow.System},
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := r.Resolve(ctx, reqs[i&3]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func keys(b testing.TB) *secrets.Keyring {
	k, err := secrets.NewKeyring("k1", map[string][]byte{"k1": bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		b.Fatal(err)
	}
	return k
}

// BenchmarkResolveCached compares a routing decision over the memory catalog
// with the SQL stores' cached snapshots, in the same run.
func BenchmarkResolveCached(b *testing.B) {
	b.Run("Memory", func(b *testing.B) { benchResolve(b, memory.NewCatalog()) })
	b.Run("SQLite", func(b *testing.B) {
		s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "b.db"), sqlite.Options{Secrets: keys(b), CheckInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		benchResolve(b, s.Catalog())
	})
	b.Run("Postgres", func(b *testing.B) {
		s, err := postgres.Open(context.Background(), pgtest.Database(b), postgres.Options{Secrets: keys(b)})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		benchResolve(b, s.Catalog())
	})
}

// BenchmarkPutMailbox is the cost of one catalog write (transaction, rule
// checks, snapshot reload) with 100 mailboxes registered.
func BenchmarkPutMailbox(b *testing.B) {
	run := func(b *testing.B, c store.Catalog) {
		fill(b, c, 50)
		m := storetest.Outbound("out1")
		ctx := context.Background()
		b.ResetTimer()
		for b.Loop() {
			if err := c.PutMailbox(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("Memory", func(b *testing.B) { run(b, memory.NewCatalog()) })
	b.Run("SQLite", func(b *testing.B) {
		s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "b.db"), sqlite.Options{Secrets: keys(b), CheckInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		run(b, s.Catalog())
	})
	b.Run("Postgres", func(b *testing.B) {
		s, err := postgres.Open(context.Background(), pgtest.Database(b), postgres.Options{Secrets: keys(b), CheckInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		run(b, s.Catalog())
	})
}
