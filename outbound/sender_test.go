package outbound_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/threading"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/smtp"
	"github.com/correio-dev/correio/workflow"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

type harness struct {
	t      *testing.T
	cat    *memory.Catalog
	ob     *memory.Outbox
	sup    *memory.Suppressions
	clk    *clock.Fake
	s      *outbound.Sender
	events chan outbound.Event
	tr     *smtp.Transport
}

func startServer(t *testing.T, opts mailtest.SMTPOptions) *mailtest.SMTPServer {
	t.Helper()
	s, err := mailtest.NewSMTPServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func outboundBox(id string, s *mailtest.SMTPServer) *mailbox.Mailbox {
	return &mailbox.Mailbox{
		ID: mailbox.ID(id), Description: id, Kind: mailbox.Outbound, Enabled: true,
		Outbound: &mailbox.OutboundSettings{
			Server:      mailbox.Server{Host: s.Host(), Port: s.Port(), Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			From:        mailbox.Identity{Name: "Service Desk " + id, Address: "desk@" + id + ".example.com"},
			Credentials: mailbox.Credentials{Mechanism: mailbox.AuthNone},
		},
	}
}

func newHarness(t *testing.T, o outbound.Options, tro smtp.Options, boxes ...*mailbox.Mailbox) *harness {
	t.Helper()
	h := &harness{t: t, cat: memory.NewCatalog(), ob: memory.NewOutbox(), sup: memory.NewSuppressions(), clk: clock.NewFake(t0), events: make(chan outbound.Event, 10000)}
	ctx := context.Background()
	for _, mb := range boxes {
		if err := h.cat.PutMailbox(ctx, mb); err != nil {
			t.Fatal(err)
		}
	}
	if tro.CommandTimeout == 0 {
		tro.CommandTimeout = 10 * time.Second
	}
	h.tr = smtp.New(tro)
	t.Cleanup(func() { _ = h.tr.Close() })
	o.Outbox, o.Catalog, o.Clock, o.Transport = h.ob, h.cat, h.clk, h.tr
	if o.Suppressions == nil {
		o.Suppressions = h.sup
	}
	o.OnEvent = func(e outbound.Event) { h.events <- e }
	s, err := outbound.New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	})
	return h
}

// next returns the next event of kind (others are skipped); the 20 s guard
// only keeps a broken test from hanging.
func (h *harness) next(kind outbound.EventKind) outbound.Event {
	h.t.Helper()
	guard := time.After(20 * time.Second)
	for {
		select {
		case e := <-h.events:
			if e.Kind == kind {
				return e
			}
		case <-guard:
			h.t.Fatalf("no %v event", kind)
		}
	}
}

