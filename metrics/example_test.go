package metrics_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/metrics"
	"github.com/correio-dev/correio/outbound"
)

// healthList stands in for an engine here; inbound.Poller and
// outbound.Sender implement metrics.HealthReporter the same way.
type healthList []engine.Health

func (l healthList) HealthAll(context.Context) ([]engine.Health, error) { return l, nil }

// Example exports both engines' health and events to an in-memory reader
// (a Prometheus or OTLP exporter is another sdkmetric.Reader).
func Example() {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())

	in := healthList{{Mailbox: "support-in", Kind: mailbox.Inbound, State: engine.StateWaiting,
		Handled: 12, Quarantined: 1, Duplicates: 2, Lag: 1500 * time.Millisecond}}
	out := healthList{{Mailbox: "support-out", Kind: mailbox.Outbound, State: engine.StateRetrying,
		ConsecutiveFailures: 3, QueueDepth: 4, OldestQueued: time.Minute}}

	m, err := metrics.New(provider, metrics.Options{Inbound: in, Outbound: out, PerMailbox: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()

	// The hooks: inbound.Options.OnEvent and outbound.Options.OnEvent.
	m.InboundEvent(inbound.Event{Health: in[0]})
	m.OutboundEvent(outbound.Event{Kind: outbound.EventDelivered, Mailbox: "support-out", Recipients: []string{"a@example.org", "b@example.org"}})
	m.OutboundEvent(outbound.Event{Kind: outbound.EventDeferred, Mailbox: "support-out", Recipients: []string{"c@example.org"}})

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		fmt.Println(err)
		return
	}
	for _, line := range lines(rm) {
		fmt.Println(line)
	}
	// Output:
	// correio.inbound.lag s {correio.direction=inbound correio.mailbox.id=support-in} 1.5
	// correio.inbound.messages.duplicates {message} {correio.direction=inbound correio.mailbox.id=support-in} 2
	// correio.inbound.messages.handed {message} {correio.direction=inbound correio.mailbox.id=support-in} 12
	// correio.inbound.messages.quarantined {message} {correio.direction=inbound correio.mailbox.id=support-in} 1
	// correio.mailbox.consecutive_failures {failure} {correio.direction=inbound correio.mailbox.id=support-in} 0
	// correio.mailbox.consecutive_failures {failure} {correio.direction=outbound correio.mailbox.id=support-out} 3
	// correio.mailbox.needs_person {mailbox} {correio.direction=inbound correio.mailbox.id=support-in} 0
	// correio.mailbox.needs_person {mailbox} {correio.direction=outbound correio.mailbox.id=support-out} 0
	// correio.mailbox.state {mailbox} {correio.direction=inbound correio.mailbox.id=support-in correio.state=waiting} 1
	// correio.mailbox.state {mailbox} {correio.direction=outbound correio.mailbox.id=support-out correio.state=retrying} 1
	// correio.mailbox.transitions {transition} {correio.direction=inbound correio.mailbox.id=support-in correio.state=waiting} 1
	// correio.outbound.batches.active {batch} {correio.direction=outbound correio.mailbox.id=support-out} 0
	// correio.outbound.deliveries {event} {correio.direction=outbound correio.mailbox.id=support-out correio.outcome=deferred} 1
	// correio.outbound.deliveries {event} {correio.direction=outbound correio.mailbox.id=support-out correio.outcome=delivered} 1
	// correio.outbound.queue.depth {message} {correio.direction=outbound correio.mailbox.id=support-out} 4
	// correio.outbound.queue.oldest_age s {correio.direction=outbound correio.mailbox.id=support-out} 60
	// correio.outbound.recipients {recipient} {correio.direction=outbound correio.mailbox.id=support-out correio.outcome=deferred} 1
	// correio.outbound.recipients {recipient} {correio.direction=outbound correio.mailbox.id=support-out correio.outcome=delivered} 2
}

// lines prints every data point as "name unit {attributes} value", sorted.
func lines(rm metricdata.ResourceMetrics) []string {
	var out []string
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			prefix := md.Name + " " + md.Unit + " "
			switch d := md.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out = append(out, fmt.Sprintf("%s%s %d", prefix, attrs(p.Attributes), p.Value))
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out = append(out, fmt.Sprintf("%s%s %d", prefix, attrs(p.Attributes), p.Value))
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					out = append(out, fmt.Sprintf("%s%s %g", prefix, attrs(p.Attributes), p.Value))
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out = append(out, fmt.Sprintf("%s%s count=%d", prefix, attrs(p.Attributes), p.Count))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func attrs(s attribute.Set) string {
	var kv []string
	for _, a := range s.ToSlice() {
		kv = append(kv, string(a.Key)+"="+a.Value.String())
	}
	return "{" + strings.Join(kv, " ") + "}"
}
