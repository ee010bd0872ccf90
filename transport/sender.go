package transport

import (
	"context"
	"errors"
	"io"

	"github.com/correio-dev/correio/mailbox"
)

// Sender is an outbound transport: it opens connections that send the
// messages of a mailbox (transport/smtp; later Microsoft Graph sendMail,
// the Gmail API). One Sender serves any number of mailboxes, is safe for
// concurrent use and may pool connections. The engine (package outbound)
// opens one Outgoing per batch, sends the batch over it and closes it.
//
// A host wraps a Sender (tracing, its own rate limits, a recording fake in
// its tests) by implementing this interface around another one.
type Sender interface {
	Open(ctx context.Context, m *mailbox.Mailbox) (Outgoing, error)
}

// Outgoing sends messages of one mailbox. One goroutine uses it, then
// closes it (a pooled connection goes back to its pool).
type Outgoing interface {
	// Send sends one message, msg being the raw RFC 5322 message, to
	// env.To. It returns nil when the message was accepted for
	// Result.Accepted (Result.Rejected may still list refused recipients),
	// and a *Error when it was not: when every recipient was refused,
	// Result.Rejected says why for each. An error wrapping ErrBroken means
	// the connection is unusable: the engine sends nothing more over it.
	Send(ctx context.Context, env Envelope, msg io.WriterTo) (Result, error)
	// Close releases the connection.
	Close() error
}

// Envelope is the envelope of one message.
type Envelope struct {
	From string   // the envelope sender (MAIL FROM), no angle brackets
	To   []string // the recipients (RCPT TO)
}

// RecipientError is a recipient the server refused, with its reply.
type RecipientError struct {
	Address string
	Err     *Error
}

// Result of sending one message.
type Result struct {
	// Accepted recipients received the message (when Send returned nil).
	Accepted []string
	// Rejected recipients were refused, each with its classified reply
	// (Permanent: never retried; Temporary: retried later).
	Rejected []RecipientError
	// Response is the server's reply to the message (often a queue id).
	Response string
}

// ErrBroken is matched by errors after which an Outgoing cannot be used
// any more (the connection was lost, the server closed it).
var ErrBroken = errors.New("transport: connection broken")

// Broken wraps err so that errors.Is(err, ErrBroken) holds; its text and
// the rest of its chain (the *Error) are unchanged. Broken(nil) is nil.
func Broken(err error) error {
	if err == nil || errors.Is(err, ErrBroken) {
		return err
	}
	return &brokenError{err}
}

type brokenError struct{ err error }

func (e *brokenError) Error() string        { return e.err.Error() }
func (e *brokenError) Unwrap() error        { return e.err }
func (e *brokenError) Is(target error) bool { return target == ErrBroken }
