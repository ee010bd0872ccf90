package inbound_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/sqlite"
	"github.com/correio-dev/correio/transport"
)

// deltaSource is a source of another transport than IMAP, shaped like
// Microsoft Graph: its position is an opaque delta token of a couple of
// thousand characters ("fake/1:delta-<n>-<token>"), its messages have no
// UID, and it cannot tell a restarted engine where it stopped: only the
// stored cursor can.
type deltaSource struct {
	mu      sync.Mutex
	msgs    [][]byte
	resumed []transport.Cursor // what Resume was given, per session
	listed  []transport.Cursor // what List was given
	fetched []string           // item IDs fetched
}

const deltaKind mailbox.TransportKind = "fake"

// deltaToken makes the cursor after the first n messages: long, like a
// Graph delta link, and with characters a store could mangle.
func deltaToken(n int) transport.Cursor {
	return transport.MakeCursor(string(deltaKind), 1, fmt.Sprintf("delta-%d-%s", n, strings.Repeat("AAMkAGI2='%;", 200)))
}

func parseDelta(c transport.Cursor) (int, error) {
	if c.IsZero() {
		return 0, nil
	}
	kind, version, payload, err := c.Parse()
	if err != nil {
		return 0, err
	}
	n, _, ok := strings.Cut(strings.TrimPrefix(payload, "delta-"), "-")
	i, aerr := strconv.Atoi(n)
	if kind != string(deltaKind) || version != 1 || !ok || aerr != nil || c != deltaToken(i) {
		return 0, fmt.Errorf("%w: %.40q... is not a delta cursor", transport.ErrCursor, string(c))
	}
	return i, nil
}

func (s *deltaSource) add(raw []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, raw)
}

func (s *deltaSource) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

func (s *deltaSource) Open(context.Context, *mailbox.Mailbox) (transport.Session, error) {
	return &deltaSession{s: s}, nil
}

func (*deltaSource) PostActions() []mailbox.PostAction {
	return []mailbox.PostAction{mailbox.PostSeen, mailbox.PostKeep}
}

type deltaSession struct{ s *deltaSource }

func (d *deltaSession) Resume(_ context.Context, cur transport.Cursor, latest bool) (transport.Cursor, bool, error) {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resumed = append(s.resumed, cur)
	if _, err := parseDelta(cur); err != nil {
		return "", false, &transport.Error{Class: transport.Permanent, Protocol: "fake", Op: "resume", Err: err}
	}
	if cur.IsZero() {
		if latest {
			return deltaToken(len(s.msgs)), false, nil
		}
		return deltaToken(0), false, nil
	}
	return cur, false, nil
}

func (d *deltaSession) List(_ context.Context, cur transport.Cursor) ([]transport.Item, error) {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listed = append(s.listed, cur)
	after, err := parseDelta(cur)
	if err != nil {
		return nil, &transport.Error{Class: transport.Permanent, Protocol: "fake", Op: "list", Err: err}
	}
	var out []transport.Item
	for i := after; i < len(s.msgs); i++ {
		out = append(out, transport.Item{ID: fmt.Sprint("m", i+1), Cursor: deltaToken(i + 1), Size: int64(len(s.msgs[i]))})
	}
	return out, nil
}

func (d *deltaSession) Fetch(_ context.Context, items []transport.Item, fn func(*transport.Spool)) error {
	s := d.s
	for _, it := range items {
		n, _ := strconv.Atoi(strings.TrimPrefix(it.ID, "m"))
		s.mu.Lock()
		raw := s.msgs[n-1]
		s.fetched = append(s.fetched, it.ID)
		s.mu.Unlock()
		sp, err := transport.NewSpool(bytes.NewReader(raw), int64(len(raw)), 0, "")
		if err != nil {
			return err
		}
		sp.ID = it.ID
		fn(sp)
	}
	return nil
}

func (*deltaSession) Apply(context.Context, transport.Action, []string) error { return nil }

func (*deltaSession) Push() bool { return false }

