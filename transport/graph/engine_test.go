package graph_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/graph"
	"github.com/correio-dev/correio/transport/internal/resttest"
	"github.com/correio-dev/correio/transport/transporttest"
)

// TestPoller: the inbound engine reads a Graph mailbox end to end: every
// message handed once, marked read on the server, new mail picked up by
// polling the delta link, and after a restart (a new Poller over the same
// store) the read-state updates the delta query reports are not handed
// again.
func TestPoller(t *testing.T) {
	srv := newServer(t)
	for i := 1; i <= 3; i++ {
		if _, err := srv.Deliver(desk, "inbox", transporttest.Message("poll", i, 500)); err != nil {
			t.Fatal(err)
		}
	}
	m := inboundMailbox()
	m.Inbound.PollInterval = 50 * time.Millisecond
	catalog := memory.NewCatalog()
	if err := catalog.PutMailbox(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	st := memory.NewInboundStore()
	var handed resttest.Handed
	run := func(until func() bool) {
		t.Helper()
		resttest.RunUntil(t, inbound.Options{Store: st, Catalog: catalog,
			Source: transport.Sources{mailbox.TransportGraph: graph.NewSource(config(t, srv, transport.Net{}))}}, &handed, 15*time.Second, until)
	}
	count := handed.Count
	run(func() bool {
		n, _ := count()
		if n == 3 {
			if _, err := srv.Deliver(desk, "inbox", transporttest.Message("poll", 4, 500)); err != nil {
				t.Error(err)
			}
		}
		_, unread := srv.Count(desk, "inbox")
		return n >= 4 && unread == 0
	})
	// Restarted: the delta link reports the read-state change of the last
	// message; the engine must not hand it again.
	polls := len(srv.Requests())
	run(func() bool { return len(srv.Requests()) > polls+8 })
	refetched := 0
	for _, r := range srv.Requests()[polls:] {
		if strings.HasSuffix(r, "/$value") {
			refetched++
		}
	}
	if refetched == 0 {
		t.Fatal("after the restart nothing was fetched again: the test does not exercise the read-state update")
	}
	if n, twice := count(); n != 4 || twice || handed.Messages() != 4 {
		t.Fatalf("handed %v, want 4 messages once each", &handed)
	}
}
