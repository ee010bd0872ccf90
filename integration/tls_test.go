package integration_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport"
	imapt "github.com/correio-dev/correio/transport/imap"
	"github.com/correio-dev/correio/transport/smtp"
)

// otherCA returns a pool holding a CA that did not sign the stack's
// certificates.
func otherCA(t *testing.T) *x509.CertPool {
	t.Helper()
	ca, err := mailtest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	return ca.Pool()
}

func TestIMAPTLS(t *testing.T) {
	s := stack(t)
	ctx := context.Background()
	const user = "tls@acme.test"
	cfg := imapConfig(s)

	implicit := inBox(s, "imaps", user, mailbox.PostSeen, "")
	starttls := inBox(s, "imap-starttls", user, mailbox.PostSeen, "")
	starttls.Inbound.Server.Port, starttls.Inbound.Server.Security = s.IMAPPort, mailbox.SecuritySTARTTLS
	for _, m := range []*mailbox.Mailbox{implicit, starttls} {
		rep, err := imapt.Probe(ctx, cfg, m)
		if err != nil {
			t.Fatalf("%s: %v", m.ID, err)
		}
		if rep.Security != m.Inbound.Server.Security || rep.Folder != "INBOX" || !rep.Caps.Idle || !rep.Caps.Move {
			t.Fatalf("%s: report %+v", m.ID, rep)
		}
		// A session too: log in and select.
		sess, err := imapt.Dial(ctx, cfg, m)
		if err != nil {
			t.Fatalf("%s: dial: %v", m.ID, err)
		}
		if _, err := sess.Select(ctx, "INBOX"); err != nil {
			t.Fatalf("%s: select: %v", m.ID, err)
		}
		_ = sess.Close()

		// A CA that did not sign the server's certificate: the TLS class,
		// by Probe and by Dial, on both ports.
		wrong := &imapt.Config{TLSConfig: &tls.Config{RootCAs: otherCA(t)}, Timeout: 10 * time.Second}
		_, err = imapt.Probe(ctx, wrong, m)
		if !errors.Is(err, transport.ErrTLS) {
			t.Fatalf("%s: probe with a wrong CA: %v (class %v)", m.ID, err, transport.ClassOf(err))
		}
		var te *transport.Error
		if !errors.As(err, &te) || te.Hint == "" {
			t.Fatalf("%s: no hint in %v", m.ID, err)
		}
		if _, err := imapt.Dial(ctx, wrong, m); !errors.Is(err, transport.ErrTLS) {
			t.Fatalf("%s: dial with a wrong CA: %v", m.ID, err)
		}
		// The system roots do not know the test CA either.
		if _, err := imapt.Probe(ctx, &imapt.Config{Timeout: 10 * time.Second}, m); !errors.Is(err, transport.ErrTLS) {
			t.Fatalf("%s: probe with system roots: %v", m.ID, err)
		}
	}

	// A certificate for another name fails too (TLSServerName checked).
	named := implicit.Clone()
	named.Inbound.Server.TLSServerName = "imap.elsewhere.test"
	if _, err := imapt.Probe(ctx, cfg, named); !errors.Is(err, transport.ErrTLS) {
		t.Fatalf("wrong server name: %v", err)
	}

	// Plaintext: refused by validation and by the transport without the
	// opt-in; with it, Dovecot's plaintext port logs in.
	plain := inBox(s, "imap-plain", user, mailbox.PostSeen, "")
	plain.Inbound.Server.Port, plain.Inbound.Server.Security = s.IMAPPort, mailbox.SecurityPlaintext
	if !hasCode(plain.Validate(), mailbox.CodeInsecure) {
		t.Fatalf("plaintext without opt-in: %v", plain.Validate())
	}
	if _, err := imapt.Probe(ctx, cfg, plain); !errors.Is(err, transport.ErrPolicy) {
		t.Fatalf("plaintext probe without opt-in: %v", err)
	}
	plain.Inbound.Server.AllowPlaintext = true
	if err := plain.Validate(); err != nil {
		t.Fatal(err)
	}
	if rep, err := imapt.Probe(ctx, cfg, plain); err != nil || rep.Security != mailbox.SecurityPlaintext {
		t.Fatalf("plaintext with opt-in: %+v %v", rep, err)
	}

	// STARTTLS required against a server that does not offer it (the
	// in-process server without TLS; Dovecot always offers it): TLS class,
	// before any credential is sent.
	bare, err := mailtest.NewIMAPServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	bare.AddUser(user, pass(user))
	noTLS := starttls.Clone()
	noTLS.Inbound.Server.Port = bare.Port()
	if _, err := imapt.Probe(ctx, cfg, noTLS); !errors.Is(err, transport.ErrTLS) {
		t.Fatalf("STARTTLS required, not offered: %v", err)
	}
	if ok, failed := bare.Logins(); ok+failed != 0 {
		t.Fatalf("credentials sent without TLS: %d logins", ok+failed)
	}
}

