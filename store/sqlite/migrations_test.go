package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/correio-dev/correio/store/sqlite"
	"github.com/correio-dev/correio/store/storetest"
)

// TestMigrations: rows written in an old schema (checkpoints before 0003,
// outbox bodies before 0007) keep their meaning after the migrations.
func TestMigrations(t *testing.T) {
	storetest.RunMigrations(t, storetest.MigrationHarness{
		Cursors: 3,
		Bodies:  7,
		HasJSONKey: func(col, key string) string {
			return "json_type(" + col + ", '$." + key + "') IS NOT NULL"
		},
		Old: func(t *testing.T, below int) (func(string, ...any), func() storetest.Migrated) {
			path := filepath.Join(t.TempDir(), "old.db")
			db, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			exec := func(db *sql.DB) func(string, ...any) {
				return func(q string, args ...any) {
					t.Helper()
					if _, err := db.Exec(q, args...); err != nil {
						t.Fatalf("%.60s: %v", q, err)
					}
				}
			}
			ms, err := sqlite.Migrations()
			if err != nil {
				t.Fatal(err)
			}
			old := exec(db)
			old(`CREATE TABLE correio_schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`)
			for _, m := range ms {
				if m.Version >= below {
					break
				}
				old(m.SQL)
				old("INSERT INTO correio_schema_migrations VALUES (?, ?, ?)", m.Version, m.Name, "2026-11-01T00:00:00Z")
			}
			return old, func() storetest.Migrated {
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
				s := open(t, path) // migrates
				raw := sqlite.RawDB(s)
				return storetest.Migrated{
					Inbound: s.Inbound(),
					Outbox:  s.Outbox(),
					Exec:    exec(raw),
					Count: func(q string) int {
						t.Helper()
						var n int
						if err := raw.QueryRow(q).Scan(&n); err != nil {
							t.Fatalf("%.60s: %v", q, err)
						}
						return n
					},
				}
			}
		},
	})
}
