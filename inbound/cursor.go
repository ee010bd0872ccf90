package inbound

import (
	"time"

	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/imap"
)

// The engine keeps a source's cursor (transport.Cursor) in the store's
// store.Checkpoint, untouched, whatever the transport. An IMAP cursor also
// fills the checkpoint's UIDVALIDITY and UID, which order commits in the
// store and locate records. A checkpoint stored before cursors existed
// holds only those two numbers: it is read as the IMAP cursor it is (the
// SQL stores' migration also filled their cursor column from them).

// cursorOf returns the cursor a stored checkpoint holds.
func cursorOf(cp store.Checkpoint) transport.Cursor {
	if cp.Cursor != "" {
		return transport.Cursor(cp.Cursor)
	}
	if cp.UIDValidity != 0 { // stored before cursors: an IMAP position
		return imap.Cursor(cp.UIDValidity, imap.UID(cp.LastUID))
	}
	return ""
}

// checkpointOf returns the checkpoint that stores c: the cursor itself,
// with its UIDVALIDITY and UID when it is an IMAP cursor. A cursor that
// does not decode (a transport's bug) is refused with an error wrapping
// transport.ErrCursor, before anything is committed with it.
func checkpointOf(c transport.Cursor, since time.Time) (store.Checkpoint, error) {
	kind, version, _, err := c.Parse()
	if err == nil && kind == "imap" && version == imap.CursorVersion {
		var v uint32
		var uid imap.UID
		if v, uid, err = imap.ParseCursor(c); err == nil {
			return store.Checkpoint{Cursor: store.Cursor(c), UIDValidity: v, LastUID: uint32(uid), Since: since}, nil
		}
	}
	if err != nil {
		return store.Checkpoint{}, &transport.Error{Class: transport.Permanent, Op: "checkpoint", Err: err,
			Hint: "the transport listed a position it cannot encode; report it to the transport's author"}
	}
	return store.Checkpoint{Cursor: store.Cursor(c), Since: since}, nil
}
