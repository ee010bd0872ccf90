package inbound

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/imap"
)

// TestCursorCheckpointRoundTrip: every transport's cursor goes into a
// checkpoint and comes back untouched; an IMAP cursor also fills the two
// numbers the stores order commits by.
func TestCursorCheckpointRoundTrip(t *testing.T) {
	since := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	graph := transport.MakeCursor("graph", 1, "https://graph.microsoft.com/v1.0/me/mailFolders('inbox')/messages/delta?$deltatoken="+strings.Repeat("Zx9_", 600))
	for _, tc := range []struct {
		c      transport.Cursor
		v, uid uint32
	}{
		{imap.Cursor(7, 42), 7, 42},
		{imap.Cursor(4294967295, 4294967295), 4294967295, 4294967295},
		{transport.MakeCursor("fake", 1, "delta-3"), 0, 0},
		{graph, 0, 0},
		{transport.MakeCursor("pop3", 1, "UIDL-a UIDL-b"), 0, 0},
		{transport.MakeCursor("gmail", 1, "918273"), 0, 0},
		{transport.MakeCursor("imap", 2, "a future encoding"), 0, 0}, // kept, unordered
		{"", 0, 0}, // pushed mail: none
	} {
		cp, err := checkpointOf(tc.c, since)
		if err != nil {
			t.Fatalf("%.40q: %v", string(tc.c), err)
		}
		if cp.Cursor != store.Cursor(tc.c) || cp.UIDValidity != tc.v || cp.LastUID != tc.uid || !cp.Since.Equal(since) {
			t.Fatalf("%.40q: checkpoint %+v", string(tc.c), cp)
		}
		if got := cursorOf(cp); got != tc.c {
			t.Fatalf("%.40q came back as %.40q", string(tc.c), string(got))
		}
	}
}

// TestCursorOfStoredBeforeCursors: a checkpoint with the IMAP numbers and
// no cursor (stored before cursors existed) is the IMAP cursor it is; one
// with neither is the zero cursor.
func TestCursorOfStoredBeforeCursors(t *testing.T) {
	if got := cursorOf(store.Checkpoint{UIDValidity: 9, LastUID: 4}); got != imap.Cursor(9, 4) {
		t.Fatalf("legacy checkpoint read as %q", got)
	}
	if got := cursorOf(store.Checkpoint{UIDValidity: 9}); got != imap.Cursor(9, 0) {
		t.Fatalf("legacy checkpoint at the start read as %q", got)
	}
	if got := cursorOf(store.Checkpoint{}); !got.IsZero() {
		t.Fatalf("zero checkpoint read as %q", got)
	}
	// The stored cursor wins over the numbers.
	if got := cursorOf(store.Checkpoint{Cursor: "fake/1:delta-1", UIDValidity: 9, LastUID: 4}); got != "fake/1:delta-1" {
		t.Fatalf("cursor ignored: %q", got)
	}
}

// TestCheckpointOfRefusesBadCursor: a cursor that does not decode is
// refused before anything is committed with it.
func TestCheckpointOfRefusesBadCursor(t *testing.T) {
	for _, c := range []transport.Cursor{"no prefix", "imap/x:1:2", "imap/1:seven:42", "/1:x"} {
		_, err := checkpointOf(c, time.Time{})
		var te *transport.Error
		if !errors.Is(err, transport.ErrCursor) || !errors.As(err, &te) || te.Class != transport.Permanent {
			t.Fatalf("%q: %v", c, err)
		}
	}
}
