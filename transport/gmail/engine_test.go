package gmail_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/gmail"
	"github.com/correio-dev/correio/transport/internal/resttest"
	"github.com/correio-dev/correio/transport/transporttest"
)

// TestPoller: the inbound engine reads a Gmail mailbox end to end, with
// push: every message handed once and moved to its label; new mail
// arrives through a signed Pub/Sub push (the engine's fallback timer is
// an hour); after the history expired (404) and a restart, the label is
// listed again in full and nothing is handed twice.
func TestPoller(t *testing.T) {
	srv := newServer(t)
	deliver(t, srv, "poll", 3)
	m := inboundMailbox()
	m.Inbound.PostAction, m.Inbound.MoveTo = mailbox.PostSeen, ""
	m.Inbound.PollInterval = time.Hour
	catalog := memory.NewCatalog()
	if err := catalog.PutMailbox(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	st := memory.NewInboundStore()
	mk := pushing(t, srv)
	var handed resttest.Handed
	run := func(until func() bool) {
		t.Helper()
		resttest.RunUntil(t, inbound.Options{Store: st, Catalog: catalog, IdleRenew: time.Hour,
			Source: transport.Sources{mailbox.TransportGmail: mk(transport.Net{})}}, &handed, 20*time.Second, until)
	}
	total := handed.Count
	delivered := false
	run(func() bool {
		n, _ := total()
		if n == 3 && !delivered {
			delivered = true
			deliver(t, srv, "push", 1) // only a push can wake the session within the test
		}
		_, unread := srv.Count(desk, "INBOX")
		return n >= 4 && unread == 0
	})
	pushed := 0
	for _, code := range srv.Pushes() {
		if code == 204 {
			pushed++
		}
	}
	if pushed == 0 {
		t.Fatal("no push was accepted")
	}
	// The history expires while the host is down; a new message arrives.
	srv.ExpireHistory(desk)
	deliver(t, srv, "after", 1)
	before := len(srv.Requests())
	run(func() bool { n, _ := total(); return n >= 5 })
	full := false
	for _, r := range srv.Requests()[before:] {
		full = full || strings.Contains(r, "/messages?labelIds=INBOX")
	}
	if !full {
		t.Fatal("the expired history did not lead to a full listing")
	}
	if n, twice := total(); n != 5 || twice || handed.Messages() != 5 {
		t.Fatalf("handed %v, want 5 messages once each", &handed)
	}
}

// TestPollerTooLarge: a message over the mailbox's limit is quarantined
// unread (the fetch's ErrTooLarge names it) and the mail after it is
// handed.
func TestPollerTooLarge(t *testing.T) {
	srv := newServer(t)
	if _, err := srv.Deliver(desk, transporttest.Message("big", 1, 20000)); err != nil {
		t.Fatal(err)
	}
	deliver(t, srv, "small", 2)
	m := inboundMailbox()
	m.Inbound.MaxMessageSize = 5000
	m.Inbound.PollInterval = 50 * time.Millisecond
	catalog := memory.NewCatalog()
	if err := catalog.PutMailbox(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	st := memory.NewInboundStore()
	var handed resttest.Handed
	stop := resttest.Start(t, inbound.Options{Store: st, Catalog: catalog,
		Source: transport.Sources{mailbox.TransportGmail: gmail.NewSource(config(t, srv, transport.Net{}))}}, &handed)
	eventually(t, "the small messages handed and the large one quarantined", func() bool {
		n, _ := handed.Count()
		return n == 2 && len(st.Quarantined("desk")) == 1
	})
	stop()
	if q := st.Quarantined("desk")[0]; !strings.Contains(q.Reason, "larger") {
		t.Fatalf("quarantined for %q", q.Reason)
	}
	if _, unread := srv.Count(desk, "INBOX"); unread != 1 {
		t.Fatalf("%d unread, want the large one only", unread)
	}
}
