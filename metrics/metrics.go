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
//
// Synchronous, counted from the events:
//
//	correio.mailbox.transitions            counter  {transition}  inbound health changes, by the state entered
//	correio.outbound.deliveries            counter  {event}       outbound events, by outcome
//	correio.outbound.recipients            counter  {recipient}   recipients concerned, by outcome
//
// Exported to Prometheus, the dots become underscores and the unit and
// _total are appended (correio_outbound_deliveries_total,
// correio_inbound_lag_seconds).
//
// # Attributes and cardinality
//
// Every instrument carries correio.direction ("inbound" or "outbound") and,
// by default, correio.mailbox.id: the mailbox's ID, one series per mailbox
// (and, for correio.mailbox.state, one series per mailbox at a time: only the
// current state is reported). A deployment with thousands of mailboxes
// should set Options.Aggregate: correio.mailbox.id is then left out, the
// state gauge counts mailboxes per state, counters and depths are summed,
// the lag, the ages and the consecutive failures are the largest. Other attributes have bounded values:
// correio.state (the engine.State vocabulary) and correio.outcome
// (delivered, deferred, failed, suppressed, rerouted). Addresses of people,
// subjects and error texts are never attributes.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

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
	// Aggregate leaves out the mailbox ID attribute (bounded cardinality
	// whatever the number of mailboxes).
	Aggregate bool
}

// Metrics holds the instruments. Its methods are safe for concurrent use.
type Metrics struct {
	aggregate bool

	mu       sync.Mutex
	in, out  HealthReporter
	reg      metric.Registration
	closeErr error
	closed   bool

	transitions metric.Int64Counter
	deliveries  metric.Int64Counter
	recipients  metric.Int64Counter

	state, failures           metric.Int64ObservableGauge
	handed, quarantined, dups metric.Int64ObservableCounter
	lag, oldest               metric.Float64ObservableGauge
	depth, active             metric.Int64ObservableGauge
}

// New creates the instruments on a meter of mp and registers the callback
// that reads the engines' health.
func New(mp metric.MeterProvider, o Options) (*Metrics, error) {
	if mp == nil {
		return nil, ErrNoProvider
	}
	mt := mp.Meter(ScopeName)
	m := &Metrics{aggregate: o.Aggregate, in: o.Inbound, out: o.Outbound}
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
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	m.reg, err = mt.RegisterCallback(m.observe, m.state, m.failures, m.handed, m.quarantined, m.dups,
		m.lag, m.depth, m.oldest, m.active)
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
	depth, active                int64
	lag, oldest                  float64
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
		if err != nil {
			errs = append(errs, fmt.Errorf("metrics: %s health: %w", src.dir, err))
			continue
		}
		if m.aggregate {
			m.observeSums(o, src.dir, hs)
			continue
		}
		for _, h := range hs {
			opt := metric.WithAttributes(m.base(src.dir, h)...)
			o.ObserveInt64(m.state, 1, metric.WithAttributes(append(m.base(src.dir, h), AttrState.String(string(h.State)))...))
			o.ObserveInt64(m.failures, int64(h.ConsecutiveFailures), opt)
			if src.dir == "inbound" {
				o.ObserveInt64(m.handed, h.Handled, opt)
				o.ObserveInt64(m.quarantined, h.Quarantined, opt)
				o.ObserveInt64(m.dups, h.Duplicates, opt)
				o.ObserveFloat64(m.lag, h.Lag.Seconds(), opt)
			} else {
				o.ObserveInt64(m.depth, int64(h.QueueDepth), opt)
				o.ObserveFloat64(m.oldest, h.OldestQueued.Seconds(), opt)
				o.ObserveInt64(m.active, int64(h.Active), opt)
			}
		}
	}
	return errors.Join(errs...)
}

func (m *Metrics) observeSums(o metric.Observer, dir string, hs []engine.Health) {
	s := sums{states: map[engine.State]int64{}}
	for _, h := range hs {
		s.states[h.State]++
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
	if dir == "inbound" {
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
