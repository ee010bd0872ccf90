package postgres_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/correio-dev/correio/internal/pgtest"
	"github.com/correio-dev/correio/store/postgres"
	"github.com/correio-dev/correio/store/storetest"
)

// TestMigrations: rows written in an old schema (checkpoints before 0004,
// outbox bodies before 0008) keep their meaning after the migrations.
func TestMigrations(t *testing.T) {
	storetest.RunMigrations(t, storetest.MigrationHarness{
		Cursors: 4,
		Bodies:  8,
		HasJSONKey: func(col, key string) string {
			return col + "->'" + key + "' IS NOT NULL"
		},
		Old: func(t *testing.T, below int) (func(string, ...any), func() storetest.Migrated) {
			ctx := context.Background()
			dsn := pgtest.Database(t)
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			ms, err := postgres.Migrations()
			if err != nil {
				t.Fatal(err)
			}
			old := func(q string, args ...any) {
				t.Helper()
				if _, err := conn.Exec(ctx, dollars(q), args...); err != nil {
					t.Fatalf("%.60s: %v", q, err)
				}
			}
			old(`CREATE TABLE correio_schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
			for _, m := range ms {
				if m.Version >= below {
					break
				}
				old(m.SQL)
				old("INSERT INTO correio_schema_migrations (version, name) VALUES (?, ?)", m.Version, m.Name)
			}
			return old, func() storetest.Migrated {
				if err := conn.Close(ctx); err != nil {
					t.Fatal(err)
				}
				s := open(t, dsn, postgres.Options{CheckInterval: -1}) // migrates
				return storetest.Migrated{
					Inbound: s.Inbound(),
					Outbox:  s.Outbox(),
					Exec: func(q string, args ...any) {
						t.Helper()
						if _, err := s.Pool().Exec(ctx, dollars(q), args...); err != nil {
							t.Fatalf("%.60s: %v", q, err)
						}
					},
					Count: func(q string) int {
						t.Helper()
						var n int
						if err := s.Pool().QueryRow(ctx, q).Scan(&n); err != nil {
							t.Fatalf("%.60s: %v", q, err)
						}
						return n
					},
				}
			}
		},
	})
}

// dollars numbers the ? placeholders of q as Postgres's $1, $2, ... (the
// test statements hold no ? inside literals).
func dollars(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
