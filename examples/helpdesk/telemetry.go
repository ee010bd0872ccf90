package main

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/metrics"
	"github.com/correio-dev/correio/outbound"
)

// startTelemetry sets up the metrics the /metrics page serves: an
// OpenTelemetry MeterProvider whose reader is the OTel Prometheus exporter
// on a registry of the helpdesk's own (nothing registered globally), the
// metrics package over both engines (bounded: no per-mailbox series), and
// a TracerProvider whose only processor turns the engines' spans into the
// latency histograms. A host that exports traces adds its exporter to the
// same TracerProvider.
func (e *engines) startTelemetry() error {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return err
	}
	e.meters = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	e.metrics, err = metrics.New(e.meters, metrics.Options{})
	if err != nil {
		return err
	}
	e.tracer = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(e.metrics.SpanProcessor()))
	e.promHTTP = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return nil
}

func (e *engines) inboundEvent(ev inbound.Event) {
	e.metrics.InboundEvent(ev)
	e.attention(ev)
}

func (e *engines) outboundEvent(ev outbound.Event) {
	e.metrics.OutboundEvent(ev)
	if he, ok := ev.HealthEvent(); ok {
		e.attention(he)
	}
}

// attention is where a real host alerts a person (mail to the admin, a
// ticket): the one health stream of both engines, once per state that
// needs a person. The helpdesk logs it.
func (e *engines) attention(ev engine.Event) {
	if ev.Health.NeedsPerson() {
		e.log.Warn("mailbox needs attention", "mailbox", string(ev.Health.Mailbox), "state", string(ev.Health.State), "hint", ev.Health.Hint)
	}
}

// MetricsHandler serves the Prometheus exposition of the engines' metrics.
func (e *engines) MetricsHandler() http.Handler { return e.promHTTP }

// HealthAll returns the health of every mailbox of both engines.
func (e *engines) HealthAll(ctx context.Context) ([]engine.Health, error) {
	in, err := e.poller.HealthAll(ctx)
	if err != nil {
		return nil, err
	}
	out, err := e.sender.HealthAll(ctx)
	if err != nil {
		return nil, err
	}
	return append(in, out...), nil
}
