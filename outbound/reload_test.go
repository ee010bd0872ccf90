package outbound_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/transport/smtp"
)

// TestReloadStopsSendingUnassigned: with an Assignment a mailbox's rate
// limiter starts empty; a worker waiting for the limit in the middle of a
// batch stops once the Assignment no longer runs the mailbox; Reload
// returns only then, with the rest of the batch back in the queue,
// unclaimed, for the replica that takes the mailbox.
func TestReloadStopsSendingUnassigned(t *testing.T) {
	srv := startServer(t, mailtest.SMTPOptions{})
	mb := outboundBox("mb1", srv)
	mb.Outbound.MaxConnections = 1
	mb.Outbound.RateLimit = mailbox.Rate{N: 1, Per: time.Minute}
	var runs atomic.Bool
	runs.Store(true)
	assign := engine.AssignmentFunc(func(mailbox.ID) bool { return runs.Load() })
	h := newHarness(t, outbound.Options{BatchSize: 5, Assignment: assign}, smtp.Options{}, mb)
	var ids []string
	for range 5 {
		ids = append(ids, h.enqueue(simple("mb1", "a@example.org")))
	}
	// With an Assignment the window starts used up (the mailbox may have
	// been sending from another replica): the first message waits 1 min.
	for h.clk.Waiters() < 1 {
		time.Sleep(time.Millisecond)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d sent before the limiter allowed one", n)
	}
	h.clk.Advance(time.Minute)
	wait(t, srv, 1)
	// The second waits 1 min too (less than half the lease, so the worker
	// waits holding the batch's claims).
	for h.clk.Waiters() < 1 {
		time.Sleep(time.Millisecond)
	}
	runs.Store(false)
	done := make(chan struct{})
	go func() { h.s.Reload(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Reload did not return while the worker waited for the rate limit")
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages sent, want the 1 sent before the hand-over", n)
	}
	queued := 0
	for _, id := range ids {
		r := h.record(id)
		if r.State == store.Queued {
			queued++
			if r.ClaimToken != "" {
				t.Fatalf("record %s still claimed after Reload", id)
			}
		}
	}
	if queued != 4 {
		t.Fatalf("%d records queued after Reload, want 4", queued)
	}
	// Nothing more is sent for the unassigned mailbox, even once the
	// limit allows.
	h.clk.Advance(time.Hour)
	time.Sleep(50 * time.Millisecond)
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages sent after the hand-over", n)
	}
}
