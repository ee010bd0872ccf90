package inbound

import (
	"errors"
	"fmt"
	"time"

	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/imap"
)

// The engine keeps a source's cursor (transport.Cursor) in the store's
// store.Checkpoint. Stores keep a checkpoint as a UIDVALIDITY and a UID, the
// two numbers of an IMAP cursor, which maps onto them exactly: every
// checkpoint stored before cursors existed is read as the IMAP cursor it
// is, with nothing to migrate. A cursor of another transport needs the
// cursor column the store contracts gain next (issue 11, item 3): until
// then checkpointOf refuses it with ErrCursorNotStored, and these two
// functions are the only place that changes.

// ErrCursorNotStored is returned for a cursor the store's checkpoint
// cannot hold yet (a transport other than IMAP).
var ErrCursorNotStored = errors.New("inbound: the store cannot keep this transport's cursor")

// cursorOf returns the cursor a stored checkpoint holds.
func cursorOf(cp store.Checkpoint) transport.Cursor {
	return imap.Cursor(cp.UIDValidity, imap.UID(cp.LastUID))
}

// checkpointOf returns the checkpoint that stores c.
func checkpointOf(c transport.Cursor, since time.Time) (store.Checkpoint, error) {
	v, uid, err := imap.ParseCursor(c)
	if err != nil {
		return store.Checkpoint{}, &transport.Error{Class: transport.Permanent, Op: "checkpoint", Err: fmt.Errorf("%w: %w", ErrCursorNotStored, err),
			Hint: "this store keeps IMAP checkpoints only"}
	}
	return store.Checkpoint{UIDValidity: v, LastUID: uint32(uid), Since: since}, nil
}
