package inbound

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/transport"
)

// Pushed mail: a message that an MTA pipe or a webhook hands to the
// library, instead of the Poller fetching it. It goes through the same
// pipeline as fetched mail (key, classification, threading, contract
// routing, the host's Handler, the store's commit, quarantine), for a
// mailbox of transport kind mailbox.TransportPush, which has no server and
// no cursor: the keys of handled messages alone refuse duplicates.

// IngestOutcome says what became of a pushed message.
type IngestOutcome string

// The outcomes of Ingest.
const (
	// IngestHandled: the host's Handler accepted it and the store
	// recorded its key.
	IngestHandled IngestOutcome = "handled"
	// IngestDuplicate: its key was recorded before; nothing was handed.
	IngestDuplicate IngestOutcome = "duplicate"
	// IngestQuarantined: unreadable, too large or refused for good by the
	// Handler; the store keeps it in quarantine with its key.
	IngestQuarantined IngestOutcome = "quarantined"
)

// IngestResult is what Ingest did with one message.
type IngestResult struct {
	Outcome IngestOutcome `json:"outcome"`
	// Key is the message's idempotency key (Delivery.Key).
	Key       string `json:"key"`
	MessageID string `json:"message_id,omitempty"`
	// Reason says why it was quarantined.
	Reason   string      `json:"reason,omitempty"`
	Size     int64       `json:"size"`
	Contract contract.ID `json:"contract,omitempty"`
}

// ErrNotPushed is wrapped by the errors of a mailbox (or recipient) that is
// not an enabled inbound mailbox of transport kind push: the message was
// not taken and will not be on a retry (an MTA's "no such user").
var ErrNotPushed = errors.New("inbound: no enabled pushed mailbox")

// Ingester takes pushed messages for a Poller's mailboxes of kind push
// (mailbox.TransportPush), through the Poller's store, Handler, catalog,
// threading and loop guard. The Poller need not be started: pushed
// mailboxes are never polled. One Ingester serves any number of mailboxes
// and is safe for concurrent use; the messages of one mailbox are taken
// one at a time. Use one Ingester per Poller.
type Ingester struct {
	p    *Poller
	opts IngestOptions

	mu    sync.Mutex
	boxes map[mailbox.ID]*ingestBox
}

// IngestOptions configure an Ingester.
type IngestOptions struct {
	// SpoolMemory is the size up to which a pushed message stays in
	// memory; larger ones go to a temporary file in SpoolDir (default
	// transport.DefaultSpoolMemory, the system's temporary directory).
	SpoolMemory int64
	SpoolDir    string
}

type ingestBox struct {
	mu sync.Mutex
	w  *worker
}

// NewIngester returns an Ingester for p's mailboxes of kind push.
func NewIngester(p *Poller, o IngestOptions) *Ingester {
	return &Ingester{p: p, opts: o, boxes: map[mailbox.ID]*ingestBox{}}
}

// Mailbox returns the pushed mailbox id names, or an error wrapping
// ErrNotPushed.
func (g *Ingester) Mailbox(id mailbox.ID) (*mailbox.Mailbox, error) {
	m, ok := g.p.o.Catalog.Mailbox(id)
	if !ok || !pushed(m) {
		return nil, fmt.Errorf("%w: %q", ErrNotPushed, id)
	}
	return m, nil
}

func pushed(m *mailbox.Mailbox) bool {
	return m != nil && m.Kind == mailbox.Inbound && m.Inbound != nil && m.Enabled && m.Transport() == mailbox.TransportPush
}

