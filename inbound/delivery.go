package inbound

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/message"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/threading"
)

// Handler receives every message of every inbound mailbox, once.
//
// HandleMessage returns nil once the host stored the message (a ticket, a
// comment): only then does the poller record it and apply the post-action.
// Any other error is temporary: the mailbox pauses and the same message is
// handed again after a backoff. Wrap an error with Permanent to refuse a
// message for good: it is quarantined and the mailbox goes on.
//
// HandleMessage may be called concurrently for different mailboxes, never
// for two messages of one mailbox at once. The Delivery and its raw stream
// are valid only during the call. Its context is not cancelled when the
// Poller stops: Run waits for the hand-off in flight. A panic is recovered
// and treated as a temporary error.
type Handler interface {
	HandleMessage(ctx context.Context, d *Delivery) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, d *Delivery) error

// HandleMessage calls f.
func (f HandlerFunc) HandleMessage(ctx context.Context, d *Delivery) error { return f(ctx, d) }

// ErrPermanent is matched (errors.Is) by every error wrapped with Permanent.
var ErrPermanent = errors.New("inbound: message refused permanently")

type permanentError struct{ err error }

func (e *permanentError) Error() string {
	if e.err == nil {
		return ErrPermanent.Error()
	}
	return e.err.Error()
}
func (e *permanentError) Unwrap() []error { return []error{e.err, ErrPermanent} }

// Permanent marks err as a permanent refusal of the message: the poller
// quarantines it instead of retrying.
func Permanent(err error) error { return &permanentError{err: err} }

// IsPermanent reports whether err is a permanent refusal.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

// Delivery is one message handed to the host.
type Delivery struct {
	// Key is the stable idempotency key of the message in its mailbox: the
	// same message (same Message-ID and content) has the same key after a
	// UIDVALIDITY change, a move back, or the mailbox being re-added. Use it
	// to make the host's own write idempotent.
	Key string
	// Mailbox is the inbound mailbox the message arrived in (a snapshot).
	Mailbox *mailbox.Mailbox
	// Contract is the contract the message belongs to: the contract of the
	// thread it answers when there is one, else the mailbox's.
	Contract contract.ID
	// MailboxContract is the contract owning the mailbox.
	MailboxContract contract.ID
	// ContractMismatch is true when the thread's contract differs from the
	// mailbox's (a customer answered through another contract's address).
	ContractMismatch bool
	// Message is the parsed message (nil never: unreadable messages are
	// quarantined, not delivered).
	Message *message.Message
	// Classification says whether it is a bounce, an auto-reply, a loop or
	// list mail.
	Classification message.Classification
	// Thread is the thread match, nil when the message starts a new thread.
	Thread *threading.Match
	// SenderFlood is true when the sender exceeded the loop guard (more
	// than LoopGuard.Max messages within LoopGuard.Window).
	SenderFlood bool
	// Warnings are the defects found while parsing.
	Warnings []message.Warning
	// FromAuthenticated is true when the From domain was authenticated
	// (aligned DKIM, DMARC pass or aligned SPF; see message.Authentication).
	// Always false unless Options.Parse.Auth names the authserv-id(s) of
	// the receiving server to trust or a DKIM resolver: a host can flag
	// "customer" mail that is not authenticated as possibly spoofed.
	FromAuthenticated bool
	// Auth is the sender authentication detail (Message.Auth), nil unless
	// Options.Parse.Auth is set.
	Auth *message.Authentication
	// UID and UIDValidity locate the message on the server.
	UID         uint32
	UIDValidity uint32
	// Size is the raw message size in bytes.
	Size int64

	raw io.ReaderAt
	// next is the checkpoint that passes the message (its cursor).
	next store.Checkpoint
	// itemID is the transport's id of the message (transport.Item.ID),
	// for the post-action receipt HandoffRecord carries.
	itemID string
}

// Raw returns a new reader over the original message, as received.
func (d *Delivery) Raw() io.Reader { return io.NewSectionReader(d.raw, 0, d.Size) }

// RawAt returns the original message as an io.ReaderAt of Size bytes.
func (d *Delivery) RawAt() io.ReaderAt { return d.raw }

// AutoAnswerAllowed reports whether the host may answer automatically: not
// for bounces, auto-replies, loops, list or bulk mail, nor a flooding
// sender.
func (d *Delivery) AutoAnswerAllowed() bool {
	return d.Classification.AutoAnswerAllowed && !d.SenderFlood
}

// Key computes the idempotency key of a message from its Message-ID and
// the SHA-256 of its raw bytes. It does not depend on UIDs, so it survives
// UIDVALIDITY changes and moves.
func Key(messageID string, rawSHA256 [32]byte) string {
	h := sha256.New()
	h.Write([]byte(strings.ToLower(strings.Trim(strings.TrimSpace(messageID), "<>"))))
	h.Write([]byte{0})
	h.Write(rawSHA256[:])
	return "v1:" + hex.EncodeToString(h.Sum(nil)[:20])
}
