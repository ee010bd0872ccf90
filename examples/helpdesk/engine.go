package main

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"time"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/threading"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/workflow"
)

// Engine is what the pages need from correio's engines: probing a mailbox,
// its health, running an email step, and the mail sent, received and
// quarantined. The pages depend on this small interface only, so the
// wiring of the inbound Poller and the outbound Sender stays in one file.
type Engine interface {
	// Probe runs the "test connection" of an unsaved mailbox.
	Probe(ctx context.Context, m *mailbox.Mailbox) (ProbeResult, error)
	// Health returns what is known of each mailbox (absent: unknown).
	Health(ctx context.Context) map[mailbox.ID]HealthView
	// Send runs an email step for a test request.
	Send(ctx context.Context, c *workflow.EmailConnector, f SendFlow) (SendResult, error)
	// Messages lists the mail sent, received and quarantined.
	Messages(ctx context.Context) (MessageLog, error)
	// MailboxSaved and MailboxRemoved keep the engines in step with the
	// catalog (an inbound mailbox starts or stops being polled).
	MailboxSaved(m *mailbox.Mailbox)
	MailboxRemoved(id mailbox.ID)
	// RetryNow and Cancel act on a queued outbound message (by outbox
	// ID); Release hands a quarantined message (by its store ID) to the
	// helpdesk again and DeleteQuarantined removes it.
	RetryNow(ctx context.Context, id string) error
	Cancel(ctx context.Context, id string) error
	Release(ctx context.Context, id int64) error
	DeleteQuarantined(ctx context.Context, id int64) error
	// HealthAll is both engines' engine.Health of every mailbox (the
	// Status page and /healthz); Pause, Resume and CheckNow act on one
	// mailbox through its engine.
	HealthAll(ctx context.Context) ([]engine.Health, error)
	Pause(ctx context.Context, id mailbox.ID) error
	Resume(ctx context.Context, id mailbox.ID) error
	CheckNow(ctx context.Context, id mailbox.ID) error
	// MetricsHandler serves /metrics (nil: no metrics).
	MetricsHandler() http.Handler
}

// engineOptions configure the engines. The zero value is what the command
// uses by default; tests trust their in-process servers' CA.
type engineOptions struct {
	// RootCAs replaces the system roots for IMAP and SMTP (tests).
	RootCAs *x509.CertPool
	// Policy refuses addresses mailboxes may not connect to; nil allows
	// all (mailboxes typed by administrators). transport.PublicOnly suits
	// mailboxes end users type in.
	Policy transport.AddressPolicy
	// Stores keep the outbox and the poller's state; nil keeps them in
	// memory (tests). The command uses the SQLite or Postgres store's.
	Stores *engineStores
	// Paused are the mailboxes an administrator paused before a restart
	// (kept in the helpdesk's settings): paused before the engines start.
	Paused []mailbox.ID
	// APIs configure the Graph and Gmail API transports (engines_api.go).
	APIs apiOptions
}

// engineStores are the engines' durable state, from store/sqlite or
// store/postgres (both offer the same methods).
type engineStores struct {
	Outbox interface {
		store.Outbox
		threading.SentIndex
	}
	Inbound      store.Inbound
	Suppressions store.Suppressions
	// Quarantine lists, reads and removes quarantined messages.
	Quarantine quarantineStore
}

// errProbeUnavailable is returned by engines that cannot probe.
var errProbeUnavailable = errors.New("helpdesk: connection test not available")

// ProbeResult is the report of a connection test, as rows of a catalog key
// ("probe.server") and a value; a "probe.security" value is a
// mailbox.Security.
type ProbeResult struct {
	Rows     [][2]string
	Warnings []string
}

// HealthView is one mailbox's health: State is a key of the "health."
// messages; Detail the last error; Queue the messages waiting to be sent.
type HealthView struct {
	State  string
	Detail string
	Queue  int
}

// SendFlow is the test request an email step runs for.
type SendFlow struct {
	Contract contract.ID
	Thread   string
	Vars     workflow.Vars
}

// SendResult is what running a step did.
type SendResult struct {
	Decision  routing.Decision
	Expansion workflow.Expansion
	Subject   string
	// IDs are the outbox records queued and MessageIDs their Message-IDs;
	// empty when Recorded.
	IDs        []string
	MessageIDs []string
	// Recorded says the engine only recorded the decision (no sender).
	Recorded bool
}

// SentItem is a message sent (or recorded) for a contract.
type SentItem struct {
	// ID is the outbox record ("" when only recorded).
	ID        string
	At        time.Time
	Contract  contract.ID
	Mailbox   mailbox.ID
	To        []string
	Subject   string
	State     string // key suffix of "messages.state."
	MessageID string
	Rule      routing.Rule
	Reason    string
}