func (h *harness) enqueue(msg store.Message) string {
	h.t.Helper()
	id, err := h.s.Enqueue(context.Background(), msg)
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

func (h *harness) record(id string) *store.OutboxRecord {
	h.t.Helper()
	r, err := h.ob.Get(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

func wait(t *testing.T, s *mailtest.SMTPServer, n int) []mailtest.SMTPMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := s.WaitMessages(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func simple(mb string, to ...string) store.Message {
	m := store.Message{Mailbox: mailbox.ID(mb), Subject: "Request opened", Text: "Hello"}
	for _, a := range to {
		m.To = append(m.To, store.Address{Address: a})
	}
	return m
}

func messageID(t *testing.T, data []byte) string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Trim(m.Header.Get("Message-Id"), "<>")
}

func TestDeliverBuildsTheMessage(t *testing.T) {
	srv := startServer(t, mailtest.SMTPOptions{})
	h := newHarness(t, outbound.Options{}, smtp.Options{}, outboundBox("mb1", srv))
	payload := bytes.Repeat([]byte("attachment-bytes "), 500)
	opens := 0
	var mu sync.Mutex
	id := h.enqueue(store.Message{
		Mailbox: "mb1",
		To:      []store.Address{{Name: "Ana Souza", Address: "ana@customer.example"}},
		Subject: "Request opened", Text: "plain body", HTML: "<p>html body</p>",
		Thread: "7", InReplyTo: "orig@customer.example", References: []string{"orig@customer.example"},
		Attachments: []store.Attachment{{Name: "report.txt", ContentType: "text/plain", Open: func() (io.ReadCloser, error) {
			mu.Lock()
			opens++
			mu.Unlock()
			return io.NopCloser(bytes.NewReader(payload)), nil
		}}},
	})
	e := h.next(outbound.EventDelivered)
	got := wait(t, srv, 1)[0]
	rec := h.record(id)
	if rec.State != store.Sent || e.MessageID != rec.MessageID || e.ID != id {
		t.Fatalf("record %+v event %+v", rec, e)
	}
	if !strings.HasSuffix(rec.MessageID, "@mb1.example.com") {
		t.Fatalf("Message-ID %q not on the mailbox's domain", rec.MessageID)
	}
	m, err := mail.ReadMessage(bytes.NewReader(got.Data))
	if err != nil {
		t.Fatal(err)
	}
	hd := m.Header
	checks := map[string]string{
		"Auto-Submitted":     "auto-generated",
		threading.LoopHeader: "mb1",
		"Message-Id":         "<" + rec.MessageID + ">",
		"In-Reply-To":        "<orig@customer.example>",
		"References":         "<orig@customer.example>",
		"Subject":            "Request opened [#REQ-7]",
	}
	for k, want := range checks {
		if hd.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, hd.Get(k), want)
		}
	}
	if from, _ := hd.AddressList("From"); len(from) != 1 || from[0].Address != "desk@mb1.example.com" || from[0].Name != "Service Desk mb1" {
		t.Errorf("From %v", from)
	}
	if got.From != "desk@mb1.example.com" || strings.Join(got.To, ",") != "ana@customer.example" {
		t.Errorf("envelope %s -> %v", got.From, got.To)
	}
	if d, err := hd.Date(); err != nil || !d.Equal(t0) {
		t.Errorf("Date %v %v", d, err)
	}
	body := string(got.Data)
	for _, want := range []string{"multipart/mixed", "multipart/alternative", "plain body", "<p>html body</p>", `filename="report.txt"`} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q", want)
		}
	}
	if !strings.Contains(strings.ReplaceAll(body, "\r\n", ""), base64.StdEncoding.EncodeToString(payload[:300])) {
		t.Error("attachment content missing")
	}
	if opens != 1 {
		t.Errorf("attachment opened %d times by the outbox, want 1 (it keeps the bytes)", opens)
	}
}

func TestHeaderInjectionIsTyped(t *testing.T) {
	srv := startServer(t, mailtest.SMTPOptions{})
	h := newHarness(t, outbound.Options{}, smtp.Options{}, outboundBox("mb1", srv))
	bad := []store.Message{
		{Subject: "hi\r\nBcc: victim@example.org"},
		{To: []store.Address{{Name: "x\nBcc: v@example.org", Address: "a@example.org"}}},
		{InReplyTo: "a@b\r\nX: y"},
		{References: []string{"ok@x", "b@c\nX: y"}},
		{Thread: "REQ-1\r\n"},
		{Attachments: []store.Attachment{{Name: "a\r\n.txt", Open: func() (io.ReadCloser, error) { return nil, nil }}}},
	}
	for i, m := range bad {
		m.Mailbox = "mb1"
		if m.Subject == "" {
			m.Subject = "s"
		}
		if m.To == nil {
			m.To = []store.Address{{Address: "a@example.org"}}
		}
		m.Text = "x"
		_, err := h.s.Enqueue(context.Background(), m)
		var ie *outbound.InputError
		if !errors.Is(err, workflow.ErrHeaderInjection) || !errors.As(err, &ie) {
			t.Errorf("case %d: got %v", i, err)
		}
	}
	if _, err := h.s.Enqueue(context.Background(), simple("nope", "a@example.org")); !errors.Is(err, routing.ErrNotOutbound) {
		t.Errorf("unknown mailbox: %v", err)
	}
	if recs, _ := h.ob.List(context.Background(), store.OutboxFilter{}); len(recs) != 0 {
		t.Fatalf("refused input stored: %d records", len(recs))
	}
}

