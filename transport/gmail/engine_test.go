package gmail_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/gmail"
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
	var mu sync.Mutex
	handed := map[string]int{}
	run := func(until func() bool) {
		t.Helper()
		p, err := inbound.New(inbound.Options{Store: st, Catalog: catalog, IdleRenew: time.Hour,
			Source: transport.Sources{mailbox.TransportGmail: mk(transport.Net{})},
			Handler: inbound.HandlerFunc(func(_ context.Context, d *inbound.Delivery) error {
				mu.Lock()
				defer mu.Unlock()
				handed[d.Message.MessageID]++
				return nil
			})})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = p.Run(ctx) }()
		deadline := time.Now().Add(20 * time.Second)
		for !until() {
			if time.Now().After(deadline) {
				cancel()
				<-done
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("timed out; handed %v", handed)
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		<-done
	}
	total := func() (n int, twice bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range handed {
			n += c
			twice = twice || c > 1
		}
		return n, twice
	}
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
	if n, twice := total(); n != 5 || twice || len(handed) != 5 {
		t.Fatalf("handed %v, want 5 messages once each", handed)
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
	var mu sync.Mutex
	var handed []string
	p, err := inbound.New(inbound.Options{Store: st, Catalog: catalog,
		Source: transport.Sources{mailbox.TransportGmail: gmail.NewSource(config(t, srv, transport.Net{}))},
		Handler: inbound.HandlerFunc(func(_ context.Context, d *inbound.Delivery) error {
			mu.Lock()
			defer mu.Unlock()
			handed = append(handed, d.Message.MessageID)
			return nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	eventually(t, "the small messages handed and the large one quarantined", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(handed) == 2 && len(st.Quarantined("desk")) == 1
	})
	cancel()
	<-done
	if q := st.Quarantined("desk")[0]; !strings.Contains(q.Reason, "larger") {
		t.Fatalf("quarantined for %q", q.Reason)
	}
	if _, unread := srv.Count(desk, "INBOX"); unread != 1 {
		t.Fatalf("%d unread, want the large one only", unread)
	}
}
