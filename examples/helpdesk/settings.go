package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The helpdesk keeps its own settings (the email step being edited) in
// its own table, helpdesk_settings, in the same database as correio's
// store: the table is the helpdesk's, created here, not one of the store's
// migrations. A host keeps its workflow definitions in its own tables the
// same way.

// stepKey names the email step's row.
const stepKey = "workflow.email_step"

// settings keeps named values; a missing name loads as nil.
type settings interface {
	Load(ctx context.Context, name string) (url.Values, error)
	Save(ctx context.Context, name string, v url.Values) error
}

const settingsTable = `CREATE TABLE IF NOT EXISTS helpdesk_settings (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
)`

// sqlSettings keeps the settings in SQLite through database/sql (the
// driver store/sqlite registers).
type sqlSettings struct{ db *sql.DB }

// openSQLiteSettings opens a second handle on the store's SQLite file and
// creates the helpdesk's table.
func openSQLiteSettings(ctx context.Context, path string) (*sqlSettings, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, settingsTable); err != nil {
		db.Close()
		return nil, fmt.Errorf("helpdesk settings: %w", err)
	}
	return &sqlSettings{db: db}, nil
}

func (s *sqlSettings) Close() error { return s.db.Close() }

func (s *sqlSettings) Load(ctx context.Context, name string) (url.Values, error) {
	var text string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM helpdesk_settings WHERE name = ?`, name).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return url.ParseQuery(text)
}

func (s *sqlSettings) Save(ctx context.Context, name string, v url.Values) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO helpdesk_settings (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, v.Encode())
	return err
}

// pgSettings keeps the settings in PostgreSQL through the store's pool.
type pgSettings struct{ pool *pgxpool.Pool }

func newPGSettings(ctx context.Context, pool *pgxpool.Pool) (*pgSettings, error) {
	if _, err := pool.Exec(ctx, settingsTable); err != nil {
		return nil, fmt.Errorf("helpdesk settings: %w", err)
	}
	return &pgSettings{pool: pool}, nil
}

func (s *pgSettings) Load(ctx context.Context, name string) (url.Values, error) {
	var text string
	err := s.pool.QueryRow(ctx, `SELECT value FROM helpdesk_settings WHERE name = $1`, name).Scan(&text)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return url.ParseQuery(text)
}

func (s *pgSettings) Save(ctx context.Context, name string, v url.Values) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO helpdesk_settings (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, v.Encode())
	return err
}
