package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/metrics"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/sqlstore"
	"github.com/correio-dev/correio/threading"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/imap"
	"github.com/correio-dev/correio/transport/smtp"
	"github.com/correio-dev/correio/workflow"
)

// engines wires correio's engines for the helpdesk: an inbound Poller
// reading every inbound mailbox of the catalog and handing messages to the
// helpdesk, and an outbound Sender delivering what the email step
// enqueues, with a Runner that resolves, expands and renders the step.
//
// The outbox, the suppression list and the poller's state live in the same
// SQLite or Postgres store as the catalog (engineOptions.Stores), so the
// queue survives a restart and no message is handed twice; tests keep
// them in memory.
type engines struct {
	cat    store.Catalog
	log    *slog.Logger
	smtpTr *smtp.Transport
	outbox interface {
		store.Outbox
		threading.SentIndex
	}
	sender *outbound.Sender
	runner *outbound.Runner
	cancel context.CancelFunc

	imapCfg    *imap.Config
	inStore    store.Inbound
	quarantine quarantineStore
	poller     *inbound.Poller
	done       chan struct{}

	mu       sync.Mutex
	received []ReceivedItem

	// The engines' telemetry: OpenTelemetry metrics (the metrics package,
	// the latency histograms from the spans) exported for Prometheus on
	// the helpdesk's own registry (no global state), served at /metrics.
	metrics  *metrics.Metrics
	meters   *sdkmetric.MeterProvider
	tracer   *sdktrace.TracerProvider
	promHTTP http.Handler
}

