// Package transport is the contract between correio's engines (inbound,
// outbound) and its transports (transport/imap, transport/smtp, and the
// ones that follow):
//
//   - Source and Session: how the inbound engine reads a mailbox (resume a
//     stored Cursor, list what is new, fetch each message into a Spool,
//     apply post-actions, wait for new mail);
//   - Sender and Outgoing: how the outbound engine sends (an Envelope and
//     a raw message, a Result per recipient);
//   - Checker: how a transport validates and probes its own settings;
//   - Sources and Senders: choosing a transport per mailbox by its
//     mailbox.TransportKind;
//   - one set of error classes for every transport, the Dialer hook and
//     address policy every connection goes through, and the OAuth2 token
//     adapter.
//
// The package is a leaf: it imports the standard library, mailbox and
// golang.org/x/oauth2 only. transport/transporttest is the conformance
// suite every transport passes.
package transport

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Class groups transport failures by what the caller should do.
type Class int

const (
	// ClassUnknown is not a transport error.
	ClassUnknown Class = iota
	// Temporary: try again later (4xx replies, network errors, timeouts,
	// an IMAP [UNAVAILABLE]).
	Temporary
	// Permanent: the server refused for good (5xx replies, a missing
	// folder); retrying the same thing will fail the same way.
	Permanent
	// Auth: the credentials were refused; an administrator must act.
	Auth
	// TLS: the handshake failed, the certificate is not trusted, or the
	// server does not offer the TLS the mailbox requires.
	TLS
	// Protocol: the server spoke something we could not follow.
	Protocol
	// Policy: the address policy refused the target before connecting.
	Policy
)

var classNames = [...]string{"unknown", "temporary", "permanent", "auth", "tls", "protocol", "policy"}

func (c Class) String() string {
	if int(c) >= 0 && int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// Sentinel errors, one per class: errors.Is(err, transport.ErrTemporary)
// holds for every *Error of class Temporary.
var (
	ErrTemporary = &classError{Temporary}
	ErrPermanent = &classError{Permanent}
	ErrAuth      = &classError{Auth}
	ErrTLS       = &classError{TLS}
	ErrProtocol  = &classError{Protocol}
	ErrPolicy    = &classError{Policy}
)

type classError struct{ c Class }

func (e *classError) Error() string { return "transport: " + e.c.String() + " error" }

// Error is a classified transport failure.
type Error struct {
	Class Class
	// Protocol is "imap" or "smtp".
	Protocol string
	// Op is what was being done: "dial", "tls", "greeting", "auth",
	// "select", "fetch", "mail", "rcpt", "data", ...
	Op string
	// Server is host:port.
	Server string
	// Code is the SMTP reply code (or 0); Enhanced the enhanced status code
	// ("5.1.1") when the server sent one.
	Code     int
	Enhanced string
	// Message is the server's text, when it sent one. It never holds a
	// credential.
	Message string
	// Hint tells an administrator what to fix ("check the password",
	// "the certificate is not signed by a trusted CA", ...).
	Hint string
	// RetryAfter is how long the server asked the client to wait before
	// trying again (an HTTP API's Retry-After on 429 or 503); zero when it
	// said nothing. The engines wait at least this long.
	RetryAfter time.Duration
	// Item is the Item.ID of the message that caused the error, when the
	// message itself is the cause (a server sending a message far larger
	// than it listed it, or than the mailbox's MaxMessageSize): the engine
	// quarantines that message with the error as the reason and goes on,
	// rather than fetching it again. Empty otherwise.
	Item string
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Protocol)
	if b.Len() == 0 {
		b.WriteString("transport")
	}
	if e.Op != "" {
		b.WriteString(" " + e.Op)
	}
	if e.Server != "" {
		b.WriteString(" " + e.Server)
	}
	b.WriteString(": " + e.Class.String())
	if e.Code != 0 {
		fmt.Fprintf(&b, " %d", e.Code)
	}
	if e.Enhanced != "" {
		b.WriteString(" " + e.Enhanced)
	}
	if e.Message != "" {
		b.WriteString(" " + e.Message)
	} else if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if e.Hint != "" {
		b.WriteString(" (" + e.Hint + ")")
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the class sentinels.
func (e *Error) Is(target error) bool {
	ce, ok := target.(*classError)
	return ok && ce.c == e.Class
}

// ClassOf returns the class of the first *Error in err's chain, or
// ClassUnknown.
func ClassOf(err error) Class {
	var te *Error
	if errors.As(err, &te) {
		return te.Class
	}
	return ClassUnknown
}

// RetryAfter returns the RetryAfter of the first *Error in err's chain, or
// zero.
func RetryAfter(err error) time.Duration {
	var te *Error
	if errors.As(err, &te) {
		return te.RetryAfter
	}
	return 0
}

// Retryable reports whether err is worth retrying later: temporary errors,
// and unclassified ones (a network failure not yet classified).
func Retryable(err error) bool {
	switch ClassOf(err) {
	case Temporary, ClassUnknown:
		return true
	}
	return false
}

// SMTPClass classifies an SMTP reply code: 4xx temporary, 5xx permanent
// (535/534/530 auth), other codes protocol.
func SMTPClass(code int) Class {
	switch {
	case code == 530 || code == 534 || code == 535:
		return Auth
	case code >= 400 && code < 500:
		return Temporary
	case code >= 500 && code < 600:
		return Permanent
	}
	return Protocol
}
