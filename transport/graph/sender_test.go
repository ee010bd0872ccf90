package graph_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/graph"
	"github.com/correio-dev/correio/transport/internal/resttest"
	"github.com/correio-dev/correio/transport/transporttest"
)

func outboundMailbox() *mailbox.Mailbox {
	return &mailbox.Mailbox{ID: "desk-out", Description: "Service desk (Microsoft 365)", Kind: mailbox.Outbound, Enabled: true, Address: desk,
		Outbound: &mailbox.OutboundSettings{Transport: mailbox.TransportGraph, From: mailbox.Identity{Address: desk},
			Credentials: mailbox.Credentials{Username: desk, OAuth2: staticToken("tok-desk")}}}
}

// TestSenderConformance runs the sender suite. Graph has no SMTP
// envelope and no per-recipient replies, so the two subtests built on
// them are skipped with the reason: Send (its envelope names recipients
// the message's To header does not, and leaves out the one it does) and
// PerRecipient. The suite's messages are all "To: desk@example.com"
// whatever their envelope, which the default Sender refuses
// (ErrRecipients), so the suite runs with DeliverHeaderRecipients. TestSend
// and TestSendRecipients cover the default.
func TestSenderConformance(t *testing.T) {
	transporttest.RunSender(t, transporttest.SenderHarness{New: func(t *testing.T) *transporttest.SenderEnv {
		resttest.SkipEnvelopeSubtests(t, "Graph")
		srv := newServer(t)
		return resttest.SenderEnv(t, "Graph", srv, outboundMailbox(), func(n transport.Net) transport.Sender {
			cfg := config(t, srv, n)
			cfg.DeliverHeaderRecipients = true
			return graph.NewSender(cfg)
		}, func(*testing.T) []transporttest.Received {
			var out []transporttest.Received
			for _, s := range srv.Sent() {
				out = append(out, transporttest.Received{From: s.User, To: s.To, Raw: s.Raw})
			}
			return out
		})
	}})
}

func sendRaw(t *testing.T, snd *graph.Sender, env transport.Envelope, raw []byte) (transport.Result, error) {
	t.Helper()
	return resttest.SendRaw(t, snd, outboundMailbox(), env, raw)
}

// TestSend: the raw MIME reaches Graph untouched (our Message-ID and
// headers), envelope recipients the headers do not name go as Bcc, and
// the copy lands in Sent Items.
func TestSend(t *testing.T) {
	srv := newServer(t)
	snd := graph.NewSender(config(t, srv, transport.Net{}))
	raw := transporttest.Message("send", 1, 2000) // To: desk@example.com
	res, err := sendRaw(t, snd, transport.Envelope{From: desk, To: []string{"desk@example.com", "copy@example.net"}}, raw)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if !slices.Equal(res.Accepted, []string{"desk@example.com", "copy@example.net"}) {
		t.Fatalf("accepted %v", res.Accepted)
	}
	sent := srv.Sent()
	if len(sent) != 1 || !bytes.HasSuffix(sent[0].Raw, raw) || !bytes.HasPrefix(sent[0].Raw, []byte("Bcc: copy@example.net\r\n")) {
		t.Fatalf("sent %d messages; the first does not end with the raw message or lacks the Bcc line", len(sent))
	}
	if !slices.Equal(sent[0].To, []string{"desk@example.com", "copy@example.net"}) {
		t.Fatalf("delivered to %v", sent[0].To)
	}
	if n, _ := srv.Count(desk, "sentitems"); n != 1 {
		t.Fatalf("Sent Items holds %d", n)
	}
}

