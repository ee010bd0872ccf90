// Package metrics exports the health and the events of correio's two
// engines, inbound.Poller and outbound.Sender, as OpenTelemetry metrics.
//
// It uses the engines' public API only: HealthAll (read at every collection,
// through asynchronous instruments) and the OnEvent hooks (counted as they
// happen). It keeps no global state: the host passes the MeterProvider (an
// SDK provider with a Prometheus or OTLP exporter, or a ManualReader in
// tests) and wires the two hooks itself:
//
//	m, err := metrics.New(provider, metrics.Options{Inbound: poller, Outbound: sender})
//	inOpts.OnEvent = m.InboundEvent   // set before inbound.New
//	outOpts.OnEvent = m.OutboundEvent // set before outbound.New
//	defer m.Close()
//
// Because the hooks are set before the engines exist, Options.Inbound and
// Options.Outbound may also be given later with SetEngines.
//
// # Instruments
//
// Asynchronous, read from HealthAll at each collection:
//
//	correio.mailbox.state                  gauge    {mailbox}  1 for the mailbox's current engine.State
//	correio.mailbox.consecutive_failures   gauge    {failure}
//	correio.inbound.messages.handed        counter  {message}  since the engine started
//	correio.inbound.messages.quarantined   counter  {message}  since the engine started
//	correio.inbound.messages.duplicates    counter  {message}  since the engine started
//	correio.inbound.lag                    gauge    s          age of the oldest message not yet handed off
//	correio.outbound.queue.depth           gauge    {message}
//	correio.outbound.queue.oldest_age      gauge    s
//	correio.outbound.batches.active        gauge    {batch}
//	correio.inbound.check.age              gauge    s          time since the mailbox was last checked
//	correio.mailbox.needs_person           gauge    {mailbox}  mailboxes only a person can fix (Health.NeedsPerson)
//
// Synchronous, counted from the events:
//
//	correio.mailbox.transitions            counter  {transition}  health changes (inbound events, outbound EventHealth), by the state entered
//	correio.outbound.deliveries            counter  {event}       outbound events, by outcome
//	correio.outbound.recipients            counter  {recipient}   recipients concerned, by outcome
//
// The outcomes are delivered (sent), deferred, failed (bounced: refused
// for good, or retried past MaxAge), suppressed, rerouted and cancelled.
//
// Histograms, from the engines' spans through SpanProcessor (add it to the
// SDK TracerProvider passed to the engines):
//
//	correio.inbound.check.duration         histogram s  a session, or a kept session's check
//	correio.inbound.handoff.duration       histogram s  the host Handler's hand-off, by outcome
//	correio.outbound.send.duration         histogram s  one message's send
//
// Exported to Prometheus, the dots become underscores and the unit and
// _total are appended (correio_outbound_deliveries_total,
// correio_inbound_lag_seconds).
//
// # Attributes and cardinality
//
// Every instrument carries correio.direction ("inbound" or "outbound").
// By default the cardinality is bounded whatever the number of mailboxes:
// the state gauge counts mailboxes per state, counters and depths are
// summed, the lag, the ages and the consecutive failures are the largest.
// Options.PerMailbox adds correio.mailbox.id, one series per mailbox (and,
// for correio.mailbox.state, one series per mailbox at a time: only the
// current state is reported); keep it for small deployments. Other
// attributes have bounded values:
// correio.state (the engine.State vocabulary), correio.outcome, correio.transport
// (imap, pop3, graph, ...) and error.type (the transport error class). Addresses of people,
// subjects and error texts are never attributes.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/outbound"
)

// ScopeName is the instrumentation scope of the meter.
const ScopeName = "github.com/correio-dev/correio/metrics"

// Attribute keys.
const (
	AttrMailbox   = attribute.Key("correio.mailbox.id")
	AttrDirection = attribute.Key("correio.direction")
	AttrState     = attribute.Key("correio.state")
	AttrOutcome   = attribute.Key("correio.outcome")
)

