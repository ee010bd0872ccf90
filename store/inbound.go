package store

import (
	"context"
	"io"
	"time"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
)

// Cursor is a source's position in a mailbox's folder as its transport
// encoded it (a transport.Cursor: "<kind>/<version>:<payload>", such as
// "imap/1:<uidvalidity>:<uid>" or a Microsoft Graph delta link of a few
// thousand characters). It is opaque to the store, which keeps it
// byte for byte, whatever its length. The zero Cursor is the start of a
// folder never read, and the cursor of a transport that has none (pushed
// mail).
type Cursor string

// Checkpoint is how far a mailbox's folder was read: every message before
// Cursor has been handled (or quarantined).
type Checkpoint struct {
	// Cursor is the transport's position, kept untouched.
	Cursor Cursor
	// UIDValidity and LastUID are the IMAP numbers of the position (zero
	// for the other transports). They order commits: under one
	// UIDVALIDITY a Commit never moves the checkpoint (Cursor included)
	// back to a lower UID; a checkpoint without them is replaced by every
	// Commit (the engine commits a folder's messages in order, and fencing
	// keeps out a replica that lost its lease). Received and quarantine
	// records show them. A checkpoint stored before cursors existed has
	// these two and no Cursor: the engine reads it as the IMAP cursor it
	// is.
	UIDValidity uint32
	LastUID     uint32
	// Since is set for mailboxes that start from new mail: messages the
	// server dates (INTERNALDATE) more than five minutes before it are
	// never read, even when a UIDVALIDITY change makes the folder be read
	// again.
	Since time.Time
}

// Outcome is what became of an inbound message.
type Outcome int

const (
	// Handled: the host's handler accepted it.
	Handled Outcome = iota + 1
	// Quarantined: it could not be read, or the handler refused it
	// permanently; the raw message is kept with the reason.
	Quarantined
)

// String returns "handled" or "quarantined".
func (o Outcome) String() string {
	switch o {
	case Handled:
		return "handled"
	case Quarantined:
		return "quarantined"
	}
	return "unknown"
}

// InboundRecord is one committed hand-off: the message's key and the
// checkpoint that passes it, written atomically.
type InboundRecord struct {
	Mailbox    mailbox.ID
	Folder     string
	Key        string
	Checkpoint Checkpoint
	Outcome    Outcome
	At         time.Time
	// Contract is the contract the message was handed under
	// (Delivery.Contract: the thread's contract when it answers one, else
	// the mailbox's); stores keep received mail grouped by it. Empty when
	// unknown: a store then files it under the mailbox's contract.
	Contract contract.ID
	// Fence is the lease's fencing token (0 without leases). A store that
	// has seen a higher token for the mailbox refuses the write with
	// ErrFenced, so a replica that lost its lease cannot commit.
	Fence int64
	// Receipt, when not nil, is the post-action the message is owed on the
	// server (mark seen, move, delete): the store keeps it with the key in
	// the same commit, until Inbound.ClearReceipts removes it. Its Key is
	// the record's.
	Receipt *Receipt
}

// Receipt is a post-action owed to a committed message (a "move receipt"):
// recorded durably in the commit that records the message's key, applied on
// the server after the commit, and cleared once applied. A process killed
// between the commit and the post-action leaves the receipt behind, and the
// next session applies it (Inbound.Receipts), so no handled message stays
// unmoved or unseen for good.
type Receipt struct {
	// Key is the message's key (InboundRecord.Key).
	Key string
	// ItemID names the message for the transport's Apply (transport.Item.ID:
	// IMAP's UID).
	ItemID string
	// UIDValidity is the IMAP UIDVALIDITY ItemID belongs to (0 for other
	// transports): under another one the UID names another message, and
	// the receipt is dropped instead of applied.
	UIDValidity uint32
	// Action is the post-action: mailbox.PostSeen, PostMove or PostDelete.
	Action mailbox.PostAction
	// Folder is the target folder of a move.
	Folder string
}

// QuarantineItem describes a quarantined message; its raw bytes are passed
// to Inbound.Quarantine as a reader.
type QuarantineItem struct {
	Mailbox     mailbox.ID
	Folder      string
	Key         string
	UIDValidity uint32
	UID         uint32
	Size        int64
	Reason      string
	At          time.Time
	Fence       int64
}

