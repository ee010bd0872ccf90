package outbound_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport"
)

// throttled is a transport whose server throttles: every send fails with
// a temporary error that says how long to wait (an API's Retry-After).
type throttled struct{ wait time.Duration }

func (t throttled) Open(context.Context, *mailbox.Mailbox) (transport.Outgoing, error) { return t, nil }
func (t throttled) Close() error                                                       { return nil }
func (t throttled) Send(context.Context, transport.Envelope, io.WriterTo) (transport.Result, error) {
	return transport.Result{}, &transport.Error{Class: transport.Temporary, Protocol: "api", Op: "send", Code: 429, RetryAfter: t.wait, Err: errors.New("throttled")}
}

// TestRetryAfterIsHonoured: a transport's RetryAfter pushes the next
// attempt past the backoff (here past RetryMax), and other transports are
// unaffected (the SMTP tests keep their backoff).
func TestRetryAfterIsHonoured(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	cat := memory.NewCatalog()
	if err := cat.PutMailbox(ctx, &mailbox.Mailbox{ID: "api", Description: "api", Kind: mailbox.Outbound, Enabled: true,
		Outbound: &mailbox.OutboundSettings{Transport: "api", From: mailbox.Identity{Address: "desk@example.com"}}}); err != nil {
		t.Fatal(err)
	}
	events := make(chan outbound.Event, 10)
	s, err := outbound.New(outbound.Options{Outbox: memory.NewOutbox(), Catalog: cat, Clock: clk, RetryMax: time.Minute,
		Transport: transport.Senders{"api": throttled{wait: 3 * time.Hour}}, OnEvent: func(e outbound.Event) { events <- e }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(ctx)
	if _, err := s.Enqueue(ctx, store.Message{Mailbox: "api", To: []store.Address{{Address: "a@example.org"}}, Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-events:
		if e.Kind != outbound.EventDeferred || e.NextAttempt.Sub(clk.Now()) < 3*time.Hour {
			t.Fatalf("event %v, next attempt in %v; want deferred by the server's 3 h", e.Kind, e.NextAttempt.Sub(clk.Now()))
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no event")
	}
}