func (*deltaSession) Wait(ctx context.Context, wake <-chan time.Time) error {
	select {
	case <-ctx.Done():
	case <-wake:
	}
	return nil
}

func (*deltaSession) Close(context.Context) error { return nil }

func (s *deltaSource) snapshot() (resumed, listed []transport.Cursor, fetched []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]transport.Cursor(nil), s.resumed...), append([]transport.Cursor(nil), s.listed...), append([]string(nil), s.fetched...)
}

func openSQLite(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestForeignCursorResumesAfterRestart: a transport whose cursor is not
// IMAP's (an opaque delta token of 2,000+ characters) has it kept by the
// SQLite store with every commit; after a restart (a new Poller on the
// reopened database file) the poller resumes from exactly that cursor and
// fetches only what came after it.
func TestForeignCursorResumesAfterRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "correio.db")
	src := &deltaSource{}
	for i := 1; i <= 3; i++ {
		src.add(rawMsg("g", i))
	}
	m := mb("g", "g", "graph.invalid", 443)
	m.Inbound.Transport = deltaKind
	run := func(want int) (*recorder, map[string]transport.Cursor) {
		st := openSQLite(t, path)
		defer st.Close()
		rec := newRecorder()
		var mu sync.Mutex
		handoff := map[string]transport.Cursor{} // Message-ID -> cursor of its hand-off record
		rec.hook = func(d *inbound.Delivery) error {
			mu.Lock()
			defer mu.Unlock()
			handoff[d.Message.MessageID] = transport.Cursor(d.HandoffRecord().Checkpoint.Cursor)
			return nil
		}
		o := fastOptions(st.Inbound(), rec)
		o.IMAP = nil
		o.Source = transport.Sources{deltaKind: src}
		r := start(t, o, m)
		eventually(t, fmt.Sprintf("%d messages handed", want), func() bool {
			cp, _, _ := st.Inbound().Checkpoint(ctx, "g", "INBOX")
			return rec.count("g") == want && transport.Cursor(cp.Cursor) == deltaToken(src.len())
		})
		if h := r.health("g"); h.Duplicates != 0 || h.LastError != "" {
			t.Fatalf("health %+v", h)
		}
		r.stop()
		mu.Lock()
		defer mu.Unlock()
		return rec, handoff
	}

	_, handoff := run(3)
	for i := 1; i <= 3; i++ {
		if got := handoff[fmt.Sprintf("g-%d@example.com", i)]; got != deltaToken(i) {
			t.Fatalf("hand-off record of message %d carries cursor %.30q..., want the one after it", i, string(got))
		}
	}
	{
		st := openSQLite(t, path)
		cp, ok, err := st.Inbound().Checkpoint(ctx, "g", "INBOX")
		st.Close()
		if err != nil || !ok || transport.Cursor(cp.Cursor) != deltaToken(3) || len(cp.Cursor) < 2000 || cp.UIDValidity != 0 || cp.LastUID != 0 {
			t.Fatalf("stored checkpoint (%d characters) %.40q..., %d/%d, %v %v", len(cp.Cursor), string(cp.Cursor), cp.UIDValidity, cp.LastUID, ok, err)
		}
	}
	_, _, fetched := src.snapshot()
	if strings.Join(fetched, ",") != "m1,m2,m3" {
		t.Fatalf("first run fetched %v", fetched)
	}

	// Restart with two new messages on the server.
	src.add(rawMsg("g", 4))
	src.add(rawMsg("g", 5))
	src.mu.Lock()
	src.resumed, src.listed, src.fetched = nil, nil, nil
	src.mu.Unlock()
	rec, _ := run(2)
	resumed, listed, fetched := src.snapshot()
	if len(resumed) == 0 || resumed[0] != deltaToken(3) {
		t.Fatalf("the restarted poller resumed from %.30q..., want the stored cursor", resumed)
	}
	if len(listed) == 0 || listed[0] != deltaToken(3) {
		t.Fatal("the restarted poller did not list from the stored cursor")
	}
	if strings.Join(fetched, ",") != "m4,m5" {
		t.Fatalf("after the restart fetched %v, want only the two new messages", fetched)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.raw["g/g-4@example.com"] == nil || rec.raw["g/g-5@example.com"] == nil || rec.raw["g/g-1@example.com"] != nil {
		t.Fatalf("after the restart handed %v", rec.raw)
	}
}

