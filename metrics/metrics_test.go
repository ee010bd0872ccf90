package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/metrics"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
)

func collect(t *testing.T, r *sdkmetric.ManualReader) ([]string, error) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	err := r.Collect(context.Background(), &rm)
	return lines(rm), err
}

func newProvider(t *testing.T) (*sdkmetric.MeterProvider, *sdkmetric.ManualReader) {
	r := sdkmetric.NewManualReader()
	p := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p, r
}

func TestNoProvider(t *testing.T) {
	if _, err := metrics.New(nil, metrics.Options{}); !errors.Is(err, metrics.ErrNoProvider) {
		t.Fatalf("New(nil) = %v, want ErrNoProvider", err)
	}
}

func TestAggregateDropsMailboxID(t *testing.T) {
	p, r := newProvider(t)
	in := healthList{
		{Mailbox: "a", State: engine.StateWaiting, Handled: 3, Lag: time.Second, ConsecutiveFailures: 1},
		{Mailbox: "b", State: engine.StateWaiting, Handled: 4, Lag: 5 * time.Second},
		{Mailbox: "c", State: engine.StateDown, Handled: 1, ConsecutiveFailures: 7},
	}
	m, err := metrics.New(p, metrics.Options{Inbound: in})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got, err := collect(t, r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"correio.mailbox.state {mailbox} {correio.direction=inbound correio.state=waiting} 2",
		"correio.mailbox.state {mailbox} {correio.direction=inbound correio.state=down} 1",
		"correio.inbound.messages.handed {message} {correio.direction=inbound} 8",
		"correio.inbound.lag s {correio.direction=inbound} 5",
		"correio.mailbox.consecutive_failures {failure} {correio.direction=inbound} 7",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("missing %q in\n%v", want, got)
		}
	}
	for _, l := range got {
		if contains(l, "correio.mailbox.id") {
			t.Errorf("aggregated line has the mailbox ID: %s", l)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

type failing struct{}

var errBroken = errors.New("broken store")

func (failing) HealthAll(context.Context) ([]engine.Health, error) { return nil, errBroken }

func TestHealthErrorKeepsOtherEngine(t *testing.T) {
	p, r := newProvider(t)
	out := healthList{{Mailbox: "o", State: engine.StateWaiting, QueueDepth: 2}}
	m, err := metrics.New(p, metrics.Options{Inbound: failing{}, Outbound: out, PerMailbox: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got, err := collect(t, r)
	if !errors.Is(err, errBroken) {
		t.Errorf("Collect error = %v, want the engine's error", err)
	}
	if !slices.Contains(got, "correio.outbound.queue.depth {message} {correio.direction=outbound correio.mailbox.id=o} 2") {
		t.Errorf("outbound depth missing: %v", got)
	}
}

func TestCloseStopsHealth(t *testing.T) {
	p, r := newProvider(t)
	m, err := metrics.New(p, metrics.Options{PerMailbox: true})
	if err != nil {
		t.Fatal(err)
	}
	m.SetEngines(healthList{{Mailbox: "a", State: engine.StateFetching}}, nil)
	got, _ := collect(t, r)
	if !slices.Contains(got, "correio.mailbox.state {mailbox} {correio.direction=inbound correio.mailbox.id=a correio.state=fetching} 1") {
		t.Fatalf("SetEngines not read: %v", got)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	got, _ = collect(t, r)
	for _, l := range got {
		if contains(l, "correio.mailbox.state") {
			t.Errorf("state still reported after Close: %s", l)
		}
	}
}

// TestRealSender wires a real outbound.Sender: the queue depth comes from
// its HealthAll, the delivery from its OnEvent.
func TestRealSender(t *testing.T) {
	srv, err := mailtest.NewSMTPServer(mailtest.SMTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	p, r := newProvider(t)
	m, err := metrics.New(p, metrics.Options{PerMailbox: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	cat := memory.NewCatalog()
	if err := cat.PutMailbox(ctx, &mailbox.Mailbox{
		ID: "desk", Kind: mailbox.Outbound, Description: "Desk", Enabled: true,
		Outbound: &mailbox.OutboundSettings{
			Server:      mailbox.Server{Host: srv.Host(), Port: srv.Port(), Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			Credentials: mailbox.Credentials{Mechanism: mailbox.AuthNone},
			From:        mailbox.Identity{Name: "Desk", Address: "desk@example.com"},
		},
	}); err != nil {
		t.Fatal(err)
	}
	s, err := outbound.New(outbound.Options{Outbox: memory.NewOutbox(), Catalog: cat, OnEvent: m.OutboundEvent})
	if err != nil {
		t.Fatal(err)
	}
	m.SetEngines(nil, s)
	if _, err := s.Enqueue(ctx, store.Message{Mailbox: "desk", To: []store.Address{{Address: "ana@customer.example"}},
		Subject: "Hi", Text: "x", Thread: "1"}); err != nil {
		t.Fatal(err)
	}
	got, err := collect(t, r)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, "correio.outbound.queue.depth {message} {correio.direction=outbound correio.mailbox.id=desk} 1") {
		t.Fatalf("queue depth 1 missing before start: %v", got)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(ctx)
	want := "correio.outbound.deliveries {event} {correio.direction=outbound correio.mailbox.id=desk correio.outcome=delivered} 1"
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ = collect(t, r)
		if slices.Contains(got, want) && slices.Contains(got, "correio.outbound.queue.depth {message} {correio.direction=outbound correio.mailbox.id=desk} 0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivery counted: %v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRealPoller wires a real inbound.Poller: the handed counter comes from
// its HealthAll, the transitions from its OnEvent.
func TestRealPoller(t *testing.T) {
	srv, err := mailtest.NewIMAPServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.AddUser("desk", "pw")
	for i := range 2 {
		msg := fmt.Sprintf("From: a@customer.example\r\nSubject: %d\r\nMessage-ID: <m%d@customer.example>\r\n\r\nhi\r\n", i, i)
		if _, err := srv.Append("desk", "INBOX", []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	p, r := newProvider(t)
	m, err := metrics.New(p, metrics.Options{PerMailbox: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cat := memory.NewCatalog()
	if err := cat.PutMailbox(ctx, &mailbox.Mailbox{ID: "desk", Kind: mailbox.Inbound, Description: "Desk", Enabled: true,
		Inbound: &mailbox.InboundSettings{
			Server:      mailbox.Server{Host: srv.Host(), Port: srv.Port(), Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			Credentials: mailbox.Credentials{Username: "desk", Password: mailbox.NewSecret("pw")},
		}}); err != nil {
		t.Fatal(err)
	}
	poller, err := inbound.New(inbound.Options{Store: memory.NewInboundStore(), Catalog: cat, OnEvent: m.InboundEvent,
		Handler: inbound.HandlerFunc(func(context.Context, *inbound.Delivery) error { return nil })})
	if err != nil {
		t.Fatal(err)
	}
	m.SetEngines(poller, nil)
	if err := poller.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer poller.Stop(ctx)
	want := "correio.inbound.messages.handed {message} {correio.direction=inbound correio.mailbox.id=desk} 2"
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ := collect(t, r)
		transitions := false
		for _, l := range got {
			transitions = transitions || strings.HasPrefix(l, "correio.mailbox.transitions {transition} {correio.direction=inbound correio.mailbox.id=desk correio.state=")
		}
		if slices.Contains(got, want) && transitions {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no hand-off or transition counted: %v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The span processor turns a real Poller's spans into the latency
// histograms (aggregated by default: no mailbox ID), and a mailbox whose
// login is refused counts in correio.mailbox.needs_person.
func TestLatencyHistogramsAndNeedsPerson(t *testing.T) {
	srv, err := mailtest.NewIMAPServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.AddUser("desk", "pw")
	for i := range 2 {
		msg := fmt.Sprintf("From: a@customer.example\r\nSubject: %d\r\nMessage-ID: <m%d@customer.example>\r\n\r\nhi\r\n", i, i)
		if _, err := srv.Append("desk", "INBOX", []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	p, r := newProvider(t)
	m, err := metrics.New(p, metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(m.SpanProcessor()))
	defer tp.Shutdown(ctx)
	cat := memory.NewCatalog()
	box := func(id, pw string) *mailbox.Mailbox {
		return &mailbox.Mailbox{ID: mailbox.ID(id), Kind: mailbox.Inbound, Description: id, Enabled: true,
			Inbound: &mailbox.InboundSettings{
				Server:      mailbox.Server{Host: srv.Host(), Port: srv.Port(), Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
				Credentials: mailbox.Credentials{Username: "desk", Password: mailbox.NewSecret(pw)},
			}}
	}
	for _, mb := range []*mailbox.Mailbox{box("desk", "pw"), box("wrong", "nope")} {
		if err := cat.PutMailbox(ctx, mb); err != nil {
			t.Fatal(err)
		}
	}
	poller, err := inbound.New(inbound.Options{Store: memory.NewInboundStore(), Catalog: cat, OnEvent: m.InboundEvent, TracerProvider: tp,
		Handler: inbound.HandlerFunc(func(context.Context, *inbound.Delivery) error { return nil })})
	if err != nil {
		t.Fatal(err)
	}
	m.SetEngines(poller, nil)
	if err := poller.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer poller.Stop(ctx)
	wantHandoff := "correio.inbound.handoff.duration s {correio.direction=inbound correio.outcome=handled} count=2"
	wantNeeds := "correio.mailbox.needs_person {mailbox} {correio.direction=inbound} 1"
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, _ := collect(t, r)
		check := false
		for _, l := range got {
			check = check || strings.HasPrefix(l, "correio.inbound.check.duration s {correio.direction=inbound correio.transport=imap} count=")
			if strings.Contains(l, "correio.mailbox.id") {
				t.Fatalf("mailbox ID without PerMailbox: %s", l)
			}
		}
		if slices.Contains(got, wantHandoff) && slices.Contains(got, wantNeeds) && check {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("histograms or needs_person missing: %v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
