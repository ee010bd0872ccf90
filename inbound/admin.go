package inbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/transport"
)

// Administrators' actions on a running Poller: pause and resume a mailbox,
// check it now (CheckNow, in attention.go), release a quarantined message
// or delete it.

// ErrNoQuarantineAdmin is returned by ReleaseQuarantined and
// DeleteQuarantined when Options.Store does not implement
// store.QuarantineAdmin (store/memory and the SQL stores do).
var ErrNoQuarantineAdmin = errors.New("inbound: the store offers no quarantine administration (store.QuarantineAdmin)")

// ErrNoRaw is returned by ReleaseQuarantined for a quarantined message
// whose raw bytes were not kept (it could not be fetched, or they were
// pruned): there is nothing to hand off.
var ErrNoRaw = errors.New("inbound: the quarantined message's raw bytes were not kept")

// ReleasedKeyPrefix prefixes the Delivery.Key of a released message: the
// key of the original stays recorded as quarantined, and a release that
// is repeated (after a crash between the hand-off and the removal from
// quarantine) is a duplicate, not a second hand-off.
const ReleasedKeyPrefix = "released:"

// Pause stops reading mailbox id (its in-flight hand-off finishes) until
// Resume: Health says engine.StatePaused with engine.ErrPausedByAdmin as
// LastError, and the pause survives Reload and changes of the mailbox.
// Before Start it may name any mailbox (a host that keeps its pauses
// calls Pause for each before Start); after Start an unknown one is
// engine.ErrUnknownMailbox.
func (p *Poller) Pause(_ context.Context, id mailbox.ID) error {
	p.mu.Lock()
	w := p.workers[id]
	if w == nil && p.ctx != nil {
		p.mu.Unlock()
		return fmt.Errorf("inbound: mailbox %q: %w", id, engine.ErrUnknownMailbox)
	}
	if p.paused == nil {
		p.paused = map[mailbox.ID]bool{}
	}
	already := p.paused[id]
	p.paused[id] = true
	p.mu.Unlock()
	if w != nil && !already {
		p.add(w.src)
	}
	return nil
}

// Resume ends Pause: the mailbox is read again at once. Resuming a
// mailbox that is not paused does nothing.
func (p *Poller) Resume(_ context.Context, id mailbox.ID) error {
	p.mu.Lock()
	was := p.paused[id]
	delete(p.paused, id)
	w := p.workers[id]
	p.mu.Unlock()
	if w == nil && p.ctx != nil && !was {
		return fmt.Errorf("inbound: mailbox %q: %w", id, engine.ErrUnknownMailbox)
	}
	if w != nil && was {
		p.add(w.src)
	}
	return nil
}

// ReleaseQuarantined hands quarantined message id (the store's ID, see
// store.QuarantineAdmin) to the Handler again, through the same pipeline
// as fetched mail: parsing, classification, threading, the Handler, the
// store's commit under the key ReleasedKeyPrefix+key. Once handed off (or
// found handed before) it leaves the quarantine; quarantined again (still
// unreadable, or refused for good by the Handler) it stays there once,
// with the new reason. A temporary Handler failure is returned as an error
// and the message stays quarantined. No post-action is applied: the
// message is no longer where it was on the server.
func (p *Poller) ReleaseQuarantined(ctx context.Context, id int64) (IngestResult, error) {
	qa, ok := p.o.Store.(store.QuarantineAdmin)
	if !ok {
		return IngestResult{}, ErrNoQuarantineAdmin
	}
	it, raw, err := qa.QuarantinedItem(ctx, id)
	if err != nil {
		return IngestResult{}, err
	}
	if raw == nil {
		return IngestResult{}, fmt.Errorf("quarantined message %d: %w", id, ErrNoRaw)
	}
	m, ok := p.o.Catalog.Mailbox(it.Mailbox)
	if !ok || m == nil || m.Kind != mailbox.Inbound || m.Inbound == nil {
		return IngestResult{}, fmt.Errorf("inbound: mailbox %q of quarantined message %d: %w", it.Mailbox, id, engine.ErrUnknownMailbox)
	}
	w := &worker{p: p, mb: m.Clone(), src: m, keyPrefix: ReleasedKeyPrefix}
	if p.o.Leaser != nil {
		if w.fence, err = p.o.Leaser.Fence(ctx, m.ID); err != nil {
			return IngestResult{}, fmt.Errorf("inbound: fencing token: %w", err)
		}
	}
	folder := it.Folder
	if folder == "" {
		folder = m.Inbound.FolderOrDefault()
	}
	// The commit carries the folder's current checkpoint: checkpoints
	// never move back, so this one moves nothing.
	cp, _, err := p.o.Store.Checkpoint(ctx, m.ID, folder)
	if err != nil {
		return IngestResult{}, err
	}
	sp, err := transport.NewSpool(bytes.NewReader(raw), int64(len(raw)), 0, "")
	if err != nil {
		return IngestResult{}, err
	}
	defer sp.Close()
	res, err := w.deliverOne(ctx, folder, cp, transport.Item{UID: it.UID, UIDValidity: it.UIDValidity, Size: int64(len(raw))}, sp, nil)
	var pe *errPaused
	if errors.As(err, &pe) {
		return res, fmt.Errorf("inbound: the handler failed temporarily: %w", pe.err)
	}
	if err != nil {
		return res, err
	}
	if err := qa.DeleteQuarantined(context.WithoutCancel(ctx), id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return res, err
	}
	p.log.Info("inbound: quarantined message released", "mailbox", string(m.ID), "id", id, "outcome", string(res.Outcome))
	return res, nil
}

// DeleteQuarantined removes quarantined message id for good (its key stays
// recorded, so it is never handed off).
func (p *Poller) DeleteQuarantined(ctx context.Context, id int64) error {
	qa, ok := p.o.Store.(store.QuarantineAdmin)
	if !ok {
		return ErrNoQuarantineAdmin
	}
	return qa.DeleteQuarantined(ctx, id)
}
