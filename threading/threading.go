// Package threading is the one home of how correio threads mail: the
// reference to a message it sent (Ref), the index the outbox keeps of them
// (SentIndex), the thread token in subjects (TokenFormat, Tokens), the loop
// marker header every sent message carries (LoopHeader), and the rule that
// matches a reply to its thread (Find).
//
// The outbound engine writes what the inbound engine reads back: it tags
// subjects with Tokens and sets LoopHeader; the stores index what was sent
// (store.Outbox implementations are SentIndexes); the inbound engine calls
// Find for every message and reports the result as Delivery.Thread. The
// package does no I/O of its own.
package threading

import (
	"context"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/message"
)

// LoopHeader is the header every message correio sends carries, naming the
// sending mailbox. The inbound engine treats a message carrying it as a
// loop and never answers it automatically. It is the classifier's default
// (message.DefaultLoopHeader), so both sides name one header.
const LoopHeader = message.DefaultLoopHeader

// Ref identifies a message correio sent: which mailbox sent it, for which
// contract and which workflow thread (the request the thread token names,
// for example "REQ-123").
type Ref struct {
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
	SentByMessageID(ctx context.Context, messageID string) (Ref, bool, error)
	// SentByThread returns the latest message sent for a thread token id.
	SentByThread(ctx context.Context, thread string) (Ref, bool, error)
}

// How a Match was found.
const (
	ByInReplyTo  = "in-reply-to"
	ByReferences = "references"
	ByToken      = "token"
)

// Match says how a message was matched to a thread correio sent.
type Match struct {
	// Ref is the message correio sent that this one answers. For a token
	// match with no sent message indexed, only Ref.Thread is set.
	Ref Ref
	// By is ByInReplyTo, ByReferences or ByToken.
	By string
}

// Find matches a message to the thread of a message correio sent, by the
// rule: its In-Reply-To Message-IDs first, then its References, newest
// first, in sent (nil: none); then the last thread token of subject, looked
// up in sent for the message it names. A token that names no sent message
// still matches, by its thread id alone. Find returns nil when nothing
// matches (the message starts a new thread), and the first error of sent.
func Find(ctx context.Context, sent SentIndex, tokens *Tokens, inReplyTo, references []string, subject string) (*Match, error) {
	if sent != nil {
		for _, id := range inReplyTo {
			ref, ok, err := sent.SentByMessageID(ctx, id)
			if err != nil {
				return nil, err
			}
			if ok {
				return &Match{Ref: ref, By: ByInReplyTo}, nil
			}
		}
		for i := len(references) - 1; i >= 0; i-- {
			ref, ok, err := sent.SentByMessageID(ctx, references[i])
			if err != nil {
				return nil, err
			}
			if ok {
				return &Match{Ref: ref, By: ByReferences}, nil
			}
		}
	}
	if tokens == nil {
		tokens = defaultTokens
	}
	id, ok := tokens.Parse(subject)
	if !ok {
		return nil, nil
	}
	if sent != nil {
		ref, ok, err := sent.SentByThread(ctx, id)
		if err != nil {
			return nil, err
		}
		if ok {
			return &Match{Ref: ref, By: ByToken}, nil
		}
	}
	return &Match{Ref: Ref{Thread: id}, By: ByToken}, nil
}

var defaultTokens = TokenFormat{}.MustCompile()
