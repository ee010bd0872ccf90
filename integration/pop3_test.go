package integration_test

import (
	"context"
	"crypto/tls"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/internal/mailstack"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/pop3"
)

func popBox(s *mailstack.Stack, addr string, port int, sec mailbox.Security, post mailbox.PostAction) *mailbox.Mailbox {
	return &mailbox.Mailbox{ID: "pop", Description: "pop", Kind: mailbox.Inbound, Enabled: true, Address: addr,
		Inbound: &mailbox.InboundSettings{Transport: mailbox.TransportPOP3, PostAction: post,
			Server:      mailbox.Server{Host: mailstack.Host, Port: port, Security: sec},
			Credentials: mailbox.Credentials{Username: addr, Password: mailbox.NewSecret(pass(addr))}}}
}

// popList opens a session and lists the whole maildrop.
func popList(t *testing.T, src *pop3.Source, m *mailbox.Mailbox) (transport.Session, []transport.Item) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sess, err := src.Open(ctx, m)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close(context.Background()) })
	from, _, err := sess.Resume(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	items, err := sess.List(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	return sess, items
}

// TestDovecotPOP3 reads mail that Postfix delivered into Dovecot through
// Dovecot's POP3, over STLS and over POP3S: the messages arrive whole,
// keep leaves them on the server, delete removes them, Check reports what
// Dovecot offers, and a wrong CA fails with the TLS class.
func TestDovecotPOP3(t *testing.T) {
	s := stack(t)
	const user = "pop@example.test"
	clean(t, s, user)
	ids := []string{"pop-1@customer.test", "pop-2@customer.test"}
	for i, id := range ids {
		sendAs(t, s, customerMail{From: "ana@example.test", To: user, Subject: "pop " + string(rune('A'+i)), MessageID: id})
	}
	src := pop3.NewSource(&pop3.Config{TLSConfig: &tls.Config{RootCAs: s.CA.Pool()}, Timeout: 10 * time.Second})
	stls := popBox(s, user, s.POP3Port, mailbox.SecuritySTARTTLS, mailbox.PostKeep)
	if err := src.Validate(stls); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both messages in the POP3 maildrop", func() bool {
		_, items := popList(t, src, stls)
		return len(items) == 2
	})

	// Keep: fetched whole, still there on the next connection.
	sess, items := popList(t, src, stls)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := map[string]string{}
	if err := sess.Fetch(ctx, items, func(sp *transport.Spool) {
		defer sp.Close()
		b, _ := io.ReadAll(sp.Reader())
		got[sp.ID] = string(b)
	}); err != nil {
		t.Fatal(err)
	}
	for i, it := range items {
		if !strings.Contains(got[it.ID], "<"+ids[i]+">") || int64(len(got[it.ID])) != it.Size {
			t.Fatalf("message %d (%s): %d bytes of %d, want Message-ID %s", i, it.ID, len(got[it.ID]), it.Size, ids[i])
		}
	}
	if err := sess.Apply(ctx, transport.Action{Kind: mailbox.PostKeep}, []string{items[0].ID}); err != nil {
		t.Fatal(err)
	}
	// The cursor after the first message lists the second only.
	if rest, err := sess.List(ctx, items[0].Cursor); err != nil || len(rest) != 1 || rest[0].ID != items[1].ID {
		t.Fatalf("after the first: %+v %v", rest, err)
	}

	rep, err := src.Check(ctx, stls)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Fact("messages") != "2" || rep.Fact("cursor") != "uidl" || !strings.Contains(rep.Fact("capabilities"), "STLS") ||
		!strings.Contains(rep.Fact("capabilities"), "PLAIN") {
		t.Fatalf("check: %+v", rep.Facts)
	}

	// Delete over POP3S: gone from Dovecot (IMAP sees an empty INBOX).
	tlsBox := popBox(s, user, s.POP3SPort, mailbox.SecurityTLS, mailbox.PostDelete)
	sess2, items2 := popList(t, src, tlsBox)
	if len(items2) != 2 || items2[0].ID != items[0].ID {
		t.Fatalf("POP3S lists %+v, STLS listed %+v: UIDLs must agree", items2, items)
	}
	if err := sess2.Apply(ctx, transport.Action{Kind: mailbox.PostDelete}, []string{items2[0].ID, items2[1].ID}); err != nil {
		t.Fatal(err)
	}
	if left := folder(t, s, user, "INBOX"); len(left) != 0 {
		t.Fatalf("%d messages left after delete", len(left))
	}
	if err := sess2.Apply(ctx, transport.Action{Kind: mailbox.PostDelete}, []string{items2[0].ID}); err != nil {
		t.Fatalf("delete twice: %v", err)
	}

	bad := pop3.NewSource(&pop3.Config{TLSConfig: &tls.Config{RootCAs: otherCA(t)}, Timeout: 10 * time.Second})
	for _, m := range []*mailbox.Mailbox{stls, tlsBox} {
		if _, err := bad.Open(ctx, m); transport.ClassOf(err) != transport.TLS {
			t.Fatalf("wrong CA on port %d: %v, want class tls", m.Inbound.Server.Port, err)
		}
	}
	wrong := popBox(s, user, s.POP3SPort, mailbox.SecurityTLS, mailbox.PostKeep)
	wrong.Inbound.Credentials.Password = mailbox.NewSecret("nope")
	if _, err := src.Open(ctx, wrong); transport.ClassOf(err) != transport.Auth {
		t.Fatalf("wrong password: %v, want class auth", err)
	}
}