// ReceivedItem is a message handed to the helpdesk by the inbound engine.
type ReceivedItem struct {
	At       time.Time
	Contract contract.ID
	Mailbox  mailbox.ID
	From     string
	Subject  string
	Thread   string
	// Key is the inbound engine's idempotency key of the message.
	Key string
}

// QuarantinedItem is a message put aside, with its reason.
type QuarantinedItem struct {
	// ID is the store's ID of the quarantined message; HasRaw says
	// whether its bytes were kept (a release needs them).
	ID       int64
	HasRaw   bool
	At       time.Time
	Contract contract.ID
	Mailbox  mailbox.ID
	Reason   string
	Size     int64
	Key      string
}

// MessageLog is every message the Messages page lists. FromEngines says
// whether it comes from the engines' stores or the app's own record.
type MessageLog struct {
	Sent        []SentItem
	Received    []ReceivedItem
	Quarantined []QuarantinedItem
	FromEngines bool
	// SentOmitted counts the older outbox records left out (the log
	// holds the latest maxSentListed), so the page can say so.
	SentOmitted int
}

// maxSentListed bounds the outbox records the Messages page lists.
const maxSentListed = 500

// recordEngine resolves, expands and renders email steps through the same
// outbound.Runner as the real engine, into an outbox whose Sender is never
// started: it records what would be sent, without sending. The helpdesk
// falls back to it when no engine is wired (tests of the pages).
type recordEngine struct {
	runner *outbound.Runner
	outbox *memory.Outbox
}

func newRecordEngine(cat engine.Catalog, dir workflow.Directory) *recordEngine {
	e := &recordEngine{outbox: memory.NewOutbox()}
	sender, err := outbound.New(outbound.Options{Outbox: e.outbox, Catalog: cat})
	if err != nil { // only for missing options, which are all given here
		panic(err)
	}
	e.runner = &outbound.Runner{Resolver: routing.NewResolver(cat), Directory: dir, Sender: sender}
	return e
}

func (e *recordEngine) Probe(context.Context, *mailbox.Mailbox) (ProbeResult, error) {
	return ProbeResult{}, errProbeUnavailable
}

func (e *recordEngine) Health(context.Context) map[mailbox.ID]HealthView { return nil }

func (e *recordEngine) MailboxSaved(*mailbox.Mailbox) {}
func (e *recordEngine) MailboxRemoved(mailbox.ID)     {}

// The record-only engine sends nothing and quarantines nothing.
func (e *recordEngine) RetryNow(context.Context, string) error         { return errActionUnavailable }
func (e *recordEngine) Cancel(context.Context, string) error           { return errActionUnavailable }
func (e *recordEngine) Release(context.Context, int64) error           { return errActionUnavailable }
func (e *recordEngine) DeleteQuarantined(context.Context, int64) error { return errActionUnavailable }
func (e *recordEngine) Pause(context.Context, mailbox.ID) error        { return errActionUnavailable }
func (e *recordEngine) Resume(context.Context, mailbox.ID) error       { return errActionUnavailable }
func (e *recordEngine) CheckNow(context.Context, mailbox.ID) error     { return errActionUnavailable }
func (e *recordEngine) MetricsHandler() http.Handler                   { return nil }

// HealthAll: the record-only engine runs no mailbox.
func (e *recordEngine) HealthAll(context.Context) ([]engine.Health, error) { return nil, nil }

func (e *recordEngine) Send(ctx context.Context, c *workflow.EmailConnector, f SendFlow) (SendResult, error) {
	res, err := e.runner.Run(ctx, c, outbound.Flow{Contract: f.Contract, Thread: f.Thread, Vars: f.Vars})
	out := SendResult{Decision: res.Decision, Expansion: res.Expansion, Recorded: err == nil}
	for _, id := range res.IDs {
		if r, gerr := e.outbox.Get(ctx, id); gerr == nil {
			out.Subject = r.Message.Subject
		}
	}
	return out, err
}

func (e *recordEngine) Messages(ctx context.Context) (MessageLog, error) {
	recs, err := e.outbox.List(ctx, store.OutboxFilter{})
	if err != nil {
		return MessageLog{}, err
	}
	var log MessageLog
	for _, r := range recs {
		it := SentItem{At: r.EnqueuedAt, Contract: r.Contract, Mailbox: r.Mailbox, Subject: r.Message.Subject,
			State: "recorded", Rule: r.Rule, Reason: r.DecisionReason}
		for _, rc := range r.Recipients {
			it.To = append(it.To, rc.Address.Address)
		}
		log.Sent = append(log.Sent, it)
	}
	return log, nil
}
