package sqlite

import (
	"context"
	"io"
	"time"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/message"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/internal/sqlmail"
)

// Received is a handled (or quarantined) inbound message's record with the
// contract that owned its mailbox when it was committed.
type Received = sqlmail.Received

// ReceivedFilter selects received records; zero fields match all.
type ReceivedFilter = sqlmail.ReceivedFilter

// Quarantined is a quarantined message's metadata (raw bytes through
// InboundStore.QuarantinedRaw).
type Quarantined = sqlmail.Quarantined

// QuarantineFilter selects quarantined messages; zero fields match all.
type QuarantineFilter = sqlmail.QuarantineFilter

// Pruned counts what Store.Prune removed.
type Pruned = sqlmail.Pruned

// Erased counts what Store.EraseContract removed.
type Erased = sqlmail.Erased

// InboundStore implements store.Inbound: checkpoints, handled keys (scoped
// per mailbox) and quarantined messages, durably. A checkpoint and its key
// commit in one transaction; a write whose fencing token is lower than the
// highest seen for the mailbox fails with store.ErrFenced.
type InboundStore struct{ d *sqlmail.DB }

// Inbound returns the inbound poller's store.
func (s *Store) Inbound() *InboundStore { return &InboundStore{s.mail} }

var _ store.Inbound = (*InboundStore)(nil)

// Checkpoint implements store.Inbound.
func (s *InboundStore) Checkpoint(ctx context.Context, mb mailbox.ID, folder string) (store.Checkpoint, bool, error) {
	return s.d.Checkpoint(ctx, mb, folder)
}

// SetCheckpoint implements store.Inbound.
func (s *InboundStore) SetCheckpoint(ctx context.Context, mb mailbox.ID, folder string, cp store.Checkpoint, fence int64) error {
	return s.d.SetCheckpoint(ctx, mb, folder, cp, fence)
}

// Done implements store.Inbound.
func (s *InboundStore) Done(ctx context.Context, mb mailbox.ID, key string) (bool, error) {
	return s.d.Done(ctx, mb, key)
}

// Commit implements store.Inbound. Under one UIDVALIDITY the checkpoint
// never moves back: a late commit of an older UID records its key only.
func (s *InboundStore) Commit(ctx context.Context, r store.InboundRecord) error {
	return s.d.Commit(ctx, r)
}

// Quarantine implements store.Inbound; the raw bytes are kept.
func (s *InboundStore) Quarantine(ctx context.Context, q store.QuarantineItem, raw io.Reader) error {
	return s.d.Quarantine(ctx, q, raw)
}

// Received lists the records of received messages (handled and
// quarantined), oldest first: by mailbox, by contract, since a time.
func (s *InboundStore) Received(ctx context.Context, f ReceivedFilter) ([]Received, error) {
	return s.d.Received(ctx, f)
}

// Quarantined lists quarantined messages, oldest first.
func (s *InboundStore) Quarantined(ctx context.Context, f QuarantineFilter) ([]Quarantined, error) {
	return s.d.Quarantined(ctx, f)
}

// QuarantinedRaw returns the raw message kept for a quarantined message
// (nil when it could not be fetched or was pruned), for the host to
// re-process it.
func (s *InboundStore) QuarantinedRaw(ctx context.Context, id int64) ([]byte, error) {
	return s.d.QuarantinedRaw(ctx, id)
}

// DeleteQuarantined removes a quarantined message, typically once the
// host re-processed it.
func (s *InboundStore) DeleteQuarantined(ctx context.Context, id int64) error {
	return s.d.DeleteQuarantined(ctx, id)
}

// Outbox implements store.Outbox and routing.SentIndex durably.
// Attachments are stored with the record at Put and read back from the
// database on every send attempt.
type Outbox struct{ d *sqlmail.DB }

// Outbox returns the outbound sender's outbox.
func (s *Store) Outbox() *Outbox { return &Outbox{s.mail} }

var (
	_ store.Outbox      = (*Outbox)(nil)
	_ routing.SentIndex = (*Outbox)(nil)
)

// Put implements store.Outbox.
func (o *Outbox) Put(ctx context.Context, r *store.OutboxRecord) error { return o.d.Put(ctx, r) }

// Claim implements store.Outbox.
func (o *Outbox) Claim(ctx context.Context, c store.Claim) ([]*store.OutboxRecord, error) {
	return o.d.Claim(ctx, c)
}

// Update implements store.Outbox.
func (o *Outbox) Update(ctx context.Context, r *store.OutboxRecord, token string) error {
	return o.d.Update(ctx, r, token)
}

