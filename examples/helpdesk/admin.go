package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/sqlstore"
)

// The administrator's actions on queued and quarantined mail and on
// mailboxes, through the engines' own admin API: outbound.Sender's
// RetryNow and Cancel (one atomic store write each, refused with
// store.ErrClaimed while the message is being sent), inbound.Poller's
// ReleaseQuarantined (the same exactly-once pipeline as fetched mail) and
// DeleteQuarantined, and both engines' Pause, Resume and CheckNow.

var (
	// errActionUnavailable: the engine or store does not offer the action.
	errActionUnavailable = errors.New("helpdesk: action not available")
	// errUnreadable: a quarantined message without readable raw bytes.
	errUnreadable = errors.New("helpdesk: quarantined message cannot be read")
)

// cancelReason is what a record cancelled by an administrator says
// (after store.CancelReason).
const cancelReason = "by an administrator"

// quarantineStore is what the Messages page lists the quarantine with;
// *sqlstore.Inbound (SQLite and Postgres) implements it.
type quarantineStore interface {
	Quarantined(ctx context.Context, f sqlstore.QuarantineFilter) ([]sqlstore.Quarantined, error)
}

// memQuarantine lists an in-memory store's quarantine (tests).
type memQuarantine struct{ s *memory.InboundStore }

func (m memQuarantine) Quarantined(_ context.Context, f sqlstore.QuarantineFilter) ([]sqlstore.Quarantined, error) {
	var out []sqlstore.Quarantined
	for _, q := range m.s.Quarantined(f.Mailbox) {
		out = append(out, sqlstore.Quarantined{ID: q.ID, QuarantineItem: q.QuarantineItem, HasRaw: q.Raw != nil})
	}
	return out, nil
}

// RetryNow makes a queued message due at once and wakes the sender.
func (e *engines) RetryNow(ctx context.Context, id string) error { return e.sender.RetryNow(ctx, id) }

// Cancel gives up a queued message: it is kept as dead, with the reason.
func (e *engines) Cancel(ctx context.Context, id string) error {
	return e.sender.Cancel(ctx, id, cancelReason)
}

// Release hands a quarantined message to the helpdesk's handler again
// and removes it from the quarantine once handed off.
func (e *engines) Release(ctx context.Context, id int64) error {
	res, err := e.poller.ReleaseQuarantined(ctx, id)
	switch {
	case errors.Is(err, inbound.ErrNoRaw):
		return fmt.Errorf("%w: %w", errUnreadable, err)
	case err != nil:
		return err
	case res.Outcome == inbound.IngestQuarantined: // still unreadable, or refused again
		return fmt.Errorf("%w: %s", errUnreadable, res.Reason)
	}
	return nil
}

// DeleteQuarantined removes a quarantined message for good.
func (e *engines) DeleteQuarantined(ctx context.Context, id int64) error {
	return e.poller.DeleteQuarantined(ctx, id)
}

// engineFor returns the engine that runs mailbox id.
func (e *engines) engineFor(id mailbox.ID) (engine.Engine, error) {
	m, ok := e.cat.Mailbox(id)
	if !ok {
		return nil, fmt.Errorf("mailbox %q: %w", id, store.ErrNotFound)
	}
	if m.Kind == mailbox.Inbound {
		return e.poller, nil
	}
	return e.sender, nil
}

// Pause, Resume and CheckNow act on a mailbox through its engine.
func (e *engines) Pause(ctx context.Context, id mailbox.ID) error {
	en, err := e.engineFor(id)
	if err != nil {
		return err
	}
	return en.Pause(ctx, id)
}

func (e *engines) Resume(ctx context.Context, id mailbox.ID) error {
	en, err := e.engineFor(id)
	if err != nil {
		return err
	}
	return en.Resume(ctx, id)
}

func (e *engines) CheckNow(ctx context.Context, id mailbox.ID) error {
	en, err := e.engineFor(id)
	if err != nil {
		return err
	}
	return en.CheckNow(ctx, id)
}