// TestSendRecipients: a header recipient missing from the envelope is
// refused before anything is sent; Graph's refusals are classified and
// reported for every recipient.
func TestSendRecipients(t *testing.T) {
	srv := newServer(t)
	snd := graph.NewSender(config(t, srv, transport.Net{}))
	raw := transporttest.Message("rcpt", 1, 200)
	res, err := sendRaw(t, snd, transport.Envelope{From: desk, To: []string{"other@example.net"}}, raw)
	if !errors.Is(err, graph.ErrRecipients) || !errors.Is(err, transport.ErrPermanent) || len(res.Rejected) != 1 {
		t.Fatalf("header-only recipient: %+v %v", res, err)
	}
	if len(srv.Sent()) != 0 {
		t.Fatal("a refused message was sent")
	}
	srv.FailSend(1, 400, "ErrorInvalidRecipients")
	res, err = sendRaw(t, snd, transport.Envelope{From: desk, To: []string{desk}}, raw)
	if !errors.Is(err, transport.ErrPermanent) || len(res.Rejected) != 1 || res.Rejected[0].Err.Enhanced != "ErrorInvalidRecipients" {
		t.Fatalf("invalid recipients: %+v %v", res, err)
	}
	srv.FailSend(1, 403, "ErrorSendAsDenied")
	if _, err = sendRaw(t, snd, transport.Envelope{From: desk, To: []string{desk}}, raw); !errors.Is(err, transport.ErrAuth) {
		t.Fatalf("send-as denied: %v, want ErrAuth", err)
	}
	big := transporttest.Message("big", 1, 4<<20)
	if _, err = sendRaw(t, snd, transport.Envelope{From: desk, To: []string{desk}}, big); !errors.Is(err, transport.ErrPermanent) {
		t.Fatalf("a message over 4 MB: %v", err)
	}
	if len(srv.Sent()) != 0 {
		t.Fatal("a refused message was sent")
	}
}

// TestSendThrottled: a short Retry-After is waited out (the message is
// sent once, after it); a long one is returned with RetryAfter for the
// engine.
func TestSendThrottled(t *testing.T) {
	srv := newServer(t)
	snd := graph.NewSender(config(t, srv, transport.Net{}))
	raw := transporttest.Message("throttle", 1, 200)
	srv.Throttle(1, 429, time.Second)
	start := time.Now()
	if _, err := sendRaw(t, snd, transport.Envelope{From: desk, To: []string{desk}}, raw); err != nil {
		t.Fatalf("Send after a 429: %v", err)
	}
	if el := time.Since(start); el < time.Second {
		t.Fatalf("sent %v after a 429 with Retry-After: 1", el)
	}
	if n := len(srv.Sent()); n != 1 {
		t.Fatalf("sent %d", n)
	}
	cfg := config(t, srv, transport.Net{})
	cfg.MaxRetryWait = 2 * time.Second
	srv.Throttle(1, 503, 120*time.Second)
	_, err := sendRaw(t, graph.NewSender(cfg), transport.Envelope{From: desk, To: []string{desk}}, raw)
	if !errors.Is(err, transport.ErrTemporary) || transport.RetryAfter(err) != 120*time.Second {
		t.Fatalf("a 503 with Retry-After: 120: %v (retry after %v)", err, transport.RetryAfter(err))
	}
	if n := len(srv.Sent()); n != 1 {
		t.Fatalf("sent %d", n)
	}
}