// startEngines starts the poller over the catalog's inbound mailboxes and
// the sender; Close stops them.
func startEngines(ctx context.Context, cat store.Catalog, dir workflow.Directory, log *slog.Logger, o engineOptions) (*engines, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	netw := transport.Net{Policy: o.Policy, DialTimeout: 10 * time.Second}
	e := &engines{cat: cat, log: log, done: make(chan struct{})}
	var supp store.Suppressions
	if st := o.Stores; st != nil {
		e.outbox, e.inStore, e.quarantine, supp = st.Outbox, st.Inbound, st.Quarantine, st.Suppressions
	} else {
		mem := memory.NewInboundStore()
		e.outbox, e.inStore, supp = memory.NewOutbox(), mem, memory.NewSuppressions()
		e.quarantine = memQuarantine{mem}
	}
	e.imapCfg = &imap.Config{Net: netw, Timeout: 30 * time.Second, Logger: log}
	if o.RootCAs != nil {
		e.imapCfg.TLSConfig = &tls.Config{RootCAs: o.RootCAs}
	}
	e.smtpTr = smtp.New(smtp.Options{Net: netw, RootCAs: o.RootCAs, CommandTimeout: 30 * time.Second, Logger: log})
	if err := e.startTelemetry(); err != nil {
		return nil, err
	}
	sources, senders := transports(o, netw, e.imapCfg, e.smtpTr, log) // engines_api.go
	sender, err := outbound.New(outbound.Options{
		OnEvent:        e.outboundEvent,
		TracerProvider: e.tracer,
		Outbox:         e.outbox,
		Suppressions:   supp,
		Catalog:        cat,
		Transport:      senders,
		Logger:         log,
		// Retry soon: an administrator is watching the page.
		RetryBase: 5 * time.Second,
		RetryMax:  5 * time.Minute,
	})
	if err != nil {
		return nil, err
	}
	e.sender = sender
	e.runner = &outbound.Runner{Resolver: routing.NewResolver(cat), Directory: dir, Sender: sender}
	poller, err := inbound.New(inbound.Options{
		OnEvent:        e.inboundEvent,
		TracerProvider: e.tracer,
		Store:          e.inStore,
		Handler:        inbound.HandlerFunc(e.handle),
		Catalog:        cat,
		Sent:           e.outbox,
		Source:         sources,
		Logger:         log,
	})
	if err != nil {
		return nil, err
	}
	e.poller = poller
	e.metrics.SetEngines(poller, sender)
	for _, id := range o.Paused {
		if err := e.Pause(ctx, id); err != nil {
			log.Warn("a paused mailbox is gone", "mailbox", string(id), "err", err)
		}
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.cancel = cancel
	if err := sender.Start(runCtx); err != nil {
		cancel()
		return nil, err
	}
	go func() {
		defer close(e.done)
		_ = poller.Run(runCtx)
	}()
	return e, nil
}

// Close stops the poller (in-flight hand-offs finish) and the sender (a
// message in flight is finished or released).
func (e *engines) Close() {
	e.cancel()
	<-e.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = e.sender.Stop(ctx)
	_ = e.metrics.Close()
	_ = e.tracer.Shutdown(ctx)
	_ = e.meters.Shutdown(ctx)
}

// handle is the helpdesk's inbound.Handler: a real host creates a ticket
// or a comment here, in its own transaction, keyed by d.Key so a repeated
// hand-off changes nothing.
func (e *engines) handle(_ context.Context, d *inbound.Delivery) error {
	it := ReceivedItem{At: time.Now(), Contract: d.Contract, Mailbox: d.Mailbox.ID, Subject: d.Message.Subject, Key: d.Key}
	if len(d.Message.From) > 0 {
		it.From = d.Message.From[0].String()
	}
	if d.Thread != nil {
		it.Thread = d.Thread.Ref.Thread
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.received {
		if r.Key == d.Key {
			return nil
		}
	}
	e.received = append(e.received, it)
	return nil
}

// MailboxSaved applies a saved mailbox now: the poller starts (or
// restarts with the new settings, or stops, when it is no longer inbound)
// reading it; the sender reads outbound settings at every batch. The
// poller would also pick the change up from the catalog's version by
// itself, within its refresh interval.
func (e *engines) MailboxSaved(*mailbox.Mailbox) { e.poller.Reload() }

// MailboxRemoved stops polling a removed mailbox now.
func (e *engines) MailboxRemoved(mailbox.ID) { e.poller.Reload() }

// Probe runs transport/imap.Probe or the SMTP transport's Probe on unsaved
// settings, through the same Net (and address policy) the engines use.
func (e *engines) Probe(ctx context.Context, m *mailbox.Mailbox) (ProbeResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var res ProbeResult
	switch m.Kind {
	case mailbox.Inbound:
		rep, err := imap.Probe(ctx, e.imapCfg, m)
		res.Rows = [][2]string{{"probe.server", rep.Server}, {"probe.security", string(rep.Security)}, {"probe.folder", rep.Folder}}
		if err == nil {
			var caps []string
			for _, c := range []struct {
				on   bool
				name string
			}{{rep.Caps.Idle, "IDLE"}, {rep.Caps.Move, "MOVE"}, {rep.Caps.UIDPlus, "UIDPLUS"}, {rep.Caps.CondStore, "CONDSTORE"}} {
				if c.on {
					caps = append(caps, c.name)
				}
			}
			res.Rows = append(res.Rows,
				[2]string{"probe.messages", fmt.Sprint(rep.Messages)},
				[2]string{"probe.unseen", fmt.Sprint(rep.Unseen)},
				[2]string{"probe.uidvalidity", fmt.Sprint(rep.UIDValidity)},
				[2]string{"probe.caps", strings.Join(caps, " ")},
				[2]string{"probe.time", rep.Elapsed.Round(time.Millisecond).String()})
		}
		res.Warnings = rep.Warnings
		return res, err
	case mailbox.Outbound:
		rep, err := e.smtpTr.Probe(ctx, m)
		res.Rows = [][2]string{{"probe.server", rep.Server}, {"probe.security", string(rep.Security)}}
		if rep.Greeting != "" {
			res.Rows = append(res.Rows, [2]string{"probe.greeting", rep.Greeting})
		}
		if rep.TLSVersion != "" {
			res.Rows = append(res.Rows, [2]string{"probe.tls", rep.TLSVersion + " " + rep.TLSCipher})
		}
		if len(rep.AuthMechanisms) > 0 {
			res.Rows = append(res.Rows, [2]string{"probe.auth", strings.Join(rep.AuthMechanisms, " ")})
		}
		if rep.Authenticated {
			res.Rows = append(res.Rows, [2]string{"probe.login", rep.AuthMechanism})
		}
		return res, err
	}
	return res, errors.New("helpdesk: mailbox has no kind")
}

// Health merges the poller's and the sender's views of the mailboxes.
func (e *engines) Health(ctx context.Context) map[mailbox.ID]HealthView {
	out := map[mailbox.ID]HealthView{}
	inHealth, _ := e.poller.HealthAll(ctx)
	for _, h := range inHealth {
		out[h.Mailbox] = HealthView{State: string(h.State), Detail: h.LastError}
	}
	// Every outbound mailbox of the catalog, idle ones included.
	for _, m := range e.cat.Mailboxes() {
		if m.Kind != mailbox.Outbound {
			continue
		}
		h, err := e.sender.Health(ctx, m.ID)
		if err != nil {
			e.log.Error("health", "mailbox", m.ID, "err", err)
			continue
		}
		out[h.Mailbox] = HealthView{State: string(h.State), Detail: h.LastError, Queue: h.QueueDepth}
	}
	return out
}

// Send runs the email step through outbound.Runner: resolve, expand,
// render, enqueue.
func (e *engines) Send(ctx context.Context, c *workflow.EmailConnector, f SendFlow) (SendResult, error) {
	res, err := e.runner.Run(ctx, c, outbound.Flow{Contract: f.Contract, Thread: f.Thread, Vars: f.Vars})
	out := SendResult{Decision: res.Decision, Expansion: res.Expansion, IDs: res.IDs}
	for _, id := range res.IDs {
		if r, gerr := e.outbox.Get(ctx, id); gerr == nil {
			out.Subject = r.Message.Subject
			out.MessageIDs = append(out.MessageIDs, r.MessageID)
		}
	}
	return out, err
}

// Messages lists the outbox records, the messages handed to the helpdesk
// and the quarantined ones.
func (e *engines) Messages(ctx context.Context) (MessageLog, error) {
	log := MessageLog{FromEngines: true}
	// The latest records, every state (queued, sent, dead).
	recs, err := e.outbox.List(ctx, store.OutboxFilter{})
	if err != nil {
		return log, err
	}
	if len(recs) > maxSentListed {
		log.SentOmitted = len(recs) - maxSentListed
		recs = recs[log.SentOmitted:]
	}
	for _, r := range recs {
		it := SentItem{ID: r.ID, At: r.EnqueuedAt, Contract: r.Contract, Mailbox: r.Mailbox, Subject: r.Message.Subject,
			State: r.State.String(), MessageID: r.MessageID, Rule: r.Rule, Reason: r.Reason}
		if it.Reason == "" {
			it.Reason = r.LastError
		}
		for _, rc := range r.Recipients {
			it.To = append(it.To, rc.Address.Address)
		}
		log.Sent = append(log.Sent, it)
	}
	e.mu.Lock()
	log.Received = slices.Clone(e.received)
	e.mu.Unlock()
	for _, m := range e.cat.Mailboxes() {
		if m.Kind != mailbox.Inbound {
			continue
		}
		owner, _ := e.cat.InboundOwner(m.ID)
		qs, err := e.quarantine.Quarantined(ctx, sqlstore.QuarantineFilter{Mailbox: m.ID})
		if err != nil {
			return log, err
		}
		for _, q := range qs {
			log.Quarantined = append(log.Quarantined, QuarantinedItem{ID: q.ID, HasRaw: q.HasRaw, At: q.At, Contract: owner,
				Mailbox: m.ID, Reason: q.Reason, Size: q.Size, Key: q.Key})
		}
	}
	return log, nil
}
