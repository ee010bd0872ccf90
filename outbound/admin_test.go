package outbound_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/transport/smtp"
)

// RetryNow sends a deferred message without waiting for its backoff;
// Cancel ends a deferred one for good, with an event, and it is never
// sent.
func TestRetryNowAndCancel(t *testing.T) {
	greylist := mailtest.SMTPFaults{Rcpt: map[string]mailtest.Reply{
		"a@example.org": {Code: 451, Enhanced: "4.7.1", Message: "greylisted"},
		"b@example.org": {Code: 451, Enhanced: "4.7.1", Message: "greylisted"}}}
	srv := startServer(t, mailtest.SMTPOptions{Faults: greylist})
	h := newHarness(t, outbound.Options{}, smtp.Options{}, outboundBox("mb1", srv))
	keep := h.enqueue(simple("mb1", "a@example.org"))
	h.next(outbound.EventDeferred)
	drop := h.enqueue(simple("mb1", "b@example.org"))
	h.next(outbound.EventDeferred)
	srv.SetFaults(mailtest.SMTPFaults{})
	ctx := context.Background()
	if err := h.s.Cancel(ctx, drop, "the customer withdrew the request"); err != nil {
		t.Fatal(err)
	}
	e := h.next(outbound.EventCancelled)
	if e.ID != drop || len(e.Recipients) != 1 || e.Recipients[0] != "b@example.org" {
		t.Fatalf("cancel event %+v", e)
	}
	if err := h.s.RetryNow(ctx, keep); err != nil {
		t.Fatal(err)
	}
	h.next(outbound.EventDelivered) // the fake clock never moved: no backoff waited
	got := wait(t, srv, 1)
	if messageID(t, got[0].Data) != h.record(keep).MessageID {
		t.Fatal("the retried message was not the one sent")
	}
	if r := h.record(drop); r.State != store.Dead || r.Reason != store.CancelReason+"the customer withdrew the request" {
		t.Fatalf("cancelled record %+v", r)
	}
	if err := h.s.RetryNow(ctx, drop); !errors.Is(err, store.ErrNotQueued) {
		t.Fatalf("retry of a cancelled record: %v", err)
	}
	if err := h.s.Cancel(ctx, "nope", "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("cancel of an unknown record: %v", err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("server got %d messages, want only the retried one", n)
	}
}

// A message being sent cannot be cancelled mid-send: the result says so
// and the record stays claimed.
func TestCancelWhileSending(t *testing.T) {
	srv := startServer(t, mailtest.SMTPOptions{Faults: mailtest.SMTPFaults{HangInData: true}})
	h := newHarness(t, outbound.Options{}, smtp.Options{}, outboundBox("mb1", srv))
	id := h.enqueue(simple("mb1", "a@example.org"))
	eventually(t, "the send hangs in DATA", func() bool { return srv.Stalled() > 0 })
	err := h.s.Cancel(context.Background(), id, "too late")
	if !errors.Is(err, store.ErrClaimed) {
		t.Fatalf("cancel mid-send: %v", err)
	}
	if r := h.record(id); r.State != store.Queued || r.ClaimToken == "" {
		t.Fatalf("record %+v", r)
	}
}

// A paused mailbox sends nothing (other mailboxes go on), survives Reload
// and sends its queue on Resume.
func TestPauseResumeOutbound(t *testing.T) {
	srv1 := startServer(t, mailtest.SMTPOptions{})
	srv2 := startServer(t, mailtest.SMTPOptions{})
	h := newHarness(t, outbound.Options{}, smtp.Options{}, outboundBox("mb1", srv1), outboundBox("mb2", srv2))
	ctx := context.Background()
	if err := h.s.Pause(ctx, "mb1"); err != nil {
		t.Fatal(err)
	}
	h.enqueue(simple("mb1", "a@example.org"))
	h.s.Reload()
	h.enqueue(simple("mb2", "b@example.org"))
	wait(t, srv2, 1) // the dispatcher went past mb1's due mail
	if n := len(srv1.Messages()); n != 0 {
		t.Fatalf("paused mailbox sent %d", n)
	}
	if hl, _ := h.s.Health(ctx, "mb1"); hl.State != engine.StatePaused || hl.QueueDepth != 1 || hl.NeedsPerson() {
		t.Fatalf("health %+v", hl)
	}
	if err := h.s.CheckNow(ctx, "mb1"); !errors.Is(err, engine.ErrInactive) {
		t.Fatalf("check of a paused mailbox: %v", err)
	}
	if err := h.s.Resume(ctx, "mb1"); err != nil {
		t.Fatal(err)
	}
	wait(t, srv1, 1)
	if err := h.s.Pause(ctx, "nope"); !errors.Is(err, engine.ErrUnknownMailbox) {
		t.Fatalf("pause of an unknown mailbox: %v", err)
	}
}

// eventually waits for cond; the bound only keeps a broken test from
// hanging.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
