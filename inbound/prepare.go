package inbound

import (
	"context"

	"github.com/correio-dev/correio/message"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/threading"
	"github.com/correio-dev/correio/transport"
)

// The parse stage. During a sync, a goroutine between the producer (the
// FETCHes) and the worker parses each fetched message, computes its key,
// classifies it and asks the store whether the key is done, so the worker
// only hands off and records. It works a few messages ahead (prepareAhead
// waiting for the worker, one in the worker's hands, and the group it is
// preparing: at most prepareGroup messages that had arrived already, under
// about prepareMaxSize bytes); a message above prepareMaxSize, or spooled
// to a file, is passed on untouched and prepared by the worker as before,
// so the stage holds at most prepareAhead+prepareGroup+1 small parsed
// messages. The order of hand-offs does not change: the worker
// still takes the messages by ID in UID order.
const (
	prepareAhead   = 4
	prepareMaxSize = 1 << 20
)

// prepared is a fetched message and, when ok, what the parse stage made of
// it. done answers the store's Done for key at the time of the stage; the
// worker adds the keys it committed since (worker.recent).
type prepared struct {
	sp   *transport.Spool
	ok   bool
	m    *message.Message
	perr error
	key  string
	cls  message.Classification
	// checked says done holds the store's answer (false when the lookup
	// failed: the worker asks again).
	checked, done bool
}

// parseOptions are the options the mailbox's messages are parsed with.
func (w *worker) parseOptions() message.Options {
	o := w.p.o.Parse
	if o.MaxSize == 0 {
		o.MaxSize = w.mb.Inbound.MaxMessageSizeOrDefault()
	}
	return o
}

// classifyOne is the classification of m in w's mailbox.
func (w *worker) classifyOne(m *message.Message) message.Classification {
	return classify(m, message.ClassifyOptions{LoopHeader: threading.LoopHeader, OwnAddresses: w.p.ownFrom(m)})
}

// prepare is the parse stage: it reads in until it is closed, prepares
// each message and sends it on out (closed at the end). The end-of-batch
// marker end is passed on as it is. It uses only what is safe beside the
// worker: the spools (not yet the worker's), the store's Done and the
// Poller's own addresses. When several spools have arrived already (the
// worker is behind), it takes up to prepareGroup of them (prepareMaxSize
// bytes in all) and asks the store about their keys in one lookup
// (store.DoneBatcher) instead of one each; it never waits for a spool to
// fill a group.
func (w *worker) prepare(ctx context.Context, in <-chan *transport.Spool, out chan<- *prepared, end *transport.Spool) {
	defer close(out)
	opts := w.parseOptions()
	batcher, _ := w.p.o.Store.(store.DoneBatcher)
	group := make([]*prepared, 0, prepareGroup)
	keys := make([]string, 0, prepareGroup)
	for sp := range in {
		group = append(group[:0], w.prepareOne(ctx, sp, end, opts))
		size := sp.Size()
	more:
		for len(group) < prepareGroup && size < prepareMaxSize {
			select {
			case sp, ok := <-in:
				if !ok {
					break more
				}
				group = append(group, w.prepareOne(ctx, sp, end, opts))
				size += sp.Size()
			default:
				break more
			}
		}
		keys = keys[:0]
		for _, pr := range group {
			if pr.ok {
				keys = append(keys, pr.key)
			}
		}
		switch {
		case len(keys) == 0:
		case batcher != nil && len(keys) > 1:
			if done, err := batcher.DoneKeys(ctx, w.mb.ID, keys); err == nil && len(done) == len(keys) {
				i := 0
				for _, pr := range group {
					if pr.ok {
						pr.checked, pr.done = true, done[i]
						i++
					}
				}
			} // else the worker asks for each (checked stays false)
		default:
			for _, pr := range group {
				if pr.ok {
					done, err := w.p.o.Store.Done(ctx, w.mb.ID, pr.key)
					pr.checked, pr.done = err == nil, done
				}
			}
		}
		for i, pr := range group {
			out <- pr
			group[i] = nil
		}
	}
}

// prepareGroup is how many arrived messages the parse stage prepares
// together, with one lookup of their keys.
const prepareGroup = 16

// prepareOne parses sp, computes its key and classifies it, unless it is
// the end marker, large, spooled to a file or the sync is ending (then
// the worker prepares it). The store is not asked yet.
func (w *worker) prepareOne(ctx context.Context, sp, end *transport.Spool, opts message.Options) *prepared {
	pr := &prepared{sp: sp}
	if sp == end || !sp.InMemory() || sp.Size() > prepareMaxSize || ctx.Err() != nil {
		return pr
	}
	pr.ok = true
	pr.m, pr.perr = message.ParseContext(ctx, sp, sp.Size(), opts)
	msgID := ""
	if pr.m != nil {
		msgID = pr.m.MessageID
	}
	pr.key = w.keyPrefix + Key(msgID, sp.SHA256)
	if pr.perr == nil && pr.m != nil {
		pr.cls = w.classifyOne(pr.m)
	}
	return pr
}

// noteKey remembers key, handled (or found done, or quarantined) in the
// fetch batch being handed off, for the keys the parse stage looked up
// before it was committed.
func (w *worker) noteKey(key string) {
	if w.recent[0] == nil {
		w.recent[0] = map[string]bool{}
	}
	w.recent[0][key] = true
}

// nextBatch starts a fetch batch's keys. The parse stage looks up a key of
// batch b only once the worker has finished batch b-2 (the producer
// starts b when b-2 gives back its token, after b-2's group commit): what
// was committed since is in the keys of batches b-1 and b.
func (w *worker) nextBatch() {
	w.recent[0], w.recent[1] = w.recent[1], w.recent[0]
	clear(w.recent[0])
}

// recentKey reports whether key was handled in this fetch batch or the
// one before.
func (w *worker) recentKey(key string) bool { return w.recent[0][key] || w.recent[1][key] }
