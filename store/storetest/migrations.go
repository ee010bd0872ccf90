package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
)

// MigrationHarness describes a SQL store's schema history to RunMigrations,
// which writes rows in an old schema, lets the store migrate them and
// reads them back through the store's API.
type MigrationHarness struct {
	// Old returns a new database holding the store's migrations below
	// version (recorded as applied), exec, which runs one statement on it
	// with ? placeholders, and open, which closes that connection and
	// opens the store on the database (migrating it to the newest schema).
	Old func(t *testing.T, below int) (exec func(q string, args ...any), open func() Migrated)
	// Cursors is the migration that turned checkpoints (a UIDVALIDITY
	// and a UID) into transport cursors; Bodies the one that moved outbox
	// bodies out of the message JSON into correio_outbox_bodies.
	Cursors, Bodies int
	// HasJSONKey returns a SQL condition true where the JSON column col
	// holds key at its top level.
	HasJSONKey func(col, key string) string
}

// Migrated is a store opened on a migrated database.
type Migrated struct {
	Inbound store.Inbound
	Outbox  store.Outbox
	// Exec runs one statement (? placeholders) on the store's database.
	Exec func(q string, args ...any)
	// Count runs a query returning one integer.
	Count func(q string) int
}

// RunMigrations checks that rows written before the harness's migrations
// keep their meaning after them.
func RunMigrations(t *testing.T, h MigrationHarness) {
	t.Run("Checkpoints", func(t *testing.T) { migratedCheckpoints(t, h) })
	t.Run("OutboxBodies", func(t *testing.T) { migratedBodies(t, h) })
}

// migratedCheckpoints: checkpoints written before the cursor migration get
// the IMAP cursor they are; new checkpoints keep any transport's cursor.
func migratedCheckpoints(t *testing.T, h MigrationHarness) {
	ctx := context.Background()
	exec, open := h.Old(t, h.Cursors)
	exec(`INSERT INTO correio_inbound_checkpoints (mailbox_id, folder, uid_validity, last_uid, since_ns, updated_ns) VALUES
		('a', 'INBOX', 1700000001, 42, 0, 1), ('a', 'Archive', 4294967295, 4294967295, 0, 1), ('b', 'INBOX', 0, 0, 0, 1)`)
	s := open()
	for _, tc := range []struct {
		mb     mailbox.ID
		folder string
		want   store.Checkpoint
	}{
		{"a", "INBOX", store.Checkpoint{Cursor: "imap/1:1700000001:42", UIDValidity: 1700000001, LastUID: 42}},
		{"a", "Archive", store.Checkpoint{Cursor: "imap/1:4294967295:4294967295", UIDValidity: 4294967295, LastUID: 4294967295}},
		{"b", "INBOX", store.Checkpoint{}}, // no position: no cursor
	} {
		cp, ok, err := s.Inbound.Checkpoint(ctx, tc.mb, tc.folder)
		if err != nil || !ok || cp != tc.want {
			t.Fatalf("%s/%s: %+v %v %v, want %+v", tc.mb, tc.folder, cp, ok, err, tc.want)
		}
	}
	// A new checkpoint of another transport in the migrated table.
	delta := store.Checkpoint{Cursor: "fake/1:delta-1"}
	if err := s.Inbound.SetCheckpoint(ctx, "a", "INBOX", delta, 0); err != nil {
		t.Fatal(err)
	}
	if cp, _, err := s.Inbound.Checkpoint(ctx, "a", "INBOX"); err != nil || cp != delta {
		t.Fatalf("after the migration %+v %v", cp, err)
	}
}

// migratedBodies: outbox records written before the bodies migration (the
// body inside the message JSON) keep their Text and HTML, now in
// correio_outbox_bodies, and are claimed with them.
func migratedBodies(t *testing.T, h MigrationHarness) {
	ctx := context.Background()
	exec, open := h.Old(t, h.Bodies)
	const rec = `INSERT INTO correio_outbox (id, message_id, mailbox_id, state, enqueued_ns, next_ns, message, recipients, updated_ns)
		VALUES (?, ?, 'out', 1, 1, 1, ?, '[{"Address":{"Name":"","Address":"a@example.org"},"Kind":0,"State":0,"Reason":""}]', 1)`
	exec(rec, "old-1", "m1@example.com", `{"mailbox":"out","subject":"both","text":"plain\r\nline \"2\"","html":"<p>x</p>"}`)
	exec(rec, "old-2", "m2@example.com", `{"mailbox":"out","subject":"html only","html":"<b>h</b>"}`)
	exec(rec, "old-3", "m3@example.com", `{"mailbox":"out","subject":"empty"}`)
	s := open()
	want := map[string][2]string{"old-1": {"plain\r\nline \"2\"", "<p>x</p>"}, "old-2": {"", "<b>h</b>"}, "old-3": {"", ""}}
	for id, w := range want {
		r, err := s.Outbox.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Message.Text != w[0] || r.Message.HTML != w[1] || r.Message.Subject == "" {
			t.Fatalf("%s: %+v, want text %q html %q", id, r.Message, w[0], w[1])
		}
	}
	if left := s.Count(`SELECT count(*) FROM correio_outbox WHERE ` +
		h.HasJSONKey("message", "text") + ` OR ` + h.HasJSONKey("message", "html")); left != 0 {
		t.Fatalf("%d message JSON still holding a body", left)
	}
	recs, err := s.Outbox.Claim(ctx, store.Claim{Mailbox: "out", Now: time.Unix(0, 2), Lease: time.Minute, Max: 10, Token: "tok"})
	if err != nil || len(recs) != 3 {
		t.Fatalf("claimed %d, %v", len(recs), err)
	}
	for _, r := range recs {
		if w := want[r.ID]; r.Message.Text != w[0] || r.Message.HTML != w[1] {
			t.Fatalf("claimed %s: %+v", r.ID, r.Message)
		}
	}
	// Deleting a record deletes its body (the foreign key's cascade).
	s.Exec("DELETE FROM correio_outbox WHERE id = 'old-1'")
	if bodies := s.Count("SELECT count(*) FROM correio_outbox_bodies"); bodies != 2 {
		t.Fatalf("%d bodies after deleting one record of 3", bodies)
	}
}