func TestTemporaryRcptRetriesWithSameMessageID(t *testing.T) {
	srv := startServer(t, mailtest.SMTPOptions{Faults: mailtest.SMTPFaults{Rcpt: map[string]mailtest.Reply{"a@example.org": {Code: 451, Enhanced: "4.7.1", Message: "greylisted"}}}})
	h := newHarness(t, outbound.Options{}, smtp.Options{}, outboundBox("mb1", srv))
	id := h.enqueue(simple("mb1", "a@example.org"))
	e := h.next(outbound.EventDeferred)
	rec := h.record(id)
	if rec.State != store.Queued || rec.Attempts != 1 || !e.NextAttempt.After(t0) || !strings.Contains(rec.LastError, "451") {
		t.Fatalf("record %+v", rec)
	}
	srv.SetFaults(mailtest.SMTPFaults{})
	h.clk.Advance(outbound.DefaultRetryMax)
	h.next(outbound.EventDelivered)
	got := wait(t, srv, 1)
	rec = h.record(id)
	if rec.State != store.Sent || rec.Attempts != 2 || messageID(t, got[0].Data) != rec.MessageID {
		t.Fatalf("record %+v", rec)
	}
}

func Test421AtConnectRetriesUntilMaxAge(t *testing.T) {
	srv := startServer(t, mailtest.SMTPOptions{Faults: mailtest.SMTPFaults{Greeting: &mailtest.Reply{Code: 421, Message: "too busy"}}})
	h := newHarness(t, outbound.Options{MaxAge: 2 * time.Hour, RetryBase: time.Minute, RetryMax: 20 * time.Minute}, smtp.Options{}, outboundBox("mb1", srv))
	id := h.enqueue(simple("mb1", "a@example.org"))
	deferred := 0
	for {
		guard := time.After(20 * time.Second)
		var e outbound.Event
		select {
		case e = <-h.events:
		case <-guard:
			t.Fatal("no event")
		}
		if e.Kind == outbound.EventFailed {
			break
		}
		if e.Kind == outbound.EventDeferred {
			deferred++
			h.clk.Advance(30 * time.Minute)
		}
	}
	rec := h.record(id)
	if rec.State != store.Dead || !strings.Contains(rec.Reason, "gave up") || !strings.Contains(rec.Reason, "421") || deferred < 3 {
		t.Fatalf("deferred %d, record %+v", deferred, rec)
	}
	if rec.Attempts != deferred+1 {
		t.Fatalf("attempts %d, deferred %d", rec.Attempts, deferred)
	}
	hl, err := h.s.Health(context.Background(), "mb1")
	if err != nil || hl.LastError == "" || hl.DownSince.IsZero() || !hl.State.Failing() || hl.QueueDepth != 0 {
		t.Fatalf("health %+v %v", hl, err)
	}
}

func TestOneOfThreeRefusedAndSuppressed(t *testing.T) {
	srv := startServer(t, mailtest.SMTPOptions{Faults: mailtest.SMTPFaults{Rcpt: map[string]mailtest.Reply{"b@example.org": {Code: 550, Enhanced: "5.1.1", Message: "no such user"}}}})
	h := newHarness(t, outbound.Options{}, smtp.Options{}, outboundBox("mb1", srv))
	msg := simple("mb1", "a@example.org")
	msg.Cc = []store.Address{{Address: "b@example.org"}}
	msg.Bcc = []store.Address{{Address: "c@example.org"}}
	id := h.enqueue(msg)
	failed := h.next(outbound.EventFailed)
	got := wait(t, srv, 1)
	if strings.Join(got[0].To, ",") != "a@example.org,c@example.org" || strings.Contains(string(got[0].Data), "c@example.org") {
		t.Fatalf("server got %v (Bcc must not be in the headers)", got[0].To)
	}
	rec := h.record(id)
	if rec.State != store.Sent || rec.Recipients[1].State != store.Refused || !strings.Contains(rec.Recipients[1].Reason, "5.1.1") {
		t.Fatalf("record %+v", rec)
	}
	if len(failed.Recipients) != 1 || failed.Recipients[0] != "b@example.org" {
		t.Fatalf("failed event %+v", failed)
	}
	if _, ok, _ := h.sup.Suppressed(context.Background(), "B@example.org"); !ok {
		t.Fatal("hard bounce not suppressed")
	}
	// Next message to b is skipped with the reason...
	id2 := h.enqueue(simple("mb1", "b@example.org"))
	sup := h.next(outbound.EventSuppressed)
	if r := h.record(id2); r.State != store.Dead || sup.ID != id2 || !strings.Contains(sup.Reason, "no such user") {
		t.Fatalf("record %+v event %+v", r, sup)
	}
	// ...unless the host overrides.
	srv.SetFaults(mailtest.SMTPFaults{})
	m3 := simple("mb1", "b@example.org")
	m3.IgnoreSuppression = true
	id3 := h.enqueue(m3)
	h.next(outbound.EventDelivered)
	if r := h.record(id3); r.State != store.Sent {
		t.Fatalf("override: %+v", r)
	}
	if n := len(wait(t, srv, 2)); n != 2 {
		t.Fatalf("%d messages", n)
	}
}