// Release implements store.Outbox.
func (o *Outbox) Release(ctx context.Context, id, token string) error {
	return o.d.Release(ctx, id, token)
}

// ReleaseStale implements store.Outbox.
func (o *Outbox) ReleaseStale(ctx context.Context, now time.Time) (int, error) {
	return o.d.ReleaseStale(ctx, now)
}

// Due implements store.Outbox.
func (o *Outbox) Due(ctx context.Context, now time.Time) ([]store.Due, time.Time, error) {
	return o.d.Due(ctx, now)
}

// Stats implements store.Outbox.
func (o *Outbox) Stats(ctx context.Context, mb mailbox.ID) (store.QueueStats, error) {
	return o.d.Stats(ctx, mb)
}

// Get implements store.Outbox.
func (o *Outbox) Get(ctx context.Context, id string) (*store.OutboxRecord, error) {
	return o.d.Get(ctx, id)
}

// List implements store.Outbox.
func (o *Outbox) List(ctx context.Context, f store.OutboxFilter) ([]*store.OutboxRecord, error) {
	return o.d.List(ctx, f)
}

// ListByContract lists the outbox records sent (or queued, or dead) for
// one contract, oldest first; f narrows by state and mailbox.
func (o *Outbox) ListByContract(ctx context.Context, id contract.ID, f store.OutboxFilter) ([]*store.OutboxRecord, error) {
	return o.d.ListByContract(ctx, id, f)
}

// SentByMessageID implements routing.SentIndex.
func (o *Outbox) SentByMessageID(ctx context.Context, messageID string) (routing.ThreadRef, bool, error) {
	return o.d.SentByMessageID(ctx, messageID)
}

// SentByThread implements routing.SentIndex.
func (o *Outbox) SentByThread(ctx context.Context, thread string) (routing.ThreadRef, bool, error) {
	return o.d.SentByThread(ctx, thread)
}

// Bounce is a delivery report linked to the outbox record it answers.
type Bounce = sqlmail.Bounce

// LinkBounce records a bounce the inbound side parsed
// (Delivery.Classification.Bounce) against the outbox record it answers,
// found by its original Message-ID, one row per reported recipient, and
// suppresses the recipients that failed permanently — in one transaction.
// found is false when the bounce names no message of this outbox.
func (o *Outbox) LinkBounce(ctx context.Context, b *message.Bounce, at time.Time) (recordID string, found bool, err error) {
	return o.d.LinkBounce(ctx, b, at)
}

// Bounces lists the bounces linked to an outbox record, oldest first.
func (o *Outbox) Bounces(ctx context.Context, recordID string) ([]Bounce, error) {
	return o.d.Bounces(ctx, recordID)
}

// Suppressions implements store.Suppressions (addresses compared in
// lower case).
type Suppressions struct{ d *sqlmail.DB }

// Suppressions returns the suppression list.
func (s *Store) Suppressions() *Suppressions { return &Suppressions{s.mail} }

var _ store.Suppressions = (*Suppressions)(nil)

// Suppressed implements store.Suppressions.
func (s *Suppressions) Suppressed(ctx context.Context, address string) (string, bool, error) {
	return s.d.Suppressed(ctx, address)
}

// Suppress implements store.Suppressions.
func (s *Suppressions) Suppress(ctx context.Context, address, reason string) error {
	return s.d.Suppress(ctx, address, reason)
}

// Unsuppress removes address from the list.
func (s *Suppressions) Unsuppress(ctx context.Context, address string) error {
	return s.d.Unsuppress(ctx, address)
}

// Prune applies retention: it removes handled keys committed before
// before (the checkpoint still covers their messages), Sent and Dead
// outbox records last updated before it, and drops the raw bytes of
// messages quarantined before it (their metadata stays).
//
// Keep handled keys longer than messages stay on the server: after a
// UIDVALIDITY change the folder is read again, and only a message's key
// stops a second hand-off (mailboxes with PostDelete or PostMove have
// nothing left to read again).
func (s *Store) Prune(ctx context.Context, before time.Time) (Pruned, error) {
	return s.mail.Prune(ctx, before)
}

// EraseContract deletes everything recorded for one contract (LGPD/GDPR):
// its received records, quarantined messages and outbox records in any
// state. The catalog entry itself is removed with Catalog.DeleteContract.
func (s *Store) EraseContract(ctx context.Context, id contract.ID) (Erased, error) {
	return s.mail.EraseContract(ctx, id)
}
