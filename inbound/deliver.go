package inbound

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/internal/telemetry"
	"github.com/correio-dev/correio/message"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/threading"
	"github.com/correio-dev/correio/transport"
)

// classify is message.Classify; benchmarks swap it to measure the engine
// apart from classification.
var classify = message.Classify

func (w *worker) quarantine(ctx context.Context, folder string, next store.Checkpoint, i transport.Item, key string, size int64, reason string, sp *transport.Spool) error {
	p := w.p
	st := p.o.Store
	if err := w.flush(ctx); err != nil { // keep the commits in order
		return err
	}
	q := store.QuarantineItem{Mailbox: w.mb.ID, Folder: folder, Key: key, UIDValidity: i.UIDValidity, UID: i.UID, Size: size, Reason: reason, At: p.clk.Now(), Fence: w.fence}
	var err error
	if sp != nil {
		err = st.Quarantine(ctx, q, sp.Reader())
	} else {
		err = st.Quarantine(ctx, q, nil)
	}
	if err != nil {
		return err
	}
	rc := receiptFor(w.mb.Inbound, i.ID, i.UIDValidity, true)
	if err := st.Commit(ctx, store.InboundRecord{Mailbox: w.mb.ID, Folder: folder, Key: key, Checkpoint: next, Outcome: store.Quarantined, At: q.At, Fence: w.fence, Receipt: rc}); err != nil {
		return err
	}
	w.owe(key, rc)
	p.log.Warn("inbound: message quarantined", "mailbox", string(w.mb.ID), "uid", i.UID, "id", i.ID, "reason", reason)
	p.update(w.mb.ID, func(h *engine.Health) (engine.State, string) { h.Quarantined++; return "", "" })
	return nil
}

