package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/smtp"
	"github.com/correio-dev/correio/workflow"
)

// engines wires correio's engines for the helpdesk: an outbound Sender
// delivering what the email step enqueues, with a Runner that resolves,
// expands and renders the step.
//
// The outbox lives in memory here (store/memory), so a restart forgets the
// queue; a production host plugs a durable adapter of outbound.Outbox in
// its place.
type engines struct {
	cat    Catalog
	log    *slog.Logger
	smtpTr *smtp.Transport
	outbox *memory.Outbox
	sender *outbound.Sender
	runner *outbound.Runner
	cancel context.CancelFunc
}

func startEngines(ctx context.Context, cat Catalog, dir workflow.Directory, log *slog.Logger, o engineOptions) (*engines, error) {
	return newEngines(ctx, cat, dir, log, o)
}

func newEngines(ctx context.Context, cat Catalog, dir workflow.Directory, log *slog.Logger, o engineOptions) (*engines, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	netw := transport.Net{Policy: o.Policy, DialTimeout: 10 * time.Second}
	e := &engines{
		cat:    cat,
		log:    log,
		outbox: memory.NewOutbox(),
	}
	e.smtpTr = smtp.New(smtp.Options{Net: netw, RootCAs: o.RootCAs, CommandTimeout: 30 * time.Second, Logger: log})
	sender, err := outbound.New(outbound.Options{
		Outbox:    e.outbox,
		Catalog:   cat,
		Transport: e.smtpTr,
		Logger:    log,
		// Retry soon: an administrator is watching the page.
		RetryBase: 5 * time.Second,
		RetryMax:  5 * time.Minute,
	})
	if err != nil {
		return nil, err
	}
	e.sender = sender
	e.runner = &outbound.Runner{Resolver: routing.NewResolver(cat), Directory: dir, Sender: sender}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.cancel = cancel
	if err := sender.Start(runCtx); err != nil {
		cancel()
		return nil, err
	}
	return e, nil
}

// Close stops the sender (a message in flight is finished or released).
func (e *engines) Close() {
	e.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = e.sender.Stop(ctx)
}

func (e *engines) MailboxSaved(*mailbox.Mailbox) {}
func (e *engines) MailboxRemoved(mailbox.ID)     {}

func (e *engines) Probe(ctx context.Context, m *mailbox.Mailbox) (ProbeResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var res ProbeResult
	switch m.Kind {
	case mailbox.Inbound:
		return res, errProbeUnavailable
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

func (e *engines) Health(ctx context.Context) map[mailbox.ID]HealthView {
	out := map[mailbox.ID]HealthView{}
	hs, err := e.sender.HealthAll(ctx)
	if err != nil {
		e.log.Error("health", "err", err)
	}
	for _, h := range hs {
		st := string(h.State)
		if h.State == outbound.HealthOpen {
			st = "down"
		}
		out[h.Mailbox] = HealthView{State: st, Detail: h.LastError, Queue: h.QueueDepth}
	}
	return out
}

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

func (e *engines) Messages(ctx context.Context) (MessageLog, error) {
	log := MessageLog{FromEngines: true}
	// The latest records, every state (queued, sent, dead).
	recs, err := e.outbox.List(ctx, outbound.ListFilter{})
	if err != nil {
		return log, err
	}
	if len(recs) > 500 {
		recs = recs[len(recs)-500:]
	}
	for _, r := range recs {
		it := SentItem{At: r.EnqueuedAt, Contract: r.Contract, Mailbox: r.Mailbox, Subject: r.Message.Subject,
			State: r.State.String(), MessageID: r.MessageID, Rule: r.Rule, Reason: r.Reason}
		if it.Reason == "" {
			it.Reason = r.LastError
		}
		for _, rc := range r.Recipients {
			it.To = append(it.To, rc.Address.Address)
		}
		log.Sent = append(log.Sent, it)
	}
	return log, nil
}