func hasCode(err error, code mailbox.Code) bool {
	for _, fe := range mailbox.FieldErrors(err) {
		if fe.Code == code {
			return true
		}
	}
	return false
}

func TestSMTPTLS(t *testing.T) {
	s := stack(t)
	ctx := context.Background()
	tr := smtpTransport(t, s, smtp.Options{})

	sub := outBox(s, "submission", "tls@acme.test")
	smtps := outBox(s, "smtps", "tls@acme.test")
	smtps.Outbound.Server.Port, smtps.Outbound.Server.Security = s.SMTPSPort, mailbox.SecurityTLS
	for _, m := range []*mailbox.Mailbox{sub, smtps} {
		rep, err := tr.Probe(ctx, m)
		if err != nil {
			t.Fatalf("%s: %v (%+v)", m.ID, err, rep)
		}
		if !rep.Authenticated || rep.TLSVersion == "" || !strings.Contains(rep.Greeting, "220") {
			t.Fatalf("%s: greeting %q auth %v tls %q", m.ID, rep.Greeting, rep.Authenticated, rep.TLSVersion)
		}
		if !slices.ContainsFunc(rep.AuthMechanisms, func(a string) bool { return strings.EqualFold(a, "PLAIN") }) {
			t.Fatalf("%s: mechanisms %v", m.ID, rep.AuthMechanisms)
		}
	}
	// Postfix offers AUTH only after STARTTLS; the report lists the
	// extensions seen after the upgrade.
	rep, _ := tr.Probe(ctx, sub)
	if !slices.ContainsFunc(rep.Extensions, func(e string) bool { return strings.HasPrefix(strings.ToUpper(e), "AUTH") }) {
		t.Fatalf("no AUTH after STARTTLS: %v", rep.Extensions)
	}

	// A wrong password is the Auth class.
	bad := sub.Clone()
	bad.Outbound.Credentials.Password = mailbox.NewSecret("wrong")
	if _, err := tr.Probe(ctx, bad); !errors.Is(err, transport.ErrAuth) {
		t.Fatalf("wrong password: %v", err)
	}

	// A wrong CA is the TLS class, by Probe and by sending through a
	// Sender (the message stays queued, its error classified).
	wrongTr := smtp.New(smtp.Options{RootCAs: otherCA(t), CommandTimeout: 10 * time.Second})
	defer wrongTr.Close()
	for _, m := range []*mailbox.Mailbox{sub, smtps} {
		if _, err := wrongTr.Probe(ctx, m); !errors.Is(err, transport.ErrTLS) {
			t.Fatalf("%s: wrong CA: %v", m.ID, err)
		}
	}
	cat := memory.NewCatalog()
	if err := cat.PutMailbox(ctx, sub); err != nil {
		t.Fatal(err)
	}
	snd := startSender(t, cat, wrongTr, outbound.Options{RetryBase: time.Hour, RetryMax: time.Hour})
	id, err := snd.Enqueue(ctx, store.Message{Mailbox: sub.ID, To: []store.Address{{Address: "ana@example.test"}}, Subject: "never", Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "a deferred event", func() bool { return len(snd.eventsOf(outbound.EventDeferred)) > 0 })
	ev := snd.eventsOf(outbound.EventDeferred)[0]
	if ev.ID != id || !errors.Is(ev.Err, transport.ErrTLS) {
		t.Fatalf("deferred %+v, want the TLS class", ev)
	}
	if r, _ := snd.ob.Get(ctx, id); r.State != store.Queued {
		t.Fatalf("record %v after a TLS failure", r.State)
	}

	// Plaintext: refused without the opt-in (validation and transport).
	plain := sub.Clone()
	plain.Outbound.Server.Security = mailbox.SecurityPlaintext
	if !hasCode(plain.Validate(), mailbox.CodeInsecure) {
		t.Fatalf("plaintext without opt-in: %v", plain.Validate())
	}
	if _, err := tr.Probe(ctx, plain); !errors.Is(err, transport.ErrPolicy) {
		t.Fatalf("plaintext probe without opt-in: %v", err)
	}
	// With the opt-in, Postfix itself refuses to authenticate without TLS
	// (smtpd_tls_auth_only): the probe fails and says so, classified.
	plain.Outbound.Server.AllowPlaintext = true
	if err := plain.Validate(); err != nil {
		t.Fatal(err)
	}
	_, err = tr.Probe(ctx, plain)
	if err == nil || transport.ClassOf(err) == transport.ClassUnknown {
		t.Fatalf("plaintext AUTH accepted by a TLS-only submission port: %v", err)
	}

	// STARTTLS required against a server that does not offer it.
	bare, err := mailtest.NewSMTPServer(mailtest.SMTPOptions{Users: map[string]string{"tls@acme.test": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	noTLS := sub.Clone()
	noTLS.Outbound.Server.Host, noTLS.Outbound.Server.Port = bare.Host(), bare.Port()
	if _, err := tr.Probe(ctx, noTLS); !errors.Is(err, transport.ErrTLS) {
		t.Fatalf("STARTTLS required, not offered: %v", err)
	}
}