// deliverOne parses, classifies and hands off one message, saying what
// became of it (Ingest reports it). pre, when not nil and ok, is what the
// parse stage made of sp.
func (w *worker) deliverOne(ctx context.Context, folder string, next store.Checkpoint, i transport.Item, sp *transport.Spool, pre *prepared) (IngestResult, error) {
	p := w.p
	st := p.o.Store
	bg := context.WithoutCancel(ctx)
	if pre != nil && !pre.ok {
		pre = nil
	}
	var m *message.Message
	var perr error
	var key string
	if pre != nil {
		m, perr, key = pre.m, pre.perr, pre.key
	} else {
		m, perr = message.ParseContext(ctx, sp, sp.Size(), w.parseOptions())
	}
	msgID := ""
	if m != nil {
		msgID = m.MessageID
	}
	if pre == nil {
		key = w.keyPrefix + Key(msgID, sp.SHA256)
	}
	res := IngestResult{Key: key, MessageID: msgID, Size: sp.Size()}
	// Handed off in this batch and not committed yet, or committed since
	// the parse stage looked the key up.
	done := w.pending(key) || (pre != nil && w.recentKey(key))
	switch {
	case done:
	case pre != nil && pre.checked:
		done = pre.done
	default:
		var err error
		if done, err = st.Done(ctx, w.mb.ID, key); err != nil {
			return res, err
		}
	}
	if done {
		// Handled before (moved back, or a UIDVALIDITY change): not handed
		// again, but owed the mailbox's post-action like the first time.
		p.update(w.mb.ID, func(h *engine.Health) (engine.State, string) { h.Duplicates++; return "", "" })
		res.Outcome = IngestDuplicate
		rc := receiptFor(w.mb.Inbound, i.ID, i.UIDValidity, false)
		if rc == nil {
			return res, w.setCheckpoint(bg, folder, next)
		}
		return res, w.record(bg, store.InboundRecord{Mailbox: w.mb.ID, Folder: folder, Key: key, Checkpoint: next, Outcome: store.Handled, At: p.clk.Now(), Fence: w.fence, Receipt: rc})
	}
	quarantine := func(reason string) (IngestResult, error) {
		res.Outcome, res.Reason = IngestQuarantined, reason
		return res, w.quarantine(bg, folder, next, i, key, sp.Size(), reason, sp)
	}
	if perr != nil || m == nil {
		return quarantine("unreadable: " + errText(perr))
	}
	d := &Delivery{Key: key, Mailbox: w.mb, Message: m, Warnings: m.Warnings, Auth: m.Auth, FromAuthenticated: m.Auth != nil && m.Auth.FromAuthenticated,
		UID: i.UID, UIDValidity: i.UIDValidity, Size: sp.Size(), raw: sp, next: next, itemID: i.ID}
	if p.o.Catalog != nil {
		d.MailboxContract, _ = p.o.Catalog.InboundOwner(w.mb.ID)
	}
	d.Contract = d.MailboxContract
	if pre != nil {
		d.Classification = pre.cls
	} else {
		d.Classification = w.classifyOne(m)
	}
	d.SenderFlood = w.flood(m)
	th, err := w.thread(ctx, m)
	if err != nil {
		return res, &errPaused{err: fmt.Errorf("thread lookup: %w", err)}
	}
	if th != nil {
		d.Thread = th
		if th.Ref.Contract != "" {
			d.Contract = th.Ref.Contract
			d.ContractMismatch = d.MailboxContract != "" && th.Ref.Contract != d.MailboxContract
		}
	}
	if err := w.flushIfOld(bg); err != nil {
		return res, err
	}
	hctx, handed := p.finishing(ctx)
	// The hand-off's span is the parent of the host's own (the Handler's
	// context carries it).
	hctx, span := p.tracer.Start(hctx, "correio.inbound.handoff", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(telemetry.AttrMailbox.String(string(w.mb.ID)), telemetry.AttrMsgOpName.String("handoff"),
			telemetry.AttrMsgOpType.String("process"), telemetry.AttrMsgBodySize.Int64(sp.Size())))
	herr := w.call(hctx, d)
	switch {
	case herr == nil:
		span.SetAttributes(telemetry.AttrOutcome.String(string(IngestHandled)))
	case IsPermanent(herr):
		span.SetAttributes(telemetry.AttrOutcome.String(string(IngestQuarantined)), telemetry.AttrErrorType.String("handler_refused"))
		span.SetStatus(codes.Error, "handler_refused")
	default:
		span.SetAttributes(telemetry.AttrOutcome.String("paused"), telemetry.AttrErrorType.String("handler_failed"))
		span.SetStatus(codes.Error, "handler_failed")
	}
	span.End()
	handed()
	switch {
	case herr == nil:
		rc := receiptFor(w.mb.Inbound, i.ID, i.UIDValidity, false)
		if err := w.record(bg, store.InboundRecord{Mailbox: w.mb.ID, Folder: folder, Key: key, Checkpoint: next, Outcome: store.Handled, At: p.clk.Now(), Fence: w.fence, Contract: d.Contract, Receipt: rc}); err != nil {
			return res, err
		}
		w.pauses = 0
		p.update(w.mb.ID, func(h *engine.Health) (engine.State, string) {
			h.Handled++
			h.LastSuccess = p.clk.Now()
			h.LastError, h.ConsecutiveFailures = "", 0
			return "", ""
		})
		res.Outcome, res.Contract = IngestHandled, d.Contract
		return res, nil
	case IsPermanent(herr):
		return quarantine("refused by handler: " + redact(w.mb, herr))
	default:
		return res, &errPaused{err: herr}
	}
}

// call runs the handler, turning a panic into a temporary error.
func (w *worker) call(ctx context.Context, d *Delivery) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("inbound: handler panicked: %v", r)
		}
	}()
	return w.p.o.Handler.HandleMessage(ctx, d)
}

func errText(err error) string {
	if err == nil {
		return "no message"
	}
	return err.Error()
}

// thread matches a reply to a message correio sent (threading.Find:
// In-Reply-To, then References, newest first, then the subject token).
func (w *worker) thread(ctx context.Context, m *message.Message) (*threading.Match, error) {
	return threading.Find(ctx, w.p.o.Sent, w.p.tokens, m.InReplyTo, m.References, m.Subject)
}