// Recipient maps a recipient address to the pushed mailbox whose Address
// it is (case-insensitively; then without a "+detail" in the local part),
// or returns an error wrapping ErrNotPushed.
func (g *Ingester) Recipient(addr string) (mailbox.ID, error) {
	addr = strings.ToLower(strings.Trim(strings.TrimSpace(addr), "<>"))
	if addr == "" {
		return "", fmt.Errorf("%w: empty recipient", ErrNotPushed)
	}
	base := addr
	if local, domain, ok := strings.Cut(addr, "@"); ok {
		if l, _, plus := strings.Cut(local, "+"); plus {
			base = l + "@" + domain
		}
	}
	var found mailbox.ID
	for _, m := range g.p.o.Catalog.Mailboxes() {
		if !pushed(m) {
			continue
		}
		a := strings.ToLower(m.Address)
		if a == addr {
			return m.ID, nil
		}
		if a == base && found == "" {
			found = m.ID
		}
	}
	if found != "" {
		return found, nil
	}
	return "", fmt.Errorf("%w for recipient %q", ErrNotPushed, addr)
}

// box returns the mailbox's state, kept across messages (the loop guard
// counts its senders), renewed when the catalog's mailbox changed.
func (g *Ingester) box(m *mailbox.Mailbox) *ingestBox {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.boxes[m.ID]
	if b == nil {
		b = &ingestBox{}
		g.boxes[m.ID] = b
	}
	b.mu.Lock() // released by Ingest
	if b.w == nil || (b.w.src != m && !reflect.DeepEqual(b.w.src, m)) {
		b.w = &worker{p: g.p, mb: m.Clone(), src: m}
	}
	return b
}

// Ingest reads one raw message pushed for the mailbox id and takes it
// through the pipeline. It returns once the outcome is durable: handled
// (the Handler returned nil and the store committed the key), a duplicate
// (the key was committed before) or quarantined. A message larger than the
// mailbox's MaxMessageSize is quarantined unread, as fetched mail is.
//
// An error means the message was not taken: it wraps ErrNotPushed when the
// mailbox does not take pushed mail (do not retry), and is temporary
// otherwise (the store, the Handler or the reader failed: retry later;
// the key keeps a retry from handing it twice).
func (g *Ingester) Ingest(ctx context.Context, id mailbox.ID, raw io.Reader) (IngestResult, error) {
	m, err := g.Mailbox(id)
	if err != nil {
		return IngestResult{}, err
	}
	b := g.box(m)
	defer b.mu.Unlock()
	w := b.w
	p := g.p
	if p.o.Leaser != nil {
		f, err := p.o.Leaser.Fence(ctx, m.ID)
		if err != nil {
			return IngestResult{}, fmt.Errorf("inbound: fencing token: %w", err)
		}
		w.fence = f
	}
	maxSize := w.mb.Inbound.MaxMessageSizeOrDefault()
	sp, err := transport.NewSpool(io.LimitReader(raw, maxSize+1), -1, g.opts.SpoolMemory, g.opts.SpoolDir)
	if err != nil {
		return IngestResult{}, fmt.Errorf("inbound: reading the pushed message: %w", err)
	}
	defer sp.Close()
	folder := w.mb.Inbound.FolderOrDefault()
	item := transport.Item{ID: "push", Size: sp.Size()}
	bg := context.WithoutCancel(ctx)
	if sp.Size() > maxSize {
		// Read no further: the key is the hash of what was read, so the
		// same message pushed again is a duplicate.
		key := "toolarge:push:" + hex.EncodeToString(sp.SHA256[:20])
		res := IngestResult{Key: key, Size: sp.Size()}
		done, err := p.o.Store.Done(ctx, m.ID, key)
		if err != nil {
			return res, err
		}
		if done {
			res.Outcome = IngestDuplicate
			return res, nil
		}
		res.Outcome = IngestQuarantined
		res.Reason = fmt.Sprintf("message exceeds the mailbox limit of %d bytes", maxSize)
		return res, w.quarantine(bg, folder, store.Checkpoint{}, item, key, sp.Size(), res.Reason, nil)
	}
	res, err := w.deliverOne(ctx, folder, store.Checkpoint{}, item, sp, nil)
	var pe *errPaused
	if errors.As(err, &pe) {
		return res, fmt.Errorf("inbound: the handler failed temporarily: %w", pe.err)
	}
	return res, err
}