// legacyDB makes a SQLite database as a release before cursors left it:
// the migrations before 0003 applied, and rows of the checkpoint table
// with a UIDVALIDITY and a UID only.
func legacyDB(t *testing.T, path string, rows ...[3]any) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
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
	for _, r := range rows {
		exec("INSERT INTO correio_inbound_checkpoints (mailbox_id, folder, uid_validity, last_uid, since_ns, updated_ns) VALUES (?, 'INBOX', ?, ?, 0, 1)", r[0], r[1], r[2])
	}
}

// TestLegacyIMAPCheckpointResumes: IMAP checkpoints a SQLite database
// kept before cursors existed are read as the IMAP cursors they are, both
// when migration 0003 filled their cursor (an upgraded database) and when
// a row has none (written without one, as an older replica would): the
// poller resumes after the stored UID.
func TestLegacyIMAPCheckpointResumes(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t)
	for _, u := range []string{"c", "d"} {
		srv.AddUser(u, "pw-"+u)
		for i := 1; i <= 4; i++ {
			srv.Append(u, "INBOX", rawMsg(u, i))
		}
	}
	status, _ := srv.Status("c", "INBOX")
	v := status.UIDValidity
	status, _ = srv.Status("d", "INBOX")
	vd := status.UIDValidity
	path := filepath.Join(t.TempDir(), "old.db")
	legacyDB(t, path, [3]any{"c", int64(v), 2})
	st := openSQLite(t, path) // applies 0003
	defer st.Close()
	if ver, err := st.SchemaVersion(ctx); err != nil || ver < 3 {
		t.Fatalf("schema %d %v", ver, err)
	}
	cp, ok, err := st.Inbound().Checkpoint(ctx, "c", "INBOX")
	if want := store.Cursor(fmt.Sprintf("imap/1:%d:2", v)); err != nil || !ok || cp.Cursor != want || cp.UIDValidity != v || cp.LastUID != 2 {
		t.Fatalf("migrated checkpoint %+v %v %v, want cursor %q", cp, ok, err, want)
	}
	// A row without a cursor, as a replica still on the old release writes.
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec("INSERT INTO correio_inbound_checkpoints (mailbox_id, folder, uid_validity, last_uid, since_ns, updated_ns) VALUES ('d', 'INBOX', ?, 3, 0, 1)", int64(vd)); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	start(t, fastOptions(st.Inbound(), rec), mb("c", "c", srv.Host(), srv.Port()), mb("d", "d", srv.Host(), srv.Port()))
	eventually(t, "the messages after each checkpoint", func() bool {
		c, _, _ := st.Inbound().Checkpoint(ctx, "c", "INBOX")
		d, _, _ := st.Inbound().Checkpoint(ctx, "d", "INBOX")
		return rec.count("c") == 2 && rec.count("d") == 1 && c.LastUID == 4 && d.LastUID == 4
	})
	d, _, _ := st.Inbound().Checkpoint(ctx, "d", "INBOX")
	if want := store.Cursor(fmt.Sprintf("imap/1:%d:4", vd)); d.Cursor != want {
		t.Fatalf("cursor of the row written without one is now %q, want %q", d.Cursor, want)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, id := range []string{"c/c-1", "c/c-2", "d/d-1", "d/d-2", "d/d-3"} {
		if rec.raw[id+"@example.com"] != nil {
			t.Fatalf("%s was handed again; handed %v", id, rec.per)
		}
	}
	if rec.raw["c/c-3@example.com"] == nil || rec.raw["d/d-4@example.com"] == nil {
		t.Fatalf("handed %v", rec.per)
	}
}
