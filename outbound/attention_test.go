package outbound_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/transport/smtp"
)

// settle waits until the Sender has nothing in flight and its dispatcher
// is parked on the fake clock.
func (h *harness) settle(id mailbox.ID) {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		hl, err := h.s.Health(context.Background(), id)
		if err == nil && hl.Active == 0 && h.clk.Waiters() >= 1 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the sender never settled: %+v", hl)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// advanceTo moves the fake clock to t0+at a minute at a time.
func (h *harness) advanceTo(id mailbox.ID, at time.Duration) {
	h.t.Helper()
	for h.clk.Now().Before(t0.Add(at)) {
		h.clk.Advance(time.Minute)
		h.settle(id)
	}
}

// drain returns the events received so far.
func (h *harness) drain() []outbound.Event {
	var out []outbound.Event
	for {
		select {
		case e := <-h.events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// A refused password holds the outbound mailbox in auth_failed: one failed
// login covers all 30 queued messages (not one per message or per batch),
// the server sees at most 3 retries in the first hour and then one an
// hour, the messages stay queued without attempts or per-message events,
// and one EventHealth says what to do. New credentials send everything.
func TestAuthFailedOneLoginForTheQueue(t *testing.T) {
	srv := startServer(t, mailtest.SMTPOptions{Users: map[string]string{"u": "right"}})
	mb := outboundBox("mb1", srv)
	mb.Outbound.Credentials = mailbox.Credentials{Username: "u", Password: mailbox.NewSecret("wrong-secret")}
	mb.Outbound.MaxConnections = 4
	h := newHarness(t, outbound.Options{BatchSize: 5}, smtp.Options{}, mb)
	var ids []string
	for i := range 30 {
		ids = append(ids, h.enqueue(simple("mb1", fmt.Sprintf("c%d@example.org", i))))
	}
	e := h.next(outbound.EventHealth)
	if e.Health.State != engine.StateAuthFailed || !e.Health.NeedsPerson() {
		t.Fatalf("event %+v", e)
	}
	h.settle("mb1")
	failed := func() int { _, f := srv.AuthAttempts(); return f }
	if n := failed(); n != 1 {
		t.Fatalf("failed logins for 30 queued messages: %d, want 1", n)
	}
	h.advanceTo("mb1", 59*time.Minute)
	if n := failed(); n != 4 {
		t.Fatalf("failed logins in the first hour: %d, want 1 + 3 retries", n)
	}
	h.advanceTo("mb1", 3*time.Hour+30*time.Minute)
	if n := failed(); n != 6 {
		t.Fatalf("failed logins by 3h30: %d, want 6", n)
	}
	for _, ev := range h.drain() {
		if ev.Kind != outbound.EventHealth {
			t.Errorf("per-message event while the login fails: %v %s", ev.Kind, ev.Reason)
		} else {
			t.Errorf("a second EventHealth: %+v", ev.Health)
		}
	}
	hl, _ := h.s.Health(context.Background(), "mb1")
	if hl.State != engine.StateAuthFailed || hl.QueueDepth != 30 || hl.ConsecutiveFailures != 6 {
		t.Fatalf("health %+v", hl)
	}
	if r := h.record(ids[0]); r.State != store.Queued || r.Attempts != 0 {
		t.Fatalf("record %+v", r)
	}
	fixed := mb.Clone()
	fixed.Outbound.Credentials.Password = mailbox.NewSecret("right")
	if err := h.cat.PutMailbox(context.Background(), fixed); err != nil {
		t.Fatal(err)
	}
	h.s.Reload()
	wait(t, srv, 30)
	if hl, _ := h.s.Health(context.Background(), "mb1"); hl.NeedsPerson() || hl.State == engine.StateAuthFailed {
		t.Fatalf("health after the fix %+v", hl)
	}
}

// CheckNow retries a held mailbox at once.
func TestCheckNowRetriesHeldMailbox(t *testing.T) {
	srv := startServer(t, mailtest.SMTPOptions{Users: map[string]string{"u": "right"}, Faults: mailtest.SMTPFaults{RejectAuth: true}})
	mb := outboundBox("mb1", srv)
	mb.Outbound.Credentials = mailbox.Credentials{Username: "u", Password: mailbox.NewSecret("right")}
	h := newHarness(t, outbound.Options{}, smtp.Options{}, mb)
	h.enqueue(simple("mb1", "a@example.org"))
	h.next(outbound.EventHealth)
	srv.SetFaults(mailtest.SMTPFaults{}) // unlocked at the provider
	if err := h.s.CheckNow(context.Background(), "mb1"); err != nil {
		t.Fatal(err)
	}
	h.next(outbound.EventDelivered)
}

// A server that keeps failing opens the breaker: down is one EventHealth
// when it starts, with a hint, not one per probe; a success ends it.
func TestDownIsOneEvent(t *testing.T) {
	srv := startServer(t, mailtest.SMTPOptions{Faults: mailtest.SMTPFaults{Greeting: &mailtest.Reply{Code: 421, Message: "too busy"}}})
	h := newHarness(t, outbound.Options{BreakerThreshold: 2}, smtp.Options{}, outboundBox("mb1", srv))
	h.enqueue(simple("mb1", "a@example.org"))
	healthEvents, deferred := 0, 0
	for deferred < 6 {
		select {
		case e := <-h.events:
			switch e.Kind {
			case outbound.EventHealth:
				healthEvents++
				if e.Health.State != engine.StateDown || !e.Health.NeedsPerson() {
					t.Fatalf("health event %+v", e.Health)
				}
			case outbound.EventDeferred:
				deferred++
				h.settle("mb1")
				h.clk.Advance(2 * time.Hour) // past the retry and the breaker's cooldown
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("stuck after %d deferrals", deferred)
		}
	}
	if healthEvents != 1 {
		t.Fatalf("EventHealth for down: %d over %d probes, want 1", healthEvents, deferred)
	}
	if hl, _ := h.s.Health(context.Background(), "mb1"); hl.State != engine.StateDown || hl.Hint == "" {
		t.Fatalf("health %+v", hl)
	}
	srv.SetFaults(mailtest.SMTPFaults{})
	h.clk.Advance(2 * time.Hour)
	h.next(outbound.EventDelivered)
	if hl, _ := h.s.Health(context.Background(), "mb1"); hl.NeedsPerson() {
		t.Fatalf("health after recovery %+v", hl)
	}
}