// ErrNoProvider is returned by New without a MeterProvider.
var ErrNoProvider = errors.New("metrics: no MeterProvider")

// HealthReporter is what the asynchronous instruments read: both
// inbound.Poller and outbound.Sender implement it.
type HealthReporter interface {
	HealthAll(ctx context.Context) ([]engine.Health, error)
}

// Options configure the exported metrics.
type Options struct {
	// Inbound and Outbound are the engines whose health is read at each
	// collection (either may be nil).
	Inbound, Outbound HealthReporter
	// PerMailbox adds the mailbox ID attribute: one series per mailbox.
	// Off by default, so the cardinality is bounded whatever the number of
	// mailboxes (mailboxes are counted per state, counters and depths
	// summed, lags, ages and failures the largest).
	PerMailbox bool
	// Clock is the engines' clock, for the age of the last check (default
	// the real one).
	Clock clock.Clock
}

// Metrics holds the instruments. Its methods are safe for concurrent use.
type Metrics struct {
	aggregate bool

	mu       sync.Mutex
	in, out  HealthReporter
	reg      metric.Registration
	closeErr error
	closed   bool
	now      func() time.Time

	transitions metric.Int64Counter
	deliveries  metric.Int64Counter
	recipients  metric.Int64Counter

	state, failures           metric.Int64ObservableGauge
	handed, quarantined, dups metric.Int64ObservableCounter
	lag, oldest, checkAge     metric.Float64ObservableGauge
	depth, active, needs      metric.Int64ObservableGauge

	checkDur, handoffDur, sendDur metric.Float64Histogram
}