func TestDropInDataResendsSameMessage(t *testing.T) {
	srv := startServer(t, mailtest.SMTPOptions{Faults: mailtest.SMTPFaults{DropInData: true}})
	h := newHarness(t, outbound.Options{}, smtp.Options{}, outboundBox("mb1", srv))
	id := h.enqueue(simple("mb1", "a@example.org"))
	h.next(outbound.EventDeferred)
	first := h.record(id).MessageID
	srv.SetFaults(mailtest.SMTPFaults{})
	h.clk.Advance(outbound.DefaultRetryMax)
	h.next(outbound.EventDelivered)
	got := wait(t, srv, 1)
	if len(srv.Messages()) != 1 || messageID(t, got[0].Data) != first {
		t.Fatalf("got %d messages, Message-ID %q want %q", len(srv.Messages()), messageID(t, got[0].Data), first)
	}
}

func TestSlowServerDeadline(t *testing.T) {
	srv := startServer(t, mailtest.SMTPOptions{Faults: mailtest.SMTPFaults{HangInData: true}})
	h := newHarness(t, outbound.Options{}, smtp.Options{CommandTimeout: 200 * time.Millisecond, DataTimeout: 200 * time.Millisecond}, outboundBox("mb1", srv))
	id := h.enqueue(simple("mb1", "a@example.org"))
	e := h.next(outbound.EventDeferred)
	if r := h.record(id); r.State != store.Queued || !strings.Contains(e.Reason, "data") {
		t.Fatalf("record %+v event %+v", r, e)
	}
}

func TestPermanentMailFromDiesAtOnce(t *testing.T) {
	srv := startServer(t, mailtest.SMTPOptions{Faults: mailtest.SMTPFaults{Mail: &mailtest.Reply{Code: 550, Enhanced: "5.7.1", Message: "sender not allowed"}}})
	h := newHarness(t, outbound.Options{}, smtp.Options{}, outboundBox("mb1", srv))
	id := h.enqueue(simple("mb1", "a@example.org"))
	e := h.next(outbound.EventFailed)
	r := h.record(id)
	if r.State != store.Dead || r.Attempts != 1 || !strings.Contains(r.Reason, "sender not allowed") || e.Recipients[0] != "a@example.org" {
		t.Fatalf("record %+v", r)
	}
}

func TestAuthFailureHoldsAndRedacted(t *testing.T) {
	srv := startServer(t, mailtest.SMTPOptions{Security: mailtest.SMTPStartTLS, Users: map[string]string{"u": "right"}})
	ca, err := mailtest.DefaultCA()
	if err != nil {
		t.Fatal(err)
	}
	mb := outboundBox("mb1", srv)
	mb.Outbound.Server.Security = mailbox.SecuritySTARTTLS
	mb.Outbound.Server.AllowPlaintext = false
	mb.Outbound.Credentials = mailbox.Credentials{Username: "u", Password: mailbox.NewSecret("hunter2")}
	h := newHarness(t, outbound.Options{}, smtp.Options{RootCAs: ca.Pool()}, mb)
	h.enqueue(simple("mb1", "a@example.org"))
	e := h.next(outbound.EventHealth)
	if e.Health.State != engine.StateAuthFailed || !e.Health.NeedsPerson() {
		t.Fatalf("health event %+v", e)
	}
	all, err := h.s.HealthAll(context.Background())
	if err != nil || len(all) != 1 || all[0].Mailbox != "mb1" || all[0].OldestQueued != 0 {
		t.Fatalf("health of all: %+v %v", all, err)
	}
	h.clk.Advance(time.Minute)
	hl, _ := h.s.Health(context.Background(), "mb1")
	if hl.OldestQueued != time.Minute {
		t.Fatalf("oldest queued %v", hl.OldestQueued)
	}
	if !strings.Contains(hl.LastError, "auth") || strings.Contains(hl.LastError+e.Reason+e.Health.Hint, "hunter2") || hl.State != engine.StateAuthFailed || hl.QueueDepth != 1 {
		t.Fatalf("health %+v", hl)
	}
}

