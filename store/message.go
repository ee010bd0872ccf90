package store

import (
	"io"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/routing"
)

// Address is a display name and an e-mail address.
type Address struct {
	Name    string
	Address string
}

// RecipientKind says in which header a recipient appears.
type RecipientKind int

const (
	// To recipients appear in the To header.
	To RecipientKind = iota
	// Cc recipients appear in the Cc header.
	Cc
	// Bcc recipients appear in no header.
	Bcc
)

// Attachment is a file attached to a message. Open is called on every send
// attempt (and once by a durable outbox at enqueue to store the content),
// so the content streams from an io.Reader and is never held whole by the
// message builder.
type Attachment struct {
	Name        string
	ContentType string // default application/octet-stream
	Open        func() (io.ReadCloser, error)
}

// Message is an outgoing message as a host or outbound.Runner enqueues it
// with outbound.Sender.Enqueue, and as the outbox keeps it.
type Message struct {
	// Mailbox is the outbound mailbox to send through (a Decision's
	// mailbox).
	Mailbox mailbox.ID
	To      []Address
	Cc      []Address
	Bcc     []Address
	Subject string
	// Text and HTML bodies; with both the message is multipart/alternative.
	Text string
	HTML string
	// Attachments are streamed from their Open function.
	Attachments []Attachment
	// InReplyTo and References are Message-IDs without angle brackets.
	InReplyTo  string
	References []string
	// Thread is the workflow thread id as its token carries it (for
	// example "123", tagged "[#REQ-123]" with the default format); the
	// token is added to the subject so a reply finds the request again,
	// and threading.SentIndex finds the message by it.
	Thread string
	// Contract the message is sent for (recorded; used by failover).
	Contract contract.ID
	// Rule and Reason record the routing decision; zero for a message the
	// host addressed itself.
	Rule   routing.Rule
	Reason string
	// IgnoreSuppression sends even to recipients on the suppression list.
	IgnoreSuppression bool
}
