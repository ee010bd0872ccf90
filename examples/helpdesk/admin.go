package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/message"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/sqlstore"
	"github.com/correio-dev/correio/threading"
)

// The administrator's actions on queued and quarantined mail, built on
// the store's existing methods only (store.Outbox, sqlstore.Inbound).
//
// The store contract has no "reschedule" or "cancel" of an unclaimed
// record: Update needs a claim. So retry and cancel claim the record
// themselves, with Claim's Now set to the record's NextAttempt so a
// deferred record is due for that claim, then Update it (due now, or
// dead) and Release every other record the claim caught. To avoid taking a
// record out of the hands of a worker sending it, the action is refused
// while any record of the mailbox is claimed (errBusy). A worker that
// claims in the instant between that check and the action's own claim is
// the remaining race; a store method that changes an unclaimed record in
// one statement (Outbox.Reschedule / Outbox.Cancel) would close it.

var (
	// errActionUnavailable: the engine or store does not offer the action.
	errActionUnavailable = errors.New("helpdesk: action not available")
	// errNotQueued: the record is no longer queued (sent, dead or gone).
	errNotQueued = errors.New("helpdesk: message is not queued")
	// errBusy: a message of the mailbox is being sent; try again shortly.
	errBusy = errors.New("helpdesk: mailbox is sending")
	// errUnreadable: a quarantined message without readable raw bytes.
	errUnreadable = errors.New("helpdesk: quarantined message cannot be read")
)

// adminLease bounds the action's own claim.
const adminLease = 30 * time.Second

// cancelReason is the Reason of a record cancelled by an administrator.
const cancelReason = "cancelled by an administrator"

// quarantineStore is what the quarantine actions need; *sqlstore.Inbound
// (SQLite and Postgres) implements it.
type quarantineStore interface {
	Quarantined(ctx context.Context, f sqlstore.QuarantineFilter) ([]sqlstore.Quarantined, error)
	QuarantinedRaw(ctx context.Context, id int64) ([]byte, error)
	DeleteQuarantined(ctx context.Context, id int64) error
}

// memQuarantine lists an in-memory store's quarantine (tests); its
// entries cannot be deleted.
type memQuarantine struct{ s *memory.InboundStore }

func (m memQuarantine) Quarantined(_ context.Context, f sqlstore.QuarantineFilter) ([]sqlstore.Quarantined, error) {
	var out []sqlstore.Quarantined
	for i, q := range m.s.Quarantined(f.Mailbox) {
		out = append(out, sqlstore.Quarantined{ID: int64(i + 1), QuarantineItem: q.QuarantineItem, HasRaw: q.Raw != nil})
	}
	return out, nil
}

func (m memQuarantine) QuarantinedRaw(context.Context, int64) ([]byte, error) {
	return nil, errActionUnavailable
}

func (m memQuarantine) DeleteQuarantined(context.Context, int64) error { return errActionUnavailable }

// adminClaim claims the queued record id (see the comment at the top)
// and returns it with the claim's token; the other records caught are
// released.
func (e *engines) adminClaim(ctx context.Context, id string) (*store.OutboxRecord, string, error) {
	rec, err := e.outbox.Get(ctx, id)
	if err != nil {
		return nil, "", err
	}
	if rec.State != store.Queued {
		return nil, "", errNotQueued
	}
	now := time.Now()
	queued, err := e.outbox.List(ctx, store.OutboxFilter{Mailbox: rec.Mailbox, State: store.Queued})
	if err != nil {
		return nil, "", err
	}
	for _, q := range queued {
		if q.ClaimToken != "" && q.ClaimedUntil.After(now) {
			return nil, "", errBusy
		}
	}
	token := newID("admin")
	at := rec.NextAttempt
	if at.Before(now) {
		at = now
	}
	got, err := e.outbox.Claim(ctx, store.Claim{Mailbox: rec.Mailbox, Now: at, Lease: adminLease, Token: token})
	if err != nil {
		return nil, "", err
	}
	var mine *store.OutboxRecord
	for _, g := range got {
		if g.ID == id {
			mine = g
			continue
		}
		if err := e.outbox.Release(ctx, g.ID, token); err != nil {
			e.log.Error("admin release", "record", g.ID, "err", err)
		}
	}
	if mine == nil {
		return nil, "", errBusy
	}
	return mine, token, nil
}

// RetryNow makes a queued message due at once and wakes the sender.
func (e *engines) RetryNow(ctx context.Context, id string) error {
	rec, token, err := e.adminClaim(ctx, id)
	if err != nil {
		return err
	}
	rec.NextAttempt = time.Now()
	if err := e.outbox.Update(ctx, rec, token); err != nil {
		return err
	}
	e.sender.Wake()
	return nil
}

// Cancel gives up a queued message: it is kept as dead, with the reason.
func (e *engines) Cancel(ctx context.Context, id string) error {
	rec, token, err := e.adminClaim(ctx, id)
	if err != nil {
		return err
	}
	rec.State = store.Dead
	rec.Reason = cancelReason
	return e.outbox.Update(ctx, rec, token)
}

// findQuarantined finds a quarantined message by its store ID.
func (e *engines) findQuarantined(ctx context.Context, id int64) (sqlstore.Quarantined, error) {
	qs, err := e.quarantine.Quarantined(ctx, sqlstore.QuarantineFilter{})
	if err != nil {
		return sqlstore.Quarantined{}, err
	}
	for _, q := range qs {
		if q.ID == id {
			return q, nil
		}
	}
	return sqlstore.Quarantined{}, fmt.Errorf("quarantined message %d: %w", id, store.ErrNotFound)
}

// Release hands a quarantined message to the helpdesk's handler, as the
// poller would have (same key, so a repeat changes nothing), then removes
// it from the quarantine.
func (e *engines) Release(ctx context.Context, id int64) error {
	q, err := e.findQuarantined(ctx, id)
	if err != nil {
		return err
	}
	raw, err := e.quarantine.QuarantinedRaw(ctx, id)
	if err != nil {
		return err
	}
	if len(raw) == 0 {
		return errUnreadable
	}
	msg, err := message.ParseBytes(raw, message.Options{})
	if err != nil {
		return fmt.Errorf("%w: %w", errUnreadable, err)
	}
	mb, ok := e.cat.Mailbox(q.Mailbox)
	if !ok {
		mb = &mailbox.Mailbox{ID: q.Mailbox}
	}
	owner, _ := e.cat.InboundOwner(q.Mailbox)
	d := &inbound.Delivery{Key: q.Key, Mailbox: mb, Contract: owner, MailboxContract: owner, Message: msg,
		Classification: message.Classify(msg, message.ClassifyOptions{})}
	if m, err := threading.Find(ctx, e.outbox, nil, msg.InReplyTo, msg.References, msg.Subject); err == nil && m != nil {
		d.Thread = m
		if m.Ref.Contract != "" {
			d.Contract = m.Ref.Contract
			d.ContractMismatch = owner != "" && m.Ref.Contract != owner
		}
	}
	if err := e.handle(ctx, d); err != nil {
		return err
	}
	return e.quarantine.DeleteQuarantined(ctx, id)
}

// DeleteQuarantined removes a quarantined message for good.
func (e *engines) DeleteQuarantined(ctx context.Context, id int64) error {
	if _, err := e.findQuarantined(ctx, id); err != nil {
		return err
	}
	return e.quarantine.DeleteQuarantined(ctx, id)
}
