package postgres_test

import (
	"context"
	"testing"

	"github.com/correio-dev/correio/internal/pgtest"
	"github.com/correio-dev/correio/store/postgres"
	"github.com/correio-dev/correio/store/storetest"
)

// BenchmarkCatalog10k: a catalog of 10,000 mailboxes. Reload is what a
// replica pays when another one changed the catalog; Put is one write
// through this Store (its snapshot is patched, not reloaded).
func BenchmarkCatalog10k(b *testing.B) {
	ctx := context.Background()
	s := open(b, pgtest.Database(b), postgres.Options{Secrets: keyring(b), CheckInterval: -1})
	if _, err := s.Pool().Exec(ctx, `INSERT INTO correio_mailboxes (id, kind, description, enabled, settings)
		SELECT 'mb' || i, 'outbound', 'bulk', true,
			'{"server":{"host":"smtp.example.com"},"mechanism":"none","from_address":"desk@example.com"}'::jsonb
		FROM generate_series(1, 10000) AS i;
		UPDATE correio_catalog_version SET version = version + 1`); err != nil {
		b.Fatal(err)
	}
	if err := s.Catalog().Refresh(ctx); err != nil {
		b.Fatal(err)
	}
	if n := len(s.Catalog().Mailboxes()); n != 10000 {
		b.Fatalf("%d mailboxes loaded", n)
	}
	b.Run("Reload", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Pool().Exec(ctx, "UPDATE correio_catalog_version SET version = version + 1"); err != nil {
				b.Fatal(err)
			}
			if err := s.Catalog().Refresh(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Put", func(b *testing.B) {
		m := storetest.Outbound("mb1")
		for b.Loop() {
			if err := s.Catalog().PutMailbox(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