// New creates the instruments on a meter of mp and registers the callback
// that reads the engines' health.
func New(mp metric.MeterProvider, o Options) (*Metrics, error) {
	if mp == nil {
		return nil, ErrNoProvider
	}
	mt := mp.Meter(ScopeName)
	m := &Metrics{aggregate: !o.PerMailbox, in: o.Inbound, out: o.Outbound, now: time.Now}
	if o.Clock != nil {
		m.now = o.Clock.Now
	}
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	var err error

	m.transitions, err = mt.Int64Counter("correio.mailbox.transitions", metric.WithUnit("{transition}"),
		metric.WithDescription("Inbound mailbox health changes, by the state entered."))
	add(err)
	m.deliveries, err = mt.Int64Counter("correio.outbound.deliveries", metric.WithUnit("{event}"),
		metric.WithDescription("Outbound delivery events, by outcome."))
	add(err)
	m.recipients, err = mt.Int64Counter("correio.outbound.recipients", metric.WithUnit("{recipient}"),
		metric.WithDescription("Recipients of outbound delivery events, by outcome."))
	add(err)
	m.state, err = mt.Int64ObservableGauge("correio.mailbox.state", metric.WithUnit("{mailbox}"),
		metric.WithDescription("1 for the current state of each mailbox (the count per state when aggregated)."))
	add(err)
	m.failures, err = mt.Int64ObservableGauge("correio.mailbox.consecutive_failures", metric.WithUnit("{failure}"),
		metric.WithDescription("Failures since the last success."))
	add(err)
	m.handed, err = mt.Int64ObservableCounter("correio.inbound.messages.handed", metric.WithUnit("{message}"),
		metric.WithDescription("Messages handed off to the host since the engine started."))
	add(err)
	m.quarantined, err = mt.Int64ObservableCounter("correio.inbound.messages.quarantined", metric.WithUnit("{message}"),
		metric.WithDescription("Messages quarantined since the engine started."))
	add(err)
	m.dups, err = mt.Int64ObservableCounter("correio.inbound.messages.duplicates", metric.WithUnit("{message}"),
		metric.WithDescription("Messages skipped as already handled since the engine started."))
	add(err)
	m.lag, err = mt.Float64ObservableGauge("correio.inbound.lag", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest message seen on the server and not yet handed off."))
	add(err)
	m.depth, err = mt.Int64ObservableGauge("correio.outbound.queue.depth", metric.WithUnit("{message}"),
		metric.WithDescription("Queued outbound messages."))
	add(err)
	m.oldest, err = mt.Float64ObservableGauge("correio.outbound.queue.oldest_age", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest queued outbound message."))
	add(err)
	m.active, err = mt.Int64ObservableGauge("correio.outbound.batches.active", metric.WithUnit("{batch}"),
		metric.WithDescription("Outbound batches in flight."))
	add(err)
	m.checkAge, err = mt.Float64ObservableGauge("correio.inbound.check.age", metric.WithUnit("s"),
		metric.WithDescription("Time since the mailbox was last checked for new mail (the largest when aggregated)."))
	add(err)
	m.needs, err = mt.Int64ObservableGauge("correio.mailbox.needs_person", metric.WithUnit("{mailbox}"),
		metric.WithDescription("Mailboxes in a state only a person can end (auth_failed, reauth_required, down, over_budget)."))
	add(err)
	buckets := metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
	m.checkDur, err = mt.Float64Histogram("correio.inbound.check.duration", metric.WithUnit("s"), buckets,
		metric.WithDescription("Duration of a check of a mailbox: a session (connect, log in, list, fetch, hand off) or a kept session's check."))
	add(err)
	m.handoffDur, err = mt.Float64Histogram("correio.inbound.handoff.duration", metric.WithUnit("s"), buckets,
		metric.WithDescription("Duration of the host Handler's hand-off of one message, by outcome."))
	add(err)
	m.sendDur, err = mt.Float64Histogram("correio.outbound.send.duration", metric.WithUnit("s"), buckets,
		metric.WithDescription("Duration of one message's send over an open connection."))
	add(err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	m.reg, err = mt.RegisterCallback(m.observe, m.state, m.failures, m.handed, m.quarantined, m.dups,
		m.lag, m.depth, m.oldest, m.active, m.checkAge, m.needs)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return m, nil
}

// SetEngines sets (or replaces) the engines whose health is read; a nil
// argument leaves that engine as it was.
func (m *Metrics) SetEngines(in, out HealthReporter) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if in != nil {
		m.in = in
	}
	if out != nil {
		m.out = out
	}
}

// Close unregisters the callback; the instruments stop reporting health.
// It is safe to call more than once.
func (m *Metrics) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		m.closeErr = m.reg.Unregister()
	}
	return m.closeErr
}

// InboundEvent counts an inbound health change; use it as (or call it
// from) inbound.Options.OnEvent.
func (m *Metrics) InboundEvent(e inbound.Event) {
	attrs := m.base("inbound", e.Health)
	attrs = append(attrs, AttrState.String(string(e.Health.State)))
	m.transitions.Add(context.Background(), 1, metric.WithAttributes(attrs...))
}

// OutboundEvent counts an outbound delivery event; use it as (or call it
// from) outbound.Options.OnEvent.
func (m *Metrics) OutboundEvent(e outbound.Event) {
	if e.Kind == outbound.EventHealth { // a state change, not a delivery
		attrs := m.base("outbound", e.Health)
		attrs = append(attrs, AttrState.String(string(e.Health.State)))
		m.transitions.Add(context.Background(), 1, metric.WithAttributes(attrs...))
		return
	}
	attrs := []attribute.KeyValue{AttrDirection.String("outbound"), AttrOutcome.String(e.Kind.String())}
	if !m.aggregate {
		attrs = append(attrs, AttrMailbox.String(string(e.Mailbox)))
	}
	opt := metric.WithAttributes(attrs...)
	ctx := context.Background()
	m.deliveries.Add(ctx, 1, opt)
	if n := len(e.Recipients); n > 0 {
		m.recipients.Add(ctx, int64(n), opt)
	}
}

func (m *Metrics) base(direction string, h engine.Health) []attribute.KeyValue {
	attrs := []attribute.KeyValue{AttrDirection.String(direction)}
	if !m.aggregate {
		attrs = append(attrs, AttrMailbox.String(string(h.Mailbox)))
	}
	return attrs
}

