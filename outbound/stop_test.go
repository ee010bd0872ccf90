package outbound_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/smtp"
)

// TestStopByDeadlineAgainstStalledServer: with a send in flight to a server
// that never answers DATA (and deadlines far longer than Stop's context),
// Stop interrupts the send and returns ctx.Err() by the deadline; the
// Sender then winds down (a second Stop returns nil soon) and the message
// stays queued for the next run.
func TestStopByDeadlineAgainstStalledServer(t *testing.T) {
	srv := startServer(t, mailtest.SMTPOptions{Faults: mailtest.SMTPFaults{HangInData: true}})
	h := newHarness(t, outbound.Options{}, smtp.Options{CommandTimeout: 30 * time.Second, DataTimeout: 30 * time.Second}, outboundBox("mb1", srv))
	id := h.enqueue(simple("mb1", "a@example.org"))
	deadline := time.Now().Add(60 * time.Second)
	for srv.Stalled() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the send never reached the stalled DATA")
		}
		time.Sleep(5 * time.Millisecond)
	}
	const budget = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	start := time.Now()
	err := h.s.Stop(ctx)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want context.DeadlineExceeded", err)
	}
	// By the deadline: scheduling slack for a loaded machine, below any
	// timeout of the transport (30 s) or its QUIT (5 s).
	if took > budget+2*time.Second {
		t.Fatalf("Stop took %v with a %v context", took, budget)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	if err := h.s.Stop(ctx2); err != nil {
		t.Fatalf("second Stop (the interrupted send winding down): %v", err)
	}
	if r := h.record(id); r.State != store.Queued {
		t.Fatalf("interrupted record %+v, want queued", r)
	}
}

// deaf is a transport whose Send ignores its context and blocks until
// released: a host's transport that does not honour cancellation.
type deaf struct {
	entered chan struct{}
	release chan struct{}
}

func (d *deaf) Open(context.Context, *mailbox.Mailbox) (transport.Outgoing, error) { return d, nil }
func (d *deaf) Close() error                                                       { return nil }
func (d *deaf) Send(context.Context, transport.Envelope, io.WriterTo) (transport.Result, error) {
	d.entered <- struct{}{}
	<-d.release
	return transport.Result{}, &transport.Error{Class: transport.Temporary, Protocol: "api", Op: "send", Err: errors.New("released")}
}

// TestStopByDeadlineWithDeafTransport: even a transport that ignores the
// cancellation does not hold Stop past its context: ctx.Err() by the
// deadline; once the send returns, a later Stop returns nil.
func TestStopByDeadlineWithDeafTransport(t *testing.T) {
	ctx := context.Background()
	cat := memory.NewCatalog()
	if err := cat.PutMailbox(ctx, &mailbox.Mailbox{ID: "api", Description: "api", Kind: mailbox.Outbound, Enabled: true,
		Outbound: &mailbox.OutboundSettings{Transport: "api", From: mailbox.Identity{Address: "desk@example.com"}}}); err != nil {
		t.Fatal(err)
	}
	d := &deaf{entered: make(chan struct{}, 1), release: make(chan struct{})}
	s, err := outbound.New(outbound.Options{Outbox: memory.NewOutbox(), Catalog: cat, Transport: transport.Senders{"api": d}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, store.Message{Mailbox: "api", To: []store.Address{{Address: "a@example.org"}}, Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.entered:
	case <-time.After(60 * time.Second):
		t.Fatal("no send started")
	}
	sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Stop(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want context.DeadlineExceeded", err)
	}
	// Scheduling slack for a loaded machine: the deaf send never returns
	// before the release below, so any return shows Stop did not wait.
	if took := time.Since(start); took > 200*time.Millisecond+2*time.Second {
		t.Fatalf("Stop took %v with a 200ms context", took)
	}
	close(d.release)
	sctx2, cancel2 := context.WithTimeout(ctx, 5*time.Second)
	defer cancel2()
	if err := s.Stop(sctx2); err != nil {
		t.Fatalf("Stop after the send returned: %v", err)
	}
}
