package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/sqlite"
)

// TestMigrationKeepsOldCheckpoints: checkpoints written before migration
// 0003 (a UIDVALIDITY and a UID only) get the IMAP cursor they are; new
// checkpoints keep any transport's cursor.
func TestMigrationKeepsOldCheckpoints(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := sqlite.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	exec(`CREATE TABLE correio_schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`)
	for _, m := range ms {
		if m.Version >= 3 {
			break
		}
		exec(m.SQL)
		exec("INSERT INTO correio_schema_migrations VALUES (?, ?, ?)", m.Version, m.Name, "2026-11-01T00:00:00Z")
	}
	exec(`INSERT INTO correio_inbound_checkpoints (mailbox_id, folder, uid_validity, last_uid, since_ns, updated_ns) VALUES
		('a', 'INBOX', 1700000001, 42, 0, 1), ('a', 'Archive', 4294967295, 4294967295, 0, 1), ('b', 'INBOX', 0, 0, 0, 1)`)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := open(t, path) // migrates
	for _, tc := range []struct {
		mb     mailbox.ID
		folder string
		want   store.Checkpoint
	}{
		{"a", "INBOX", store.Checkpoint{Cursor: "imap/1:1700000001:42", UIDValidity: 1700000001, LastUID: 42}},
		{"a", "Archive", store.Checkpoint{Cursor: "imap/1:4294967295:4294967295", UIDValidity: 4294967295, LastUID: 4294967295}},
		{"b", "INBOX", store.Checkpoint{}}, // no position: no cursor
	} {
		cp, ok, err := s.Inbound().Checkpoint(ctx, tc.mb, tc.folder)
		if err != nil || !ok || cp != tc.want {
			t.Fatalf("%s/%s: %+v %v %v, want %+v", tc.mb, tc.folder, cp, ok, err, tc.want)
		}
	}
	// A new checkpoint of another transport in the migrated table.
	delta := store.Checkpoint{Cursor: "fake/1:delta-1"}
	if err := s.Inbound().SetCheckpoint(ctx, "a", "INBOX", delta, 0); err != nil {
		t.Fatal(err)
	}
	if cp, _, err := s.Inbound().Checkpoint(ctx, "a", "INBOX"); err != nil || cp != delta {
		t.Fatalf("after the migration %+v %v", cp, err)
	}
}
