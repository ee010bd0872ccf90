package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
)

// Quarantined is a quarantined message as the suite sees it.
type Quarantined struct {
	// ID is the store's ID of the message (store.QuarantineAdmin), 0
	// when the store has none.
	ID          int64
	Key, Reason string
	// Raw is nil when no raw bytes were kept.
	Raw []byte
}

// InboundHarness describes a store.Inbound.
type InboundHarness struct {
	// New returns an empty store; the harness closes it when t ends.
	New func(t *testing.T) store.Inbound
	// Quarantined lists a mailbox's quarantined messages, oldest first
	// (each store has its own listing API).
	Quarantined func(t *testing.T, s store.Inbound, mb mailbox.ID) []Quarantined
}

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// imapCP is the checkpoint the engine writes for an IMAP position: the
// cursor with its two numbers.
func imapCP(v, uid uint32) store.Checkpoint {
	return store.Checkpoint{Cursor: store.Cursor(fmt.Sprintf("imap/1:%d:%d", v, uid)), UIDValidity: v, LastUID: uid}
}

// graphCursor is a Microsoft Graph delta link of more than 2,000
// characters, with the ids of the page handled so far, and every character
// a careless store would mangle (quotes, backslashes, percent signs,
// semicolons, non-ASCII, a NUL-free control character).
func graphCursor(n int) store.Cursor {
	var b strings.Builder
	b.WriteString("graph/1:https://graph.microsoft.com/v1.0/users('desk%40example.com')/mailFolders('inbox')/messages/delta?$deltatoken=")
	for b.Len() < 2100 {
		fmt.Fprintf(&b, "AAMkAGI2TG93AAA=_%d-\\'\";%%20çãõ\t", b.Len())
	}
	fmt.Fprintf(&b, " ids=AAMkAGI2THVSAAA=,AAMkAGI2THVTAAA= page=%d", n)
	return store.Cursor(b.String())
}

