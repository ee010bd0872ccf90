package connect_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/correio-dev/correio/connect"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/imap"
)

// The whole chain over a real IMAP session: a connected mailbox logs in
// with XOAUTH2; when the server refuses the token the IMAP transport
// invalidates it once and the source refreshes; when the provider has
// revoked the grant the login fails with an error wrapping
// transport.ErrReauthRequired, which is what the engines act on.
func TestIMAPLoginWithConnectedMailboxAndRevokedGrant(t *testing.T) {
	e := newEnv(t, mailtest.OAuthOptions{AutoApprove: account})
	ctx := context.Background()
	g, _ := e.connect(t, "support", "b")
	toks := memory.NewTokens()
	if err := toks.PutToken(ctx, g.Mailbox, g.Token); err != nil {
		t.Fatal(err)
	}
	ts := e.flow.TokenSource(toks, "support", connect.MicrosoftIMAP, connect.ScopeOfflineAccess)

	srv, err := mailtest.NewIMAPServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.AddUser(account, "unused-password")
	srv.SetToken(account, g.Token.AccessToken.Reveal())
	m := &mailbox.Mailbox{ID: "support", Description: "Support", Kind: mailbox.Inbound, Enabled: true,
		Inbound: &mailbox.InboundSettings{
			Server:      mailbox.Server{Host: srv.Host(), Port: srv.Port(), Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			Credentials: mailbox.Credentials{Username: account, Mechanism: mailbox.AuthXOAUTH2, OAuth2: ts},
		}}
	cfg := &imap.Config{Timeout: 10 * time.Second}
	s, err := imap.Dial(ctx, cfg, m)
	if err != nil {
		t.Fatalf("XOAUTH2 login with the connected grant: %v", err)
	}
	s.Close()

	// The server stops accepting the token (it was revoked server-side):
	// the transport asks for a fresh one, which the refresh gives.
	e.srv.RevokeGrant(account)
	srv.SetToken(account, "only-a-newer-token-works")
	_, err = imap.Dial(ctx, cfg, m)
	if !errors.Is(err, transport.ErrReauthRequired) || transport.ClassOf(err) != transport.Auth {
		t.Fatalf("login after the grant was revoked: %v, want Auth wrapping transport.ErrReauthRequired", err)
	}
	var pe *connect.ProviderError
	if !errors.As(err, &pe) || pe.AADSTS[0] != 50173 {
		t.Fatalf("the cause is not the provider's AADSTS50173 refusal: %v", err)
	}
}
