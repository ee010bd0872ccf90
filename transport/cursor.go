package transport

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Cursor is a position in a mailbox's stream of messages: every message
// before it was handled, none after it. The transport encodes it and the
// engine stores it untouched next to the keys of handled messages, so a
// mailbox resumes where it stopped after a reconnect, a restart or a
// crash. It is opaque to the engine and versioned by the transport:
//
//	<kind>/<version>:<payload>
//
// The zero Cursor is the start of a mailbox that was never read. The
// payloads of the transports correio has or plans:
//
//	imap/1:<uidvalidity>:<uid>        the last UID handled under a UIDVALIDITY
//	pop3/1:u:<uidl> <uidl> ...        the UIDLs handled that are still on the server
//	                                  (pop3/1:h:... content hashes without UIDL)
//	graph/1:<delta link or next link> a delta query's link, with the ids of the
//	                                  page handled so far
//	gmail/1:<historyId>[+<id>.<id>]   users.history.list's startHistoryId (and the
//	                                  messages of the next record passed)
//	gmail/1:<historyId>~[<id>]        a full listing of the label, then history
//	(pushed mail has none: the zero Cursor)
//
// A transport that changes its encoding bumps the version and keeps
// decoding the older ones.
type Cursor string

// ErrCursor is wrapped by the errors of a cursor that cannot be decoded.
var ErrCursor = errors.New("transport: invalid cursor")

// MakeCursor encodes a cursor of transport kind at version.
func MakeCursor(kind string, version int, payload string) Cursor {
	return Cursor(kind + "/" + strconv.Itoa(version) + ":" + payload)
}

// Parse splits c into the transport kind, the version and the payload. The
// zero Cursor parses to empty values and no error.
func (c Cursor) Parse() (kind string, version int, payload string, err error) {
	if c == "" {
		return "", 0, "", nil
	}
	head, payload, ok := strings.Cut(string(c), ":")
	k, v, ok2 := strings.Cut(head, "/")
	if !ok || !ok2 || k == "" {
		return "", 0, "", fmt.Errorf("%w: %q has no kind/version prefix", ErrCursor, string(c))
	}
	version, err = strconv.Atoi(v)
	if err != nil || version < 1 {
		return "", 0, "", fmt.Errorf("%w: %q has a bad version", ErrCursor, string(c))
	}
	return k, version, payload, nil
}

// IsZero reports whether c is the start of a never-read mailbox.
func (c Cursor) IsZero() bool { return c == "" }
