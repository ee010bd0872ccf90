package metrics

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// SpanProcessor returns a span processor that turns the engines' spans
// into the latency histograms: correio.inbound.check.duration (the
// correio.inbound.session and correio.inbound.check spans),
// correio.inbound.handoff.duration and correio.outbound.send.duration. Add
// it to the SDK TracerProvider given to the engines
// (sdktrace.WithSpanProcessor); it records nothing else and exports
// nothing. The histograms carry correio.direction, correio.transport (for
// checks), correio.outcome (hand-offs) and error.type (the transport error
// class), and correio.mailbox.id with Options.PerMailbox.
func (m *Metrics) SpanProcessor() sdktrace.SpanProcessor { return spanProcessor{m} }

type spanProcessor struct{ m *Metrics }

func (spanProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (spanProcessor) Shutdown(context.Context) error                  { return nil }
func (spanProcessor) ForceFlush(context.Context) error                { return nil }

func (p spanProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	var h metric.Float64Histogram
	dir := "inbound"
	keep := []attribute.Key{"error.type"}
	switch s.Name() {
	case "correio.inbound.session", "correio.inbound.check":
		h = p.m.checkDur
		keep = append(keep, "correio.transport")
	case "correio.inbound.handoff":
		h = p.m.handoffDur
		keep = append(keep, "correio.outcome")
	case "correio.outbound.send":
		h, dir = p.m.sendDur, "outbound"
	default:
		return
	}
	if !p.m.aggregate {
		keep = append(keep, "correio.mailbox.id")
	}
	attrs := []attribute.KeyValue{AttrDirection.String(dir)}
	for _, kv := range s.Attributes() {
		for _, k := range keep {
			if kv.Key == k {
				attrs = append(attrs, kv)
			}
		}
	}
	h.Record(context.Background(), s.EndTime().Sub(s.StartTime()).Seconds(), metric.WithAttributes(attrs...))
}
