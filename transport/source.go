package transport

import (
	"context"
	"errors"
	"time"

	"github.com/correio-dev/correio/mailbox"
)

// Source is an inbound transport: it opens sessions that read a mailbox
// (transport/imap; later POP3, Microsoft Graph, the Gmail API). One Source
// serves any number of mailboxes and is safe for concurrent use.
//
// The engine (package inbound) drives a session in this order:
//
//	s, _ := src.Open(ctx, m)              // connect, log in, open the folder
//	from, reset, _ := s.Resume(ctx, cur, startNew)
//	for {
//		items, _ := s.List(ctx, from)     // what is new since the cursor
//		s.Fetch(ctx, items, handOff)      // each one spooled, streamed
//		s.Apply(ctx, action, handledIDs)  // seen / move / delete, after commit
//		s.Wait(ctx, timer)                // IDLE where offered, else the timer
//	}
//	s.Close(ctx)
//
// A host wraps a Source (tracing, its own limits, a recording fake) by
// implementing this interface around another one.
type Source interface {
	// Open connects m's server, authenticates and opens the mailbox's
	// folder. Every error is a *Error of one of the classes.
	Open(ctx context.Context, m *mailbox.Mailbox) (Session, error)
	// PostActions lists the post-actions the transport can apply (IMAP:
	// all four; POP3: delete and keep). PostKeep is always among them.
	PostActions() []mailbox.PostAction
}

// Session is one open connection to one mailbox. One goroutine drives it,
// except Fetch, which may run while the same goroutine's Apply of an
// earlier batch runs (the engine fetches ahead): an implementation that
// cannot do both at once serialises them.
type Session interface {
	// Resume checks a stored cursor against the mailbox as it is now and
	// returns the cursor to list from: cur itself, or the start of the
	// mailbox when cur no longer applies (IMAP: UIDVALIDITY changed; Graph:
	// the delta token expired; Gmail: the historyId is too old), with reset
	// true. The zero cursor (never read) gives the start, or, with latest,
	// the position after every message now in the mailbox (a mailbox that
	// starts from new mail). After a reset the engine reads the mailbox
	// again; the keys of handled messages keep it from handing any twice.
	Resume(ctx context.Context, cur Cursor, latest bool) (from Cursor, reset bool, err error)
	// List returns the messages after cur, oldest first, each with the
	// cursor that passes it. It does not fetch them. When the server
	// invalidated cur during the session, List fails with an error
	// wrapping ErrCursor; the engine opens a new session, whose Resume
	// resets.
	List(ctx context.Context, cur Cursor) ([]Item, error)
	// Fetch streams items into spools (NewSpool), calling fn with each as
	// soon as it is complete, in any order; fn owns the spool and must not
	// block for long. A message the server no longer has is skipped. A
	// spool handed to fn is complete even when Fetch later fails (a
	// connection broken mid-fetch loses nothing: the engine commits only
	// what it was handed, and lists the rest again).
	Fetch(ctx context.Context, items []Item, fn func(*Spool)) error
	// Apply applies a post-action to the messages of ids (Item.ID) of this
	// session or of an earlier one whose cursor Resume did not reset.
	// Applying it twice is harmless. An action the transport does not offer
	// fails with ErrUnsupported.
	Apply(ctx context.Context, a Action, ids []string) error
	// Push reports whether Wait wakes when new mail arrives (IMAP IDLE,
	// Graph or Gmail notifications); without push the engine polls.
	Push() bool
	// Wait returns when new mail may have arrived (push), when wake fires
	// (the engine's poll interval, or the renewal of a push), or when ctx
	// ends (nil). An error means the session is broken.
	Wait(ctx context.Context, wake <-chan time.Time) error
	// Close ends the session: politely (LOGOUT) while ctx lives, at once
	// when ctx is done.
	Close(ctx context.Context) error
}

// Item is one message List found.
type Item struct {
	// ID names the message for Fetch and Apply: the transport's own id
	// (IMAP: the UID; POP3: the UIDL; Graph and Gmail: the message id).
	ID string
	// Cursor is the position after this message: stored with the
	// message's key once it is handled, it keeps the message from being
	// listed again.
	Cursor Cursor
	// Size in bytes as the server announces it (0 when unknown).
	Size int64
	// Date is when the server received the message (zero when unknown).
	Date time.Time
	// Seen is true when the message is marked read on the server.
	Seen bool
	// UIDValidity and UID locate an IMAP message (zero for other
	// transports); the engine passes them to the host's Delivery.
	UIDValidity, UID uint32
}

// Action is a post-action: what happens to a message on the server once the
// host handled it and the engine recorded it.
type Action struct {
	Kind mailbox.PostAction
	// Folder is the target of PostMove.
	Folder string
}

// ErrUnsupported is wrapped by errors of a post-action or setting the
// transport does not offer.
var ErrUnsupported = errors.New("transport: not supported by this transport")

// Supports reports whether actions, as a Source's PostActions returns them,
// contain a.
func Supports(actions []mailbox.PostAction, a mailbox.PostAction) bool {
	if a == mailbox.PostKeep {
		return true
	}
	for _, x := range actions {
		if x == a {
			return true
		}
	}
	return false
}

// Checker validates and probes a transport's own settings of a mailbox.
// Every transport of correio implements it beside Source or Sender.
type Checker interface {
	// Validate checks the settings the transport reads and returns nil or a
	// *mailbox.ValidationError (field errors with stable paths and codes).
	// It does no I/O.
	Validate(m *mailbox.Mailbox) error
	// Check is the "test connection" an administrator runs before saving
	// m: it connects as the engine would (the address policy applies),
	// authenticates, looks at the folder or the sending setup, and
	// disconnects. The report is filled as far as the check got, also when
	// it fails with a *Error whose Hint says what to fix.
	Check(ctx context.Context, m *mailbox.Mailbox) (Report, error)
}

// Report is what a Check found, in the terms every transport shares.
type Report struct {
	// Kind is the transport that checked ("imap", "smtp", ...).
	Kind mailbox.TransportKind
	// Server is host:port, or the API endpoint.
	Server   string
	Security mailbox.Security
	// Facts are what the check learned, in order, for an administrator:
	// {"folder", "INBOX"}, {"messages", "12"}, {"auth", "XOAUTH2"}, ...
	Facts []Fact
	// Warnings are settings that will work worse than expected.
	Warnings []string
	Elapsed  time.Duration
	// Detail is the transport's own report (imap.ProbeReport,
	// smtp.ProbeReport), for hosts that want every field.
	Detail any
}

// Fact is one line of a Report.
type Fact struct{ Name, Value string }

// Fact returns the value of the first fact called name, or "".
func (r Report) Fact(name string) string {
	for _, f := range r.Facts {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}
