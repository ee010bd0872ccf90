package postgres

import (
	"context"
	"embed"
	"fmt"

	"github.com/correio-dev/correio/store/sqlstore"
	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the embedded migrations in order.
func Migrations() ([]sqlstore.Migration, error) { return sqlstore.ReadMigrations(migrations) }

// migrationLock is the pg_advisory_lock key that serializes Migrate across
// replicas ("correio" in ASCII).
const migrationLock int64 = 0x636f727265696f

// Migrate applies the migrations not yet applied. It holds a session
// advisory lock while it works, so replicas starting at once apply each step
// exactly once; each step commits in its own transaction with its record in
// correio_schema_migrations. It is idempotent.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := Migrations()
	if err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return fmt.Errorf("postgres: migrate: advisory lock: %w", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10e9)
		defer cancel()
		if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", migrationLock); err != nil {
			// The session may hold the lock: drop the connection.
			_ = conn.Hijack().Close(uctx)
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS correio_schema_migrations (
		version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	var cur int
	if err := conn.QueryRow(ctx, "SELECT COALESCE(max(version), 0) FROM correio_schema_migrations").Scan(&cur); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	for _, m := range ms {
		if m.Version <= cur {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO correio_schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name)
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: migration %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	return nil
}

// SchemaVersion returns the highest applied migration (0 before Migrate).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, "SELECT to_regclass('correio_schema_migrations') IS NOT NULL").Scan(&exists); err != nil || !exists {
		return 0, err
	}
	var v int
	err := s.pool.QueryRow(ctx, "SELECT COALESCE(max(version), 0) FROM correio_schema_migrations").Scan(&v)
	return v, err
}