func TestIsolationBlackholedAmongTen(t *testing.T) {
	perBox := 20
	if testing.Short() {
		perBox = 5
	}
	var boxes []*mailbox.Mailbox
	var servers []*mailtest.SMTPServer
	for i := range 10 {
		f := mailtest.SMTPFaults{}
		if i == 0 {
			f.Blackhole = true
		}
		s := startServer(t, mailtest.SMTPOptions{Faults: f})
		servers = append(servers, s)
		boxes = append(boxes, outboundBox(fmt.Sprintf("mb%d", i), s))
	}
	// A long deadline: the blackholed mailbox's first attempt stays pending
	// for the whole test. A small total bound shows the blackhole holds
	// only its own slots.
	h := newHarness(t, outbound.Options{MaxConcurrency: 4, BatchSize: 5}, smtp.Options{CommandTimeout: time.Hour, Net: netWithTimeout(time.Hour)}, boxes...)
	var stuck []string
	for i := range 10 {
		for range perBox {
			id := h.enqueue(simple(fmt.Sprintf("mb%d", i), "a@example.org"))
			if i == 0 {
				stuck = append(stuck, id)
			}
		}
	}
	for i := 1; i < 10; i++ {
		wait(t, servers[i], perBox)
	}
	for deadline := time.Now().Add(10 * time.Second); servers[0].Stalled() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the blackholed server holds no pending attempt")
		}
	}
	for _, id := range stuck {
		if r := h.record(id); r.State != store.Queued || r.Attempts != 0 {
			t.Fatalf("blackholed mailbox's record moved on: %+v", r)
		}
	}
	if n := len(servers[0].Messages()); n != 0 {
		t.Fatalf("blackhole got %d", n)
	}
	// Stop interrupts the pending attempt; the records stay queued, unsent.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = h.s.Stop(ctx)
	for _, id := range stuck {
		if r := h.record(id); r.State != store.Queued || r.ClaimToken != "" {
			t.Fatalf("record not back in the queue: %+v", r)
		}
	}
}