// TestAppOnly: client credentials against the tenant's token endpoint
// read a shared mailbox no user token covers; a wrong secret is an auth
// error without the secret in its text.
func TestAppOnly(t *testing.T) {
	srv := newServer(t)
	const shared = "support@example.com"
	srv.AddUser(shared)
	srv.AddClient("tenant-1", "app-1", "s3cret-value")
	if _, err := srv.Deliver(shared, "inbox", transporttest.Message("app", 1, 100)); err != nil {
		t.Fatal(err)
	}
	m := inboundMailbox()
	m.Address = shared
	m.Inbound.Credentials = mailbox.Credentials{Username: shared}
	ctx := context.Background()
	// The delegated token of desk@ has no access to the shared mailbox.
	d := m.Clone()
	d.Inbound.Credentials.OAuth2 = staticToken("tok-desk")
	if _, err := graph.NewSource(config(t, srv, transport.Net{})).Open(ctx, d); !errors.Is(err, transport.ErrAuth) || !strings.Contains(err.Error(), "application access policy") {
		t.Fatalf("another user's token: %v, want ErrAuth with the hint", err)
	}
	cfg := config(t, srv, transport.Net{})
	cfg.AppOnly = &graph.AppOnly{TenantID: "tenant-1", ClientID: "app-1", ClientSecret: mailbox.NewSecret("s3cret-value"), Authority: srv.URL}
	src := graph.NewSource(cfg)
	if err := src.Validate(m); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	s, err := src.Open(ctx, m)
	if err != nil {
		t.Fatalf("Open with app-only access: %v", err)
	}
	from, _, err := s.Resume(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if items, err := s.List(ctx, from); err != nil || len(items) != 1 {
		t.Fatalf("List: %d %v", len(items), err)
	}
	bad := config(t, srv, transport.Net{})
	bad.AppOnly = &graph.AppOnly{TenantID: "tenant-1", ClientID: "app-1", ClientSecret: mailbox.NewSecret("wrong-secret"), Authority: srv.URL}
	_, err = graph.NewSource(bad).Open(ctx, m)
	if !errors.Is(err, transport.ErrAuth) || strings.Contains(err.Error(), "wrong-secret") {
		t.Fatalf("a wrong client secret: %v", err)
	}
	// Senders use the same app-only tokens (send as the shared mailbox).
	om := outboundMailbox()
	om.Address, om.Outbound.From.Address = shared, shared
	om.Outbound.Credentials = mailbox.Credentials{Username: shared}
	o, err := graph.NewSender(cfg).Open(ctx, om)
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte("From: support@example.com\r\nTo: c@example.net\r\nSubject: hi\r\nMessage-ID: <1@x>\r\n\r\nhello\r\n")
	if _, err := o.Send(ctx, transport.Envelope{From: shared, To: []string{"c@example.net"}}, bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	if sent := srv.Sent(); len(sent) != 1 || sent[0].User != shared {
		t.Fatalf("sent %+v", sent)
	}
}

// TestSharedConcurrency: a Source and a Sender from NewTransports share
// the mailbox's four request slots: reading and sending the same mailbox
// at once never has a fifth request in flight (the server would refuse
// it, and with MaxRetryWait -1 the refusal would fail the call).
func TestSharedConcurrency(t *testing.T) {
	srv := newServer(t)
	if _, err := srv.Deliver(desk, "inbox", transporttest.Message("shared", 1, 100)); err != nil {
		t.Fatal(err)
	}
	srv.SetDelay(30 * time.Millisecond)
	cfg := config(t, srv, transport.Net{})
	cfg.MaxRetryWait = -1
	src, snd := graph.NewTransports(cfg)
	ctx := context.Background()
	errs := make(chan error, 16)
	for i := range 16 {
		go func() {
			if i%2 == 0 {
				s, err := src.Open(ctx, inboundMailbox())
				if err == nil {
					var from transport.Cursor
					if from, _, err = s.Resume(ctx, "", false); err == nil {
						_, err = s.List(ctx, from)
					}
				}
				errs <- err
				return
			}
			o, err := snd.Open(ctx, outboundMailbox())
			if err == nil {
				_, err = o.Send(ctx, transport.Envelope{From: desk, To: []string{desk}}, bytes.NewReader(transporttest.Message("shared-out", i, 100)))
				_ = o.Close()
			}
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Errorf("a call: %v", err)
		}
	}
	if n := srv.OverConcurrency(); n != 0 {
		t.Fatalf("%d requests over the mailbox's concurrency", n)
	}
	if n := len(srv.Sent()); n != 8 {
		t.Fatalf("sent %d, want 8", n)
	}
}
