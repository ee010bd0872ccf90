package graph_test

import (
	"bytes"
	"context"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/graph"
)

// TestOutboundEngine: the outbound engine sends through Graph with the
// default (strict) Sender: the message as the engine built it (our
// Message-ID, the thread token in the subject, our loop header), To and Cc
// from the headers, the Bcc recipient (in no header) as the Bcc line the
// Sender adds from the envelope.
func TestOutboundEngine(t *testing.T) {
	srv := newServer(t)
	ctx := context.Background()
	cat := memory.NewCatalog()
	if err := cat.PutMailbox(ctx, outboundMailbox()); err != nil {
		t.Fatal(err)
	}
	s, err := outbound.New(outbound.Options{Outbox: memory.NewOutbox(), Catalog: cat,
		Transport: transport.Senders{mailbox.TransportGraph: graph.NewSender(config(t, srv, transport.Net{}))}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(ctx)
	if _, err := s.Enqueue(ctx, store.Message{Mailbox: "desk-out", Subject: "Your request was opened", Text: "We are on it.", Thread: "123",
		To:  []store.Address{{Name: "Ana", Address: "ana@customer.example"}},
		Cc:  []store.Address{{Address: "cc@customer.example"}},
		Bcc: []store.Address{{Address: "audit@example.com"}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(srv.Sent()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	sent := srv.Sent()
	if len(sent) != 1 {
		t.Fatalf("Graph received %d messages", len(sent))
	}
	want := []string{"ana@customer.example", "cc@customer.example", "audit@example.com"}
	got := slices.Clone(sent[0].To)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("delivered to %v, want %v", sent[0].To, want)
	}
	m, err := mail.ReadMessage(bytes.NewReader(sent[0].Raw))
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get("Message-Id") == "" || !strings.Contains(m.Header.Get("Subject"), "[#REQ-123]") ||
		m.Header.Get("X-Correio-Loop") != "desk-out" || m.Header.Get("Bcc") != "audit@example.com" {
		t.Fatalf("headers %v", m.Header)
	}
}
