package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/correio-dev/correio/internal/pgtest"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/postgres"
)

// TestMigrationMovesOutboxBodies: outbox records written before migration
// 0008 (the body inside the message JSON) keep their Text and HTML, now in
// correio_outbox_bodies, and are claimed with them.
func TestMigrationMovesOutboxBodies(t *testing.T) {
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
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	exec(`CREATE TABLE correio_schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
	for _, m := range ms {
		if m.Version >= 8 {
			break
		}
		exec(m.SQL)
		exec("INSERT INTO correio_schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name)
	}
	const rec = `INSERT INTO correio_outbox (id, message_id, mailbox_id, state, enqueued_ns, next_ns, message, recipients, updated_ns)
		VALUES ($1, $2, 'out', 1, 1, 1, $3, '[{"Address":{"Name":"","Address":"a@example.org"},"Kind":0,"State":0,"Reason":""}]', 1)`
	exec(rec, "old-1", "m1@example.com", `{"mailbox":"out","subject":"both","text":"plain\r\nline \"2\"","html":"<p>x</p>"}`)
	exec(rec, "old-2", "m2@example.com", `{"mailbox":"out","subject":"html only","html":"<b>h</b>"}`)
	exec(rec, "old-3", "m3@example.com", `{"mailbox":"out","subject":"empty"}`)
	if err := conn.Close(ctx); err != nil {
		t.Fatal(err)
	}

	s := open(t, dsn, postgres.Options{CheckInterval: -1}) // migrates
	want := map[string][2]string{"old-1": {"plain\r\nline \"2\"", "<p>x</p>"}, "old-2": {"", "<b>h</b>"}, "old-3": {"", ""}}
	for id, w := range want {
		r, err := s.Outbox().Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Message.Text != w[0] || r.Message.HTML != w[1] || r.Message.Subject == "" {
			t.Fatalf("%s: %+v, want text %q html %q", id, r.Message, w[0], w[1])
		}
	}
	var left int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM correio_outbox
		WHERE message->'text' IS NOT NULL OR message->'html' IS NOT NULL`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d message JSON still holding a body, %v", left, err)
	}
	recs, err := s.Outbox().Claim(ctx, store.Claim{Mailbox: "out", Now: time.Unix(0, 2), Lease: time.Minute, Max: 10, Token: "tok"})
	if err != nil || len(recs) != 3 {
		t.Fatalf("claimed %d, %v", len(recs), err)
	}
	for _, r := range recs {
		if w := want[r.ID]; r.Message.Text != w[0] || r.Message.HTML != w[1] {
			t.Fatalf("claimed %s: %+v", r.ID, r.Message)
		}
	}
	if _, err := s.Pool().Exec(ctx, "DELETE FROM correio_outbox WHERE id = 'old-1'"); err != nil {
		t.Fatal(err)
	}
	var bodies int
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM correio_outbox_bodies").Scan(&bodies); err != nil || bodies != 2 {
		t.Fatalf("%d bodies after deleting one record of 3, %v", bodies, err)
	}
}
