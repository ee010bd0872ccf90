package routing

import (
	"context"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
)

// LoopHeader is the header every message correio sends carries, naming the
// sending mailbox. The inbound engine treats a message carrying it as a
// loop and never answers it automatically.
const LoopHeader = "X-Correio-Loop"

// ThreadRef identifies a message correio sent: which mailbox sent it, for
// which contract and which workflow thread (the request the thread token
// names, for example "REQ-123").
type ThreadRef struct {
	MessageID string // without angle brackets
	Mailbox   mailbox.ID
	Contract  contract.ID
	Thread    string
}

// SentIndex finds messages correio sent, so a customer's reply is matched to
// its request: first by In-Reply-To/References (Message-ID), then by the
// subject's thread token. The outbound stores implement it; the inbound
// engine consumes it.
type SentIndex interface {
	// SentByMessageID looks a Message-ID (without angle brackets) up.
	SentByMessageID(ctx context.Context, messageID string) (ThreadRef, bool, error)
	// SentByThread returns the latest message sent for a thread token id.
	SentByThread(ctx context.Context, thread string) (ThreadRef, bool, error)
}