// Inbound keeps the inbound poller's state: checkpoints, the keys of
// handled messages, and quarantined messages. store/memory implements it;
// the SQL stores implement it durably. Implementations must be safe for
// concurrent use; keys are scoped per mailbox.
type Inbound interface {
	// Checkpoint returns the checkpoint of a mailbox's folder; ok is false
	// when the folder was never read.
	Checkpoint(ctx context.Context, mb mailbox.ID, folder string) (cp Checkpoint, ok bool, err error)
	// SetCheckpoint moves the checkpoint without recording a key (first
	// read, UIDVALIDITY change, messages skipped as duplicates or gone).
	SetCheckpoint(ctx context.Context, mb mailbox.ID, folder string, cp Checkpoint, fence int64) error
	// Done reports whether key was already committed for the mailbox.
	Done(ctx context.Context, mb mailbox.ID, key string) (bool, error)
	// Commit records r.Key, sets r.Checkpoint and keeps r.Receipt
	// atomically.
	Commit(ctx context.Context, r InboundRecord) error
	// Receipts returns the receipts of a mailbox's folder not cleared yet
	// (post-actions a crash or a broken connection left unapplied), in the
	// order they were committed.
	Receipts(ctx context.Context, mb mailbox.ID, folder string) ([]Receipt, error)
	// ClearReceipts removes the receipts of keys, once their post-actions
	// were applied (or no longer apply). Unknown keys are ignored.
	ClearReceipts(ctx context.Context, mb mailbox.ID, keys []string) error
	// Quarantine keeps a message that will not be handed to the host, with
	// its raw bytes (raw may be nil when the message could not be fetched).
	// The poller calls Commit with Outcome Quarantined afterwards.
	Quarantine(ctx context.Context, q QuarantineItem, raw io.Reader) error
}

// QuarantineAdmin is the administrator's side of the quarantine, which the
// stores (store/memory, the SQL stores) implement beside Inbound:
// inbound.Poller's ReleaseQuarantined and DeleteQuarantined use it. IDs
// are the store's (the SQL stores' Quarantined lists them).
type QuarantineAdmin interface {
	// QuarantinedItem returns quarantined message id and its raw bytes
	// (nil when they could not be fetched or were pruned); an unknown id
	// wraps ErrNotFound.
	QuarantinedItem(ctx context.Context, id int64) (QuarantineItem, []byte, error)
	// DeleteQuarantined removes quarantined message id; an unknown id
	// wraps ErrNotFound.
	DeleteQuarantined(ctx context.Context, id int64) error
}

// BatchCommitter is an Inbound that commits several hand-offs in one
// transaction (a group commit): the engine uses it, when its store has it,
// to record a fetch batch's keys, receipts and checkpoint with one commit
// instead of one per message (inbound.Options.CommitBatch bounds how many).
// CommitBatch is all or nothing: every record's key and receipt are kept
// and each folder's checkpoint moves to its last record's (never back, as
// with Commit), or, on error (ErrFenced among them), nothing is written.
// Records of one folder come in the order the engine handed them off.
type BatchCommitter interface {
	CommitBatch(ctx context.Context, rs []InboundRecord) error
}

// DoneBatcher is an Inbound that answers Done for several keys of one
// mailbox at once (one statement instead of one per key): the engine's
// parse stage uses it, when its store has it, for the messages it
// prepares together. done[i] answers keys[i]; a key may be there twice.
type DoneBatcher interface {
	DoneKeys(ctx context.Context, mb mailbox.ID, keys []string) (done []bool, err error)
}

// Leaser hands out fencing tokens when several replicas share a store: the
// poller asks for the mailbox's token when it connects and passes it to
// every store write. Without a Leaser every token is 0.
type Leaser interface {
	Fence(ctx context.Context, mb mailbox.ID) (int64, error)
}

// Handoff is a message an engine hands to the host, as a store that records
// the hand-off inside the host's own transaction sees it (store/postgres
// HandleInTx): inbound.Delivery implements it.
type Handoff interface {
	// HandoffRecord returns the record that commits the hand-off: the
	// message's mailbox, folder, key and the checkpoint that passes it.
	HandoffRecord() InboundRecord
}