// TestDovecotPOP3Retention: the Poller reads Dovecot's POP3 with leave on
// server and a retention of a day (the POP3 source's clock is a fake one,
// advanced by the test): handled mail stays in Dovecot until a day after
// its hand-off, then the next poll deletes it; a message handed later
// stays; nothing is handed twice.
func TestDovecotPOP3Retention(t *testing.T) {
	s := stack(t)
	const user = "keep@example.test"
	clean(t, s, user)
	for i, id := range []string{"keep-1@customer.test", "keep-2@customer.test"} {
		sendAs(t, s, customerMail{From: "ana@example.test", To: user, Subject: "keep " + string(rune('A'+i)), MessageID: id})
	}
	eventually(t, "both messages in Dovecot", func() bool { return len(folder(t, s, user, "INBOX")) == 2 })

	clk := clock.NewFake(time.Now())
	src := pop3.NewSource(&pop3.Config{TLSConfig: &tls.Config{RootCAs: s.CA.Pool()}, Timeout: 10 * time.Second, Clock: clk})
	m := popBox(s, user, s.POP3SPort, mailbox.SecurityTLS, mailbox.PostKeep)
	m.ID, m.Inbound.KeepFor, m.Inbound.PollInterval = "keep", 24*time.Hour, 200*time.Millisecond
	if err := transport.ValidateSource(src, m); err != nil {
		t.Fatal(err)
	}
	cat := memory.NewCatalog()
	if err := cat.PutMailbox(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	host := &pipeHost{}
	p, err := inbound.New(inbound.Options{Store: memory.NewInboundStore(), Handler: host, Catalog: cat,
		Source: transport.Sources{mailbox.TransportPOP3: src}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, c := context.WithTimeout(context.Background(), 30*time.Second)
		defer c()
		_ = p.Stop(sctx)
	}()
	eventually(t, "two handed", func() bool { h, _ := host.state(); return len(h) == 2 })
	time.Sleep(time.Second) // several polls: keep leaves them
	if n := len(folder(t, s, user, "INBOX")); n != 2 {
		t.Fatalf("Dovecot has %d messages before the retention, want 2", n)
	}

	clk.Advance(23 * time.Hour)
	sendAs(t, s, customerMail{From: "ana@example.test", To: user, Subject: "keep C", MessageID: "keep-3@customer.test"})
	eventually(t, "the third handed", func() bool { h, _ := host.state(); return len(h) == 3 })
	if n := len(folder(t, s, user, "INBOX")); n != 3 {
		t.Fatalf("Dovecot has %d messages within the retention, want 3", n)
	}

	clk.Advance(2 * time.Hour) // the first two are a day old, the third an hour
	eventually(t, "the first two deleted", func() bool { return len(folder(t, s, user, "INBOX")) == 1 })
	time.Sleep(time.Second)
	left := folder(t, s, user, "INBOX")
	if len(left) != 1 || !strings.Contains(left[0].Header.Get("Message-Id"), "keep-3@customer.test") {
		t.Fatalf("left in Dovecot: %+v, want keep-3 only", left)
	}
	if h, _ := host.state(); len(h) != 3 || h[0] == h[1] || h[1] == h[2] || h[0] == h[2] {
		t.Fatalf("handed %v, want three distinct", h)
	}
}