func TestStopNoGoroutineLeftAndRestartDelivers(t *testing.T) {
	before := runtime.NumGoroutine()
	srv := startServer(t, mailtest.SMTPOptions{})
	cat, ob := memory.NewCatalog(), memory.NewOutbox()
	if err := cat.PutMailbox(context.Background(), outboundBox("mb1", srv)); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(t0)
	s, err := outbound.New(outbound.Options{Outbox: ob, Catalog: cat, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(context.Background(), simple("mb1", "a@example.org")); err != nil {
		t.Fatal(err)
	}
	wait(t, srv, 1)
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Enqueue after Stop is durable; a new Sender delivers it.
	id, err := s.Enqueue(context.Background(), simple("mb1", "b@example.org"))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := ob.Get(context.Background(), id); r.State != store.Queued {
		t.Fatalf("%+v", r)
	}
	s2, _ := outbound.New(outbound.Options{Outbox: ob, Catalog: cat, Clock: clk})
	if err := s2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	wait(t, srv, 2)
	if err := s2.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = srv.Close()
	settled := false
	for range 200 {
		if runtime.NumGoroutine() <= before {
			settled = true
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !settled {
		buf := make([]byte, 1<<16)
		t.Fatalf("goroutines: before %d after %d\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
	}
}

func TestCrashedClaimReturnsToQueue(t *testing.T) {
	srv := startServer(t, mailtest.SMTPOptions{})
	cat, ob := memory.NewCatalog(), memory.NewOutbox()
	_ = cat.PutMailbox(context.Background(), outboundBox("mb1", srv))
	clk := clock.NewFake(t0)
	// A first process enqueues and claims, then "crashes" before sending.
	s1, _ := outbound.New(outbound.Options{Outbox: ob, Catalog: cat, Clock: clk})
	id, err := s1.Enqueue(context.Background(), simple("mb1", "a@example.org"))
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := ob.Claim(context.Background(), store.Claim{Mailbox: "mb1", Now: clk.Now(), Lease: 10 * time.Minute, Max: 10, Token: "dead-worker"})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("%v %d", err, len(claimed))
	}
	s2, _ := outbound.New(outbound.Options{Outbox: ob, Catalog: cat, Clock: clk})
	if err := s2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s2.Stop(context.Background())
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("sent while another claim holds: %d", n)
	}
	clk.Advance(11 * time.Minute)
	got := wait(t, srv, 1)
	r, _ := ob.Get(context.Background(), id)
	if messageID(t, got[0].Data) != r.MessageID {
		t.Fatal("Message-ID changed")
	}
	// The dead worker's late update is refused.
	if err := ob.Update(context.Background(), claimed[0], "dead-worker"); !errors.Is(err, store.ErrClaimLost) {
		t.Fatalf("late update: %v", err)
	}
}

func TestFailoverToSystemMailbox(t *testing.T) {
	down := startServer(t, mailtest.SMTPOptions{Faults: mailtest.SMTPFaults{Greeting: &mailtest.Reply{Code: 421}}})
	sysSrv := startServer(t, mailtest.SMTPOptions{})
	h := newHarness(t, outbound.Options{FailoverAfter: 30 * time.Minute, BreakerThreshold: 2}, smtp.Options{},
		outboundBox("contract-mb", down), outboundBox("system-mb", sysSrv))
	ctx := context.Background()
	if err := h.cat.SetSystemMailbox(ctx, "system-mb"); err != nil {
		t.Fatal(err)
	}
	if err := h.cat.PutContract(ctx, &contract.Contract{ID: "acme", Name: "ACME", OutboundMailbox: "contract-mb"}); err != nil {
		t.Fatal(err)
	}
	msg := simple("contract-mb", "a@example.org")
	msg.Rule, msg.Contract = routing.RuleContract, "acme"
	id := h.enqueue(msg)
	// A message the connector sent explicitly through that mailbox waits.
	spec := simple("contract-mb", "b@example.org")
	spec.Rule = routing.RuleSpecific
	specID := h.enqueue(spec)
	orig := h.record(id).MessageID
	var rerouted outbound.Event
	for rerouted.Kind == 0 {
		select {
		case e := <-h.events:
			switch e.Kind {
			case outbound.EventRerouted:
				rerouted = e
			case outbound.EventDeferred:
				h.clk.Advance(10 * time.Minute)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no failover")
		}
	}
	got := wait(t, sysSrv, 1)
	r := h.record(id)
	if r.Mailbox != "system-mb" || r.Rule != routing.RuleFailover || !strings.Contains(r.DecisionReason, "failover") && !strings.Contains(r.DecisionReason, "down longer") {
		t.Fatalf("record %+v", r)
	}
	if r.MessageID == orig || !strings.HasSuffix(r.MessageID, "@system-mb.example.com") || messageID(t, got[0].Data) != r.MessageID || got[0].From != "desk@system-mb.example.com" {
		t.Fatalf("failover message: %q from %s", r.MessageID, got[0].From)
	}
	if rerouted.ID != id {
		t.Fatalf("event %+v", rerouted)
	}
	if s := h.record(specID); s.Mailbox != "contract-mb" || s.State != store.Queued {
		t.Fatalf("specific message rerouted: %+v", s)
	}
}

func TestFailoverOffByDefault(t *testing.T) {
	down := startServer(t, mailtest.SMTPOptions{Faults: mailtest.SMTPFaults{Greeting: &mailtest.Reply{Code: 421}}})
	sysSrv := startServer(t, mailtest.SMTPOptions{})
	h := newHarness(t, outbound.Options{BreakerThreshold: 1}, smtp.Options{}, outboundBox("contract-mb", down), outboundBox("system-mb", sysSrv))
	_ = h.cat.SetSystemMailbox(context.Background(), "system-mb")
	msg := simple("contract-mb", "a@example.org")
	msg.Rule = routing.RuleContract
	id := h.enqueue(msg)
	for range 4 {
		h.next(outbound.EventDeferred)
		h.clk.Advance(2 * time.Hour)
	}
	if r := h.record(id); r.Mailbox != "contract-mb" || len(sysSrv.Messages()) != 0 {
		t.Fatalf("rerouted without the policy: %+v", r)
	}
}

func netWithTimeout(d time.Duration) transport.Net { return transport.Net{DialTimeout: d} }

func TestInFlightDuplicateKeepsMessageID(t *testing.T) {
	srv := startServer(t, mailtest.SMTPOptions{Faults: mailtest.SMTPFaults{DropAfterData: true}})
	h := newHarness(t, outbound.Options{}, smtp.Options{}, outboundBox("mb1", srv))
	id := h.enqueue(simple("mb1", "a@example.org"))
	h.next(outbound.EventDeferred)
	srv.SetFaults(mailtest.SMTPFaults{})
	h.clk.Advance(outbound.DefaultRetryMax)
	h.next(outbound.EventDelivered)
	got := wait(t, srv, 2)
	// The server had the message when the reply was lost: the retry
	// duplicates it, and only it, with the same Message-ID.
	if len(got) != 2 || messageID(t, got[0].Data) != messageID(t, got[1].Data) || messageID(t, got[0].Data) != h.record(id).MessageID {
		t.Fatalf("%d messages", len(got))
	}
}

func TestBreakerOpensAndCostsNothingWhileOpen(t *testing.T) {
	srv := startServer(t, mailtest.SMTPOptions{Faults: mailtest.SMTPFaults{Greeting: &mailtest.Reply{Code: 421}}})
	h := newHarness(t, outbound.Options{BreakerThreshold: 2, BreakerCooldown: time.Hour, RetryBase: time.Second, RetryMax: time.Second}, smtp.Options{}, outboundBox("mb1", srv))
	h.enqueue(simple("mb1", "a@example.org"))
	h.next(outbound.EventDeferred)
	h.clk.Advance(2 * time.Second)
	h.next(outbound.EventDeferred)
	hl, _ := h.s.Health(context.Background(), "mb1")
	if hl.State != engine.StateDown || srv.Connections() != 2 {
		t.Fatalf("health %+v after %d connections", hl, srv.Connections())
	}
	// The retry is due, but the open breaker keeps the mailbox off the
	// network; a message enqueued now waits too.
	h.clk.Advance(time.Minute)
	h.enqueue(simple("mb1", "b@example.org"))
	select {
	case e := <-h.events:
		t.Fatalf("event while the breaker is open: %+v", e)
	case <-time.After(100 * time.Millisecond):
	}
	if srv.Connections() != 2 {
		t.Fatalf("connected while open: %d", srv.Connections())
	}
	// After the cooldown one probe goes through and, once the server is
	// back, everything queued is delivered.
	srv.SetFaults(mailtest.SMTPFaults{})
	h.clk.Advance(2 * time.Hour)
	h.next(outbound.EventDelivered)
	h.next(outbound.EventDelivered)
	if hl, _ := h.s.Health(context.Background(), "mb1"); (hl.State != engine.StateWaiting && hl.State != engine.StateSending) || hl.QueueDepth != 0 || !hl.DownSince.IsZero() {
		t.Fatalf("health %+v", hl)
	}
}

func TestBatchesShareOneConnectionAndRateLimit(t *testing.T) {
	srv := startServer(t, mailtest.SMTPOptions{})
	mb := outboundBox("mb1", srv)
	mb.Outbound.MaxConnections = 1
	mb.Outbound.RateLimit = mailbox.Rate{N: 5, Per: time.Hour}
	h := newHarness(t, outbound.Options{BatchSize: 3}, smtp.Options{}, mb)
	for range 8 {
		h.enqueue(simple("mb1", "a@example.org"))
	}
	wait(t, srv, 5)
	// The sixth message waits for the rate limit: it is handed back to the
	// queue, due when the limit allows (an hour is longer than half the
	// lease). Wait for the dispatcher to park on that time.
	for h.clk.Waiters() < 1 {
		time.Sleep(time.Millisecond)
	}
	if n := len(srv.Messages()); n != 5 {
		t.Fatalf("rate limit let %d through", n)
	}
	h.clk.Advance(time.Hour)
	wait(t, srv, 8)
	if n := srv.Connections(); n != 1 {
		t.Fatalf("MaxConnections 1 but %d connections", n)
	}
}

func TestUntrustedCertificateDeferredWithHint(t *testing.T) {
	srv := startServer(t, mailtest.SMTPOptions{Security: mailtest.SMTPStartTLS})
	other, err := mailtest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	mb := outboundBox("mb1", srv)
	mb.Outbound.Server.Security = mailbox.SecuritySTARTTLS
	mb.Outbound.Server.AllowPlaintext = false
	h := newHarness(t, outbound.Options{}, smtp.Options{RootCAs: other.Pool()}, mb)
	id := h.enqueue(simple("mb1", "a@example.org"))
	e := h.next(outbound.EventDeferred)
	if !errors.Is(e.Err, transport.ErrTLS) || !strings.Contains(e.Reason, "not trusted") {
		t.Fatalf("event %+v", e)
	}
	if r := h.record(id); r.State != store.Queued || len(srv.Messages()) != 0 {
		t.Fatalf("record %+v", r)
	}
}

func TestNonASCIIHeadersAreEncoded(t *testing.T) {
	srv := startServer(t, mailtest.SMTPOptions{})
	h := newHarness(t, outbound.Options{}, smtp.Options{}, outboundBox("mb1", srv))
	h.enqueue(store.Message{Mailbox: "mb1", To: []store.Address{{Name: "João Ação", Address: "joao@example.org"}},
		Subject: "Solicitação aberta — nº 42", Text: "Olá, João!", Thread: "42"})
	got := wait(t, srv, 1)[0]
	m, err := mail.ReadMessage(bytes.NewReader(got.Data))
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mime.WordDecoder)
	subj, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil || subj != "Solicitação aberta — nº 42 [#REQ-42]" {
		t.Fatalf("subject %q %v", subj, err)
	}
	to, err := m.Header.AddressList("To")
	if err != nil || to[0].Name != "João Ação" {
		t.Fatalf("to %v %v", to, err)
	}
	for _, line := range strings.Split(string(got.Data), "\r\n") {
		if len(line) > 998 {
			t.Fatal("line longer than 998 octets")
		}
	}
}

// The Sender sends only the queued mail of the mailboxes its Assignment
// runs (the rest stays queued for the Sender that runs them), lists every
// outbound mailbox of the catalog in HealthAll and has the engines' one
// lifecycle.
func TestAssignmentAndLifecycle(t *testing.T) {
	srv := startServer(t, mailtest.SMTPOptions{})
	var mu sync.Mutex
	runs := map[mailbox.ID]bool{"mb1": true}
	assign := engine.AssignmentFunc(func(id mailbox.ID) bool { mu.Lock(); defer mu.Unlock(); return runs[id] })
	h := newHarness(t, outbound.Options{Assignment: assign}, smtp.Options{}, outboundBox("mb1", srv), outboundBox("mb2", srv))
	var _ engine.Engine = h.s
	if err := h.s.Start(context.Background()); !errors.Is(err, engine.ErrStarted) {
		t.Fatalf("second Start: %v", err)
	}
	to := []store.Address{{Address: "ana@customer.example"}}
	id1 := h.enqueue(store.Message{Mailbox: "mb1", To: to, Subject: "one", Text: "x"})
	id2 := h.enqueue(store.Message{Mailbox: "mb2", To: to, Subject: "two", Text: "x"})
	h.next(outbound.EventDelivered)
	if r := h.record(id1); r.State != store.Sent {
		t.Fatalf("mb1's message: %v", r.State)
	}
	h.s.Reload()
	h.clk.Advance(time.Minute)
	time.Sleep(50 * time.Millisecond)
	if r := h.record(id2); r.State != store.Queued {
		t.Fatalf("an unassigned mailbox's message was touched: %v", r.State)
	}
	hs, err := h.s.HealthAll(context.Background())
	if err != nil || len(hs) != 2 || hs[0].Mailbox != "mb1" || hs[1].Mailbox != "mb2" || hs[1].QueueDepth != 1 || hs[0].Kind != mailbox.Outbound {
		t.Fatalf("HealthAll: %+v %v", hs, err)
	}
	if hs[0].State != engine.StateWaiting || hs[1].State != engine.StateIdle {
		t.Fatalf("states: %s %s", hs[0].State, hs[1].State)
	}
	// Assigned now: Reload sends it without waiting for the next due time.
	mu.Lock()
	runs["mb2"] = true
	mu.Unlock()
	h.s.Reload()
	h.next(outbound.EventDelivered)
	if r := h.record(id2); r.State != store.Sent {
		t.Fatalf("mb2's message after Reload: %v", r.State)
	}
}