// RunInbound runs the inbound store suite: checkpoints and their
// monotonicity, the cursors of every transport (a Microsoft Graph delta
// link of 2,000+ characters kept byte for byte, the zero cursor, a
// checkpoint with IMAP numbers only), handled keys scoped per mailbox and
// folder, fencing (of cursors too), quarantine with raw bytes, post-action
// receipts, group commits (store.BatchCommitter), concurrent commits.
func RunInbound(t *testing.T, h InboundHarness) {
	ctx := context.Background()
	rec := func(mb mailbox.ID, key string, v, uid uint32, fence int64) store.InboundRecord {
		return store.InboundRecord{Mailbox: mb, Folder: "INBOX", Key: key, Checkpoint: imapCP(v, uid), Outcome: store.Handled, At: t0, Fence: fence}
	}
	cpOf := func(t *testing.T, s store.Inbound, mb mailbox.ID, folder string) (store.Checkpoint, bool) {
		t.Helper()
		cp, ok, err := s.Checkpoint(ctx, mb, folder)
		if err != nil {
			t.Fatal(err)
		}
		return cp, ok
	}
	done := func(t *testing.T, s store.Inbound, mb mailbox.ID, key string) bool {
		t.Helper()
		d, err := s.Done(ctx, mb, key)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	t.Run("CheckpointAndKeys", func(t *testing.T) {
		s := h.New(t)
		if _, ok := cpOf(t, s, "m1", "INBOX"); ok {
			t.Fatal("empty store has a checkpoint")
		}
		if err := s.Commit(ctx, rec("m1", "k1", 7, 10, 0)); err != nil {
			t.Fatal(err)
		}
		if cp, ok := cpOf(t, s, "m1", "INBOX"); !ok || cp != imapCP(7, 10) {
			t.Fatalf("checkpoint %+v %v", cp, ok)
		}
		if _, ok := cpOf(t, s, "m1", "Archive"); ok {
			t.Fatal("checkpoints leak across folders")
		}
		if _, ok := cpOf(t, s, "m2", "INBOX"); ok {
			t.Fatal("checkpoints leak across mailboxes")
		}
		if !done(t, s, "m1", "k1") || done(t, s, "m2", "k1") || done(t, s, "m1", "k2") {
			t.Fatal("keys are not scoped per mailbox")
		}
		// The same key in another mailbox is another message.
		if err := s.Commit(ctx, rec("m2", "k1", 3, 1, 0)); err != nil {
			t.Fatal(err)
		}
		if !done(t, s, "m2", "k1") {
			t.Fatal("key of the second mailbox not recorded")
		}
		// Committing a key again is harmless.
		if err := s.Commit(ctx, rec("m1", "k1", 7, 10, 0)); err != nil {
			t.Fatalf("repeated commit: %v", err)
		}
	})

	t.Run("DoneKeys", func(t *testing.T) {
		s := h.New(t)
		db, ok := s.(store.DoneBatcher)
		if !ok {
			t.Skip("store has no DoneBatcher")
		}
		if err := s.Commit(ctx, rec("m1", "k1", 7, 10, 0)); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, rec("m1", "k3", 7, 11, 0)); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, rec("m2", "k2", 7, 11, 0)); err != nil {
			t.Fatal(err)
		}
		keys := []string{"k1", "k2", "k3", "k1", "k4"}
		// More keys than one statement takes.
		for i := range 450 {
			keys = append(keys, fmt.Sprintf("x%d", i))
		}
		keys = append(keys, "k3")
		got, err := db.DoneKeys(ctx, "m1", keys)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(keys) {
			t.Fatalf("%d answers for %d keys", len(got), len(keys))
		}
		for i, k := range keys {
			if want := done(t, s, "m1", k); got[i] != want {
				t.Fatalf("DoneKeys[%d] (%s) = %v, Done says %v", i, k, got[i], want)
			}
		}
		if !got[0] || got[1] || !got[2] || !got[3] || got[4] || !got[len(got)-1] {
			t.Fatalf("DoneKeys = %v", got[:5])
		}
		if got, err := db.DoneKeys(ctx, "m1", nil); err != nil || len(got) != 0 {
			t.Fatalf("no keys: %v %v", got, err)
		}
	})

	t.Run("CheckpointMonotonic", func(t *testing.T) {
		s := h.New(t)
		for uid := uint32(1); uid <= 5; uid++ {
			if err := s.Commit(ctx, rec("m", fmt.Sprint("k", uid), 7, uid, 0)); err != nil {
				t.Fatal(err)
			}
			if cp, _ := cpOf(t, s, "m", "INBOX"); cp.LastUID != uid {
				t.Fatalf("after uid %d checkpoint %+v", uid, cp)
			}
		}
		// A late commit of an older UID records its key, never rewinds
		// (nor does the cursor).
		if err := s.Commit(ctx, rec("m", "late", 7, 2, 0)); err != nil {
			t.Fatal(err)
		}
		if cp, _ := cpOf(t, s, "m", "INBOX"); cp != imapCP(7, 5) || !done(t, s, "m", "late") {
			t.Fatalf("late commit moved the checkpoint back: %+v", cp)
		}
		// A UIDVALIDITY change starts over; Since is kept as written.
		since := t0.Add(-90 * time.Minute)
		restart := imapCP(8, 0)
		restart.Since = since
		if err := s.SetCheckpoint(ctx, "m", "INBOX", restart, 0); err != nil {
			t.Fatal(err)
		}
		if cp, _ := cpOf(t, s, "m", "INBOX"); cp.Cursor != restart.Cursor || cp.UIDValidity != 8 || cp.LastUID != 0 || !cp.Since.Equal(since) {
			t.Fatalf("new UIDVALIDITY: %+v", cp)
		}
		r := rec("m", "k1-new", 8, 1, 0)
		r.Checkpoint.Since = since
		if err := s.Commit(ctx, r); err != nil {
			t.Fatal(err)
		}
		if cp, _ := cpOf(t, s, "m", "INBOX"); cp.Cursor != imapCP(8, 1).Cursor || cp.UIDValidity != 8 || cp.LastUID != 1 || !cp.Since.Equal(since) {
			t.Fatalf("after the change: %+v", cp)
		}
		if !done(t, s, "m", "k3") {
			t.Fatal("keys of the old UIDVALIDITY forgotten (they are what stops a second hand-off)")
		}
	})

	t.Run("Fencing", func(t *testing.T) {
		s := h.New(t)
		if err := s.Commit(ctx, rec("m", "a", 1, 1, 5)); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, rec("m", "b", 1, 2, 3)); !errors.Is(err, store.ErrFenced) {
			t.Fatalf("stale commit: %v", err)
		}
		if done(t, s, "m", "b") {
			t.Fatal("a fenced commit recorded its key")
		}
		if cp, _ := cpOf(t, s, "m", "INBOX"); cp != imapCP(1, 1) {
			t.Fatalf("a fenced commit moved the checkpoint: %+v", cp)
		}
		if err := s.SetCheckpoint(ctx, "m", "INBOX", imapCP(1, 9), 4); !errors.Is(err, store.ErrFenced) {
			t.Fatalf("stale SetCheckpoint: %v", err)
		}
		if cp, _ := cpOf(t, s, "m", "INBOX"); cp != imapCP(1, 1) {
			t.Fatalf("a fenced SetCheckpoint moved the checkpoint: %+v", cp)
		}
		q := store.QuarantineItem{Mailbox: "m", Folder: "INBOX", Key: "q", UIDValidity: 1, UID: 3, Reason: "bad", At: t0, Fence: 2}
		if err := s.Quarantine(ctx, q, strings.NewReader("raw")); !errors.Is(err, store.ErrFenced) {
			t.Fatalf("stale Quarantine: %v", err)
		}
		if h.Quarantined != nil && len(h.Quarantined(t, s, "m")) != 0 {
			t.Fatal("a fenced quarantine was kept")
		}
		// The new owner's higher token works; tokens are per mailbox.
		if err := s.Commit(ctx, rec("m", "c", 1, 3, 6)); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, rec("m", "d", 1, 4, 5)); !errors.Is(err, store.ErrFenced) {
			t.Fatalf("old owner after takeover: %v", err)
		}
		if err := s.Commit(ctx, rec("other", "a", 1, 1, 1)); err != nil {
			t.Fatalf("fence leaked across mailboxes: %v", err)
		}
	})

	t.Run("Cursors", func(t *testing.T) {
		s := h.New(t)
		same := func(a, b store.Checkpoint) bool {
			return a.Cursor == b.Cursor && a.UIDValidity == b.UIDValidity && a.LastUID == b.LastUID && a.Since.Equal(b.Since)
		}
		// Another transport's cursor, long and full of odd characters,
		// round-trips byte for byte, with Since.
		since := t0.Add(-time.Hour)
		want := store.Checkpoint{Cursor: graphCursor(1), Since: since}
		if len(want.Cursor) < 2000 {
			t.Fatalf("test cursor of %d characters", len(want.Cursor))
		}
		if err := s.SetCheckpoint(ctx, "g", "INBOX", want, 0); err != nil {
			t.Fatal(err)
		}
		if cp, ok := cpOf(t, s, "g", "INBOX"); !ok || !same(cp, want) {
			t.Fatalf("cursor of %d characters came back as %d, beginning %.80q (Since %v)", len(want.Cursor), len(cp.Cursor), string(cp.Cursor), cp.Since)
		}
		// Commits of a cursor without IMAP numbers replace it, in order.
		for i := 2; i <= 4; i++ {
			next := store.Checkpoint{Cursor: graphCursor(i), Since: since}
			r := store.InboundRecord{Mailbox: "g", Folder: "INBOX", Key: fmt.Sprint("g", i), Checkpoint: next, Outcome: store.Handled, At: t0}
			if err := s.Commit(ctx, r); err != nil {
				t.Fatal(err)
			}
			if cp, _ := cpOf(t, s, "g", "INBOX"); !same(cp, next) || !done(t, s, "g", r.Key) {
				t.Fatalf("after commit %d the cursor (%d characters) ends %q", i, len(cp.Cursor), cp.Cursor[max(len(cp.Cursor)-20, 0):])
			}
		}
		// Short cursors too, per folder and per mailbox.
		delta := store.Checkpoint{Cursor: "fake/1:delta-7"}
		if err := s.SetCheckpoint(ctx, "g", "Archive", delta, 0); err != nil {
			t.Fatal(err)
		}
		if cp, _ := cpOf(t, s, "g", "Archive"); !same(cp, delta) {
			t.Fatalf("Archive %+v", cp)
		}
		if cp, _ := cpOf(t, s, "g", "INBOX"); !same(cp, store.Checkpoint{Cursor: graphCursor(4), Since: since}) {
			t.Fatal("a folder's cursor overwrote another's")
		}
		if _, ok := cpOf(t, s, "g2", "INBOX"); ok {
			t.Fatal("cursors leak across mailboxes")
		}
		// The zero cursor (pushed mail has none) is a checkpoint too.
		if err := s.SetCheckpoint(ctx, "p", "INBOX", store.Checkpoint{}, 0); err != nil {
			t.Fatal(err)
		}
		if cp, ok := cpOf(t, s, "p", "INBOX"); !ok || cp != (store.Checkpoint{}) {
			t.Fatalf("zero checkpoint %+v %v", cp, ok)
		}
		// A checkpoint as it was written before cursors (the two IMAP
		// numbers only) comes back as written: the engine reads it as the
		// IMAP cursor it is.
		legacy := store.Checkpoint{UIDValidity: 9, LastUID: 4}
		if err := s.SetCheckpoint(ctx, "l", "INBOX", legacy, 0); err != nil {
			t.Fatal(err)
		}
		if cp, _ := cpOf(t, s, "l", "INBOX"); cp != legacy {
			t.Fatalf("numbers-only checkpoint %+v", cp)
		}
		// A mailbox whose transport changed: the new transport's cursor
		// (no IMAP numbers) replaces the IMAP checkpoint on commit.
		if err := s.Commit(ctx, rec("x", "i", 7, 50, 0)); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, store.InboundRecord{Mailbox: "x", Folder: "INBOX", Key: "f", Checkpoint: delta, Outcome: store.Handled, At: t0}); err != nil {
			t.Fatal(err)
		}
		if cp, _ := cpOf(t, s, "x", "INBOX"); cp != delta {
			t.Fatalf("after a change of transport %+v", cp)
		}
	})

	t.Run("CursorFencing", func(t *testing.T) {
		s := h.New(t)
		a := store.Checkpoint{Cursor: graphCursor(1)}
		if err := s.Commit(ctx, store.InboundRecord{Mailbox: "m", Folder: "INBOX", Key: "a", Checkpoint: a, Outcome: store.Handled, At: t0, Fence: 5}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetCheckpoint(ctx, "m", "INBOX", store.Checkpoint{Cursor: "fake/1:delta-stale"}, 4); !errors.Is(err, store.ErrFenced) {
			t.Fatalf("stale SetCheckpoint: %v", err)
		}
		if err := s.Commit(ctx, store.InboundRecord{Mailbox: "m", Folder: "INBOX", Key: "b", Checkpoint: store.Checkpoint{Cursor: graphCursor(2)}, Outcome: store.Handled, At: t0, Fence: 3}); !errors.Is(err, store.ErrFenced) {
			t.Fatalf("stale Commit: %v", err)
		}
		if cp, _ := cpOf(t, s, "m", "INBOX"); cp != a || done(t, s, "m", "b") {
			t.Fatalf("a fenced write moved the cursor (%d characters) or recorded its key", len(cp.Cursor))
		}
		// The same token and a higher one write.
		if err := s.SetCheckpoint(ctx, "m", "INBOX", store.Checkpoint{Cursor: "fake/1:delta-5"}, 5); err != nil {
			t.Fatal(err)
		}
		if err := s.SetCheckpoint(ctx, "m", "INBOX", store.Checkpoint{Cursor: "fake/1:delta-6"}, 6); err != nil {
			t.Fatal(err)
		}
		if cp, _ := cpOf(t, s, "m", "INBOX"); cp.Cursor != "fake/1:delta-6" {
			t.Fatalf("cursor %q", cp.Cursor)
		}
		if err := s.SetCheckpoint(ctx, "m", "INBOX", store.Checkpoint{Cursor: "fake/1:delta-old-owner"}, 5); !errors.Is(err, store.ErrFenced) {
			t.Fatalf("old owner after takeover: %v", err)
		}
	})

	t.Run("Quarantine", func(t *testing.T) {
		if h.Quarantined == nil {
			t.Skip("no listing")
		}
		s := h.New(t)
		raw := bytes.Repeat([]byte("From: x\r\n\r\nbody\x00\xff"), 100)
		q := store.QuarantineItem{Mailbox: "m", Folder: "INBOX", Key: "q1", UIDValidity: 1, UID: 4, Size: int64(len(raw)), Reason: "unreadable: bad header", At: t0}
		if err := s.Quarantine(ctx, q, bytes.NewReader(raw)); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, store.InboundRecord{Mailbox: "m", Folder: "INBOX", Key: "q1", Checkpoint: store.Checkpoint{UIDValidity: 1, LastUID: 4}, Outcome: store.Quarantined, At: t0}); err != nil {
			t.Fatal(err)
		}
		q2 := q
		q2.Key, q2.UID, q2.Reason = "q2", 5, "message too large"
		if err := s.Quarantine(ctx, q2, nil); err != nil {
			t.Fatal(err)
		}
		got := h.Quarantined(t, s, "m")
		if len(got) != 2 || got[0].Key != "q1" || got[0].Reason != q.Reason || !bytes.Equal(got[0].Raw, raw) || got[1].Key != "q2" || got[1].Raw != nil {
			t.Fatalf("quarantined %+v", got)
		}
		if len(h.Quarantined(t, s, "other")) != 0 {
			t.Fatal("quarantine leaks across mailboxes")
		}
		if !done(t, s, "m", "q1") {
			t.Fatal("quarantined message not committed")
		}
		admin, ok := s.(store.QuarantineAdmin)
		if !ok || got[0].ID == 0 {
			return
		}
		// The administrator's side: one message by ID, then deleted.
		it, b, err := admin.QuarantinedItem(ctx, got[0].ID)
		if err != nil || it.Key != "q1" || it.Mailbox != "m" || it.Reason != q.Reason || it.UID != 4 || !bytes.Equal(b, raw) {
			t.Fatalf("item %+v %v", it, err)
		}
		if _, b, err := admin.QuarantinedItem(ctx, got[1].ID); err != nil || b != nil {
			t.Fatalf("item without raw: %v %v", b != nil, err)
		}
		if err := admin.DeleteQuarantined(ctx, got[0].ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := admin.QuarantinedItem(ctx, got[0].ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted item: %v", err)
		}
		if err := admin.DeleteQuarantined(ctx, got[0].ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted twice: %v", err)
		}
		if left := h.Quarantined(t, s, "m"); len(left) != 1 || left[0].Key != "q2" {
			t.Fatalf("left %+v", left)
		}
		if !done(t, s, "m", "q1") {
			t.Fatal("deleting from quarantine forgot the key")
		}
	})

	t.Run("Receipts", func(t *testing.T) {
		s := h.New(t)
		receipts := func(t *testing.T, mb mailbox.ID, folder string) []store.Receipt {
			t.Helper()
			rs, err := s.Receipts(ctx, mb, folder)
			if err != nil {
				t.Fatal(err)
			}
			return rs
		}
		if rs := receipts(t, "m", "INBOX"); len(rs) != 0 {
			t.Fatalf("empty store has receipts %+v", rs)
		}
		withReceipt := func(mb mailbox.ID, key string, uid uint32, fence int64, a mailbox.PostAction, target string) store.InboundRecord {
			r := rec(mb, key, 7, uid, fence)
			r.Receipt = &store.Receipt{Key: "ignored: the record's key wins", ItemID: fmt.Sprint(uid), UIDValidity: 7, Action: a, Folder: target}
			return r
		}
		for i, r := range []store.InboundRecord{
			withReceipt("m", "k3", 3, 0, mailbox.PostMove, "Done"),
			withReceipt("m", "k1", 1, 0, mailbox.PostSeen, ""),
			rec("m", "k2", 7, 2, 0), // no post-action: no receipt
			withReceipt("m", "k4", 4, 0, mailbox.PostDelete, ""),
			withReceipt("other", "k1", 1, 0, mailbox.PostSeen, ""),
		} {
			if err := s.Commit(ctx, r); err != nil {
				t.Fatalf("commit %d: %v", i, err)
			}
		}
		want := []store.Receipt{
			{Key: "k3", ItemID: "3", UIDValidity: 7, Action: mailbox.PostMove, Folder: "Done"},
			{Key: "k1", ItemID: "1", UIDValidity: 7, Action: mailbox.PostSeen},
			{Key: "k4", ItemID: "4", UIDValidity: 7, Action: mailbox.PostDelete},
		}
		if got := receipts(t, "m", "INBOX"); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("receipts (in commit order)\n got %+v\nwant %+v", got, want)
		}
		if rs := receipts(t, "m", "Archive"); len(rs) != 0 {
			t.Fatalf("receipts leak across folders: %+v", rs)
		}
		if rs := receipts(t, "other", "INBOX"); len(rs) != 1 || rs[0].Key != "k1" {
			t.Fatalf("other mailbox's receipts %+v", rs)
		}
		// The key commits with its receipt or not at all.
		if err := s.SetCheckpoint(ctx, "m", "INBOX", store.Checkpoint{UIDValidity: 7, LastUID: 9}, 5); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, withReceipt("m", "stale", 10, 4, mailbox.PostSeen, "")); !errors.Is(err, store.ErrFenced) {
			t.Fatalf("stale commit: %v", err)
		}
		// Committing a key again keeps one receipt for it.
		if err := s.Commit(ctx, withReceipt("m", "k1", 1, 5, mailbox.PostSeen, "")); err != nil {
			t.Fatal(err)
		}
		got := receipts(t, "m", "INBOX")
		keys := make([]string, len(got))
		for i, r := range got {
			keys[i] = r.Key
		}
		if len(got) != 3 || !strings.Contains(" "+strings.Join(keys, " ")+" ", " k3 ") || strings.Count(strings.Join(keys, " "), "k1") != 1 {
			t.Fatalf("after a fenced commit and a repeat: %v", keys)
		}
		// Cleared receipts are gone, unknown keys are ignored, other
		// mailboxes are untouched.
		if err := s.ClearReceipts(ctx, "m", []string{"k1", "k3", "unknown"}); err != nil {
			t.Fatal(err)
		}
		if got := receipts(t, "m", "INBOX"); len(got) != 1 || got[0].Key != "k4" {
			t.Fatalf("after clear: %+v", got)
		}
		if err := s.ClearReceipts(ctx, "m", nil); err != nil {
			t.Fatalf("clear nothing: %v", err)
		}
		if rs := receipts(t, "other", "INBOX"); len(rs) != 1 {
			t.Fatalf("clear leaked across mailboxes: %+v", rs)
		}
		// Many keys at once.
		var many []string
		for i := range 1200 {
			k := fmt.Sprint("many", i)
			many = append(many, k)
			if err := s.Commit(ctx, withReceipt("bulk", k, uint32(i+1), 0, mailbox.PostSeen, "")); err != nil {
				t.Fatal(err)
			}
		}
		if rs := receipts(t, "bulk", "INBOX"); len(rs) != 1200 || rs[0].Key != "many0" || rs[1199].Key != "many1199" {
			t.Fatalf("bulk receipts: %d", len(rs))
		}
		if err := s.ClearReceipts(ctx, "bulk", many); err != nil {
			t.Fatal(err)
		}
		if rs := receipts(t, "bulk", "INBOX"); len(rs) != 0 {
			t.Fatalf("%d bulk receipts left", len(rs))
		}
		if !done(t, s, "m", "k1") || !done(t, s, "bulk", "many7") {
			t.Fatal("clearing a receipt forgot its key")
		}
	})

	t.Run("CommitBatch", func(t *testing.T) {
		s := h.New(t)
		bc, ok := s.(store.BatchCommitter)
		if !ok {
			t.Skip("the store has no CommitBatch (the engine commits one by one)")
		}
		if err := bc.CommitBatch(ctx, nil); err != nil {
			t.Fatalf("empty batch: %v", err)
		}
		withReceipt := func(mb mailbox.ID, key string, uid uint32, fence int64, a mailbox.PostAction) store.InboundRecord {
			r := rec(mb, key, 7, uid, fence)
			r.Receipt = &store.Receipt{ItemID: fmt.Sprint(uid), UIDValidity: 7, Action: a}
			return r
		}
		var batch []store.InboundRecord
		for i := range 450 { // more than one multi-row statement
			batch = append(batch, withReceipt("m", fmt.Sprint("b", i), uint32(i+1), 2, mailbox.PostSeen))
		}
		batch = append(batch, rec("m", "plain", 7, 451, 2))                     // no receipt
		batch = append(batch, withReceipt("m", "b3", 452, 2, mailbox.PostMove)) // a key twice: the last receipt wins
		other := rec("other", "b0", 7, 3, 0)
		other.Folder = "Archive"
		batch = append(batch, other)
		if err := bc.CommitBatch(ctx, batch); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"b0", "b449", "plain", "b3"} {
			if !done(t, s, "m", k) {
				t.Fatalf("key %s not committed", k)
			}
		}
		if !done(t, s, "other", "b0") || done(t, s, "other", "b1") {
			t.Fatal("keys not scoped per mailbox in a batch")
		}
		if cp, _ := cpOf(t, s, "m", "INBOX"); cp.UIDValidity != 7 || cp.LastUID != 452 {
			t.Fatalf("checkpoint after the batch %+v, want the last record's", cp)
		}
		if cp, ok := cpOf(t, s, "other", "Archive"); !ok || cp.LastUID != 3 {
			t.Fatalf("other folder's checkpoint %+v %v", cp, ok)
		}
		rs, err := s.Receipts(ctx, "m", "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 450 {
			t.Fatalf("%d receipts, want 450 (one per key)", len(rs))
		}
		for _, r := range rs {
			if r.Key == "b3" && (r.Action != mailbox.PostMove || r.ItemID != "452") {
				t.Fatalf("key twice in a batch kept %+v, want its last receipt", r)
			}
		}
		// Never back: a batch ending below the checkpoint leaves it.
		if err := bc.CommitBatch(ctx, []store.InboundRecord{rec("m", "late", 7, 10, 2)}); err != nil {
			t.Fatal(err)
		}
		if cp, _ := cpOf(t, s, "m", "INBOX"); cp.LastUID != 452 {
			t.Fatalf("a batch moved the checkpoint back: %+v", cp)
		}
		// All or nothing: a stale token in the batch writes none of it.
		if err := s.SetCheckpoint(ctx, "m", "INBOX", imapCP(7, 460), 5); err != nil {
			t.Fatal(err)
		}
		err = bc.CommitBatch(ctx, []store.InboundRecord{rec("other", "fresh", 7, 4, 0), rec("m", "stale1", 7, 470, 5), rec("m", "stale2", 7, 471, 4)})
		if !errors.Is(err, store.ErrFenced) {
			t.Fatalf("batch with a stale token: %v, want ErrFenced", err)
		}
		if done(t, s, "other", "fresh") || done(t, s, "m", "stale1") || done(t, s, "m", "stale2") {
			t.Fatal("a fenced batch wrote some of its records")
		}
		if cp, _ := cpOf(t, s, "m", "INBOX"); cp.LastUID != 460 {
			t.Fatalf("a fenced batch moved the checkpoint: %+v", cp)
		}
		if err := bc.CommitBatch(ctx, []store.InboundRecord{{Mailbox: "m", Folder: "INBOX", Checkpoint: imapCP(7, 480), Fence: 5}}); err == nil {
			t.Fatal("a batch with an empty key was accepted")
		}
	})

	t.Run("ConcurrentCommits", func(t *testing.T) {
		s := h.New(t)
		const workers, per = 8, 25
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				mb := mailbox.ID(fmt.Sprint("m", w%4))
				for i := range per {
					if err := s.Commit(ctx, rec(mb, fmt.Sprintf("w%d-%d", w, i), 1, uint32(i+1), 0)); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for w := range workers {
			mb := mailbox.ID(fmt.Sprint("m", w%4))
			for i := range per {
				if !done(t, s, mb, fmt.Sprintf("w%d-%d", w, i)) {
					t.Fatalf("lost key w%d-%d", w, i)
				}
			}
			if cp, _ := cpOf(t, s, mb, "INBOX"); cp.LastUID != per {
				t.Fatalf("%s checkpoint %+v", mb, cp)
			}
		}
	})
}