// sums accumulates one direction's health when aggregated.
type sums struct {
	states                       map[engine.State]int64
	failures, handed, quar, dups int64
	depth, active, needs         int64
	lag, oldest, checkAge        float64
}

func (m *Metrics) observe(ctx context.Context, o metric.Observer) error {
	m.mu.Lock()
	in, out := m.in, m.out
	m.mu.Unlock()
	var errs []error
	for _, src := range []struct {
		dir string
		r   HealthReporter
	}{{"inbound", in}, {"outbound", out}} {
		if src.r == nil {
			continue
		}
		hs, err := src.r.HealthAll(ctx)
		now := m.now()
		if err != nil {
			errs = append(errs, fmt.Errorf("metrics: %s health: %w", src.dir, err))
			continue
		}
		if m.aggregate {
			m.observeSums(o, src.dir, hs, now)
			continue
		}
		for _, h := range hs {
			opt := metric.WithAttributes(m.base(src.dir, h)...)
			o.ObserveInt64(m.state, 1, metric.WithAttributes(append(m.base(src.dir, h), AttrState.String(string(h.State)))...))
			o.ObserveInt64(m.failures, int64(h.ConsecutiveFailures), opt)
			o.ObserveInt64(m.needs, b2i(h.NeedsPerson()), opt)
			if src.dir == "inbound" {
				o.ObserveInt64(m.handed, h.Handled, opt)
				o.ObserveInt64(m.quarantined, h.Quarantined, opt)
				o.ObserveInt64(m.dups, h.Duplicates, opt)
				o.ObserveFloat64(m.lag, h.Lag.Seconds(), opt)
				if !h.LastCheck.IsZero() {
					o.ObserveFloat64(m.checkAge, now.Sub(h.LastCheck).Seconds(), opt)
				}
			} else {
				o.ObserveInt64(m.depth, int64(h.QueueDepth), opt)
				o.ObserveFloat64(m.oldest, h.OldestQueued.Seconds(), opt)
				o.ObserveInt64(m.active, int64(h.Active), opt)
			}
		}
	}
	return errors.Join(errs...)
}

func (m *Metrics) observeSums(o metric.Observer, dir string, hs []engine.Health, now time.Time) {
	s := sums{states: map[engine.State]int64{}}
	for _, h := range hs {
		s.states[h.State]++
		s.needs += b2i(h.NeedsPerson())
		if !h.LastCheck.IsZero() {
			s.checkAge = max(s.checkAge, now.Sub(h.LastCheck).Seconds())
		}
		s.failures = max(s.failures, int64(h.ConsecutiveFailures))
		s.handed += h.Handled
		s.quar += h.Quarantined
		s.dups += h.Duplicates
		s.depth += int64(h.QueueDepth)
		s.active += int64(h.Active)
		s.lag = max(s.lag, h.Lag.Seconds())
		s.oldest = max(s.oldest, h.OldestQueued.Seconds())
	}
	d := AttrDirection.String(dir)
	for st, n := range s.states {
		o.ObserveInt64(m.state, n, metric.WithAttributes(d, AttrState.String(string(st))))
	}
	opt := metric.WithAttributes(d)
	o.ObserveInt64(m.failures, s.failures, opt)
	o.ObserveInt64(m.needs, s.needs, opt)
	if dir == "inbound" {
		o.ObserveFloat64(m.checkAge, s.checkAge, opt)
		o.ObserveInt64(m.handed, s.handed, opt)
		o.ObserveInt64(m.quarantined, s.quar, opt)
		o.ObserveInt64(m.dups, s.dups, opt)
		o.ObserveFloat64(m.lag, s.lag, opt)
		return
	}
	o.ObserveInt64(m.depth, s.depth, opt)
	o.ObserveFloat64(m.oldest, s.oldest, opt)
	o.ObserveInt64(m.active, s.active, opt)
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
