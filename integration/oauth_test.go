package integration_test

import (
	"context"
	"errors"
	"testing"

	"golang.org/x/oauth2"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport"
	imapt "github.com/correio-dev/correio/transport/imap"
	"github.com/correio-dev/correio/transport/smtp"
)

// oauthTokens returns a token source over golang.org/x/oauth2 holding only
// a refresh token the test token server granted to user.
func oauthTokens(user string) (*transport.OAuth2Tokens, string) {
	rt := tokens.Grant(user)
	cfg := &oauth2.Config{ClientID: "correio-test", ClientSecret: "client-secret",
		Endpoint: oauth2.Endpoint{TokenURL: tokens.TokenURL(), AuthStyle: oauth2.AuthStyleInParams}}
	return transport.NewOAuth2Tokens(cfg, &oauth2.Token{RefreshToken: rt}), rt
}

func oauthCreds(user string, src mailbox.TokenSource) mailbox.Credentials {
	return mailbox.Credentials{Username: user, Mechanism: mailbox.AuthXOAUTH2, OAuth2: src}
}

// TestOAuth2IMAP logs in to Dovecot with XOAUTH2: Dovecot asks the token
// server whether the bearer token is valid (RFC 7662 introspection).
func TestOAuth2IMAP(t *testing.T) {
	s := stack(t)
	ctx := context.Background()
	const user = "oauth@acme.test"
	clean(t, s, user)
	src, rt := oauthTokens(user)
	m := inBox(s, "oauth-in", user, mailbox.PostSeen, "")
	m.Inbound.Credentials = oauthCreds(user, src)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg := imapConfig(s)

	before := tokens.Issued()
	if _, err := imapt.Probe(ctx, cfg, m); err != nil {
		t.Fatalf("XOAUTH2 login: %v", err)
	}
	if n := tokens.Issued() - before; n != 1 {
		t.Fatalf("%d tokens fetched for the first login, want 1", n)
	}
	// The cached token is reused while valid.
	if _, err := imapt.Probe(ctx, cfg, m); err != nil || tokens.Issued()-before != 1 {
		t.Fatalf("second login: %v, %d tokens", err, tokens.Issued()-before)
	}

	// The server expires every token (the client still thinks its token
	// is good for an hour): the next login is refused once, the transport
	// invalidates the token, refreshes it and logs in.
	tokens.ExpireAll()
	sess, err := imapt.Dial(ctx, cfg, m)
	if err != nil {
		t.Fatalf("login after expiry: %v", err)
	}
	if _, err := sess.Select(ctx, "INBOX"); err != nil {
		t.Fatal(err)
	}
	_ = sess.Close()
	if n := tokens.Issued() - before; n != 2 {
		t.Fatalf("%d tokens after one expiry, want 2 (exactly one refresh)", n)
	}

	// The poller reads the mailbox with the refreshed token.
	rec := newRecorder()
	startPoller(t, fastPoller(s, memory.NewInboundStore(), rec), m)
	sendAs(t, s, customerMail{From: "ana@example.test", To: user, Subject: "over oauth", MessageID: "oauth-imap-1@example.test"})
	eventually(t, "the hand-off", func() bool { return rec.count("oauth-in") == 1 })

	// A revoked refresh token: the refresh fails and the error is the Auth
	// class (an administrator must authorise the mailbox again).
	tokens.Revoke(rt)
	tokens.ExpireAll()
	_, err = imapt.Probe(ctx, cfg, m)
	if !errors.Is(err, transport.ErrAuth) {
		t.Fatalf("revoked refresh token: %v (class %v)", err, transport.ClassOf(err))
	}
}

// TestOAuth2SMTP authenticates to Postfix submission with XOAUTH2 (Postfix
// asks Dovecot, which asks the token server) and sends through a Sender.
func TestOAuth2SMTP(t *testing.T) {
	s := stack(t)
	ctx := context.Background()
	const user = "oauth@globex.test"
	clean(t, s, box(21))
	src, rt := oauthTokens(user)
	m := outBox(s, "oauth-out", user)
	m.Outbound.Credentials = oauthCreds(user, src)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	tr := smtpTransport(t, s, smtp.Options{})

	before := tokens.Issued()
	rep, err := tr.Probe(ctx, m)
	if err != nil || !rep.Authenticated || rep.AuthMechanism != "XOAUTH2" {
		t.Fatalf("probe: %+v %v", rep, err)
	}
	if n := tokens.Issued() - before; n != 1 {
		t.Fatalf("%d tokens, want 1", n)
	}

	cat := memory.NewCatalog()
	if err := cat.PutMailbox(ctx, m); err != nil {
		t.Fatal(err)
	}
	send := func(tr *smtp.Transport, subject string) *store.OutboxRecord {
		t.Helper()
		snd := startSender(t, cat, tr, outbound.Options{})
		id, err := snd.Enqueue(ctx, store.Message{Mailbox: m.ID, To: []store.Address{{Address: box(21)}}, Subject: subject, Text: "sent with XOAUTH2"})
		if err != nil {
			t.Fatal(err)
		}
		return snd.waitSent(t, id)[0]
	}
	first := send(tr, "oauth first")

	// Expired on the server (the client still thinks its token is good):
	// the next login is refused once, the token refreshed, and the message
	// goes out. A new transport, so no pooled connection is already
	// authenticated.
	tokens.ExpireAll()
	tr2 := smtpTransport(t, s, smtp.Options{})
	second := send(tr2, "oauth after expiry")
	if n := tokens.Issued() - before; n != 2 {
		t.Fatalf("%d tokens after one expiry, want 2 (exactly one refresh)", n)
	}
	msgs := waitFolder(t, s, box(21), "INBOX", "both XOAUTH2 messages", func(ms []serverMsg) bool { return len(ms) >= 2 })
	for _, r := range []*store.OutboxRecord{first, second} {
		if mm, ok := byMessageID(msgs, r.MessageID); !ok || mm.Header.Get("From") == "" {
			t.Fatalf("%s missing in the recipient's INBOX", r.MessageID)
		}
	}

	// A revoked refresh token: the Auth class.
	tokens.Revoke(rt)
	tokens.ExpireAll()
	if _, err := tr2.Probe(ctx, m); !errors.Is(err, transport.ErrAuth) {
		t.Fatalf("revoked refresh token: %v (class %v)", err, transport.ClassOf(err))
	}
}
