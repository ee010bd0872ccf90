package main

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
)

// TestEnginesUseTheConnectTokens: a Gmail API mailbox connected with the
// Google button, and a Graph mailbox connected with the Microsoft one, are
// read by the helpdesk's real engines with the tokens of
// its grant (connect.Flow.TokenSource over the store's Tokens); once the
// provider revokes the grant and the access token runs out, the engines'
// next sign-in ends in transport.ErrReauthRequired and the list's banner
// asks to connect again.
// The engines' health of the mailbox says engine.StateReauthRequired.
func TestEnginesUseTheConnectTokens(t *testing.T) {
	t.Run("gmail", func(t *testing.T) {
		gs := mailtest.NewGmailServer()
		t.Cleanup(gs.Close)
		gs.AddUser(oauthAccount)
		testEngineTokens(t, apiServer{kind: mailbox.TransportGmail, provider: "google", cert: gs.Certificate(),
			apis: apiOptions{GmailBaseURL: gs.URL}, addToken: gs.AddToken, refuse: gs.SetTokensRefused,
			deliver: func(raw []byte) error { _, err := gs.Deliver(oauthAccount, raw); return err }})
	})
	t.Run("graph", func(t *testing.T) {
		gr := mailtest.NewGraphServer()
		t.Cleanup(gr.Close)
		gr.AddUser(oauthAccount)
		testEngineTokens(t, apiServer{kind: mailbox.TransportGraph, provider: "microsoft", cert: gr.Certificate(),
			apis: apiOptions{GraphBaseURL: gr.URL}, addToken: gr.AddToken, refuse: gr.SetTokensRefused,
			deliver: func(raw []byte) error { _, err := gr.Deliver(oauthAccount, "inbox", raw); return err }})
	})
}

// apiServer is the local Gmail or Graph server of testEngineTokens.
type apiServer struct {
	kind     mailbox.TransportKind
	provider string
	cert     *x509.Certificate
	apis     apiOptions
	addToken func(token string, users ...string)
	refuse   func(bool)
	deliver  func(raw []byte) error
}

func testEngineTokens(t *testing.T, as apiServer) {
	e := newOAuthEnv(t, mailtest.OAuthOptions{AutoApprove: oauthAccount})
	ctx := context.Background()
	pool := x509.NewCertPool()
	pool.AddCert(as.cert)
	as.apis.RootCAs = pool
	c := e.client()
	if resp, body := e.post(c, e.srv.URL+"/mailboxes/new?lang=en", oauthInboundForm()); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", resp.StatusCode, body)
	}
	m := e.setTransport("Contoso support", as.kind)
	resp, _ := e.post(c, e.srv.URL+"/mailboxes/"+string(m.ID)+"/connect/"+as.provider, url.Values{})
	resp, _ = e.get(c, resp.Header.Get("Location"))
	if resp, _ = e.get(c, resp.Header.Get("Location")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %d", resp.StatusCode)
	}
	g, err := e.st.Tokens().GetToken(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The API server accepts the access tokens the local authorization
	// server issued for the grant.
	as.addToken(g.AccessToken.Reveal(), oauthAccount)
	start := func() *engines {
		eng, err := startEngines(ctx, e.st.Catalog(), e.app.dir, nil, engineOptions{APIs: as.apis})
		if err != nil {
			t.Fatal(err)
		}
		e.app.engine = eng
		return eng
	}
	eng := start()
	if err := as.deliver([]byte("From: c@example.net\r\nTo: " + oauthAccount + "\r\nSubject: printer on fire\r\nMessage-ID: <1@example.net>\r\n\r\nhelp\r\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the engines read the mailbox with the grant's token", func() bool {
		log, _ := eng.Messages(ctx)
		for _, r := range log.Received {
			if r.Subject == "printer on fire" && r.Mailbox == m.ID {
				return true
			}
		}
		return false
	})
	eng.Close()

	// The provider revokes the grant and the access token runs out: the
	// next token needs a refresh, which the provider refuses.
	e.auth.RevokeGrant(oauthAccount)
	g, err = e.st.Tokens().GetToken(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	g.Expiry = time.Now().Add(-time.Hour)
	if err := e.st.Tokens().PutToken(ctx, m.ID, g); err != nil {
		t.Fatal(err)
	}
	src := e.app.oauth.source(m.ID)
	src.InvalidateToken() // the cached access token expired too
	as.refuse(true)
	eng = start()
	t.Cleanup(eng.Close)
	waitFor(t, "the engines' sign-in to end in a refused grant", src.needsReauth)
	_, list := e.get(c, e.srv.URL+"/mailboxes?lang=en")
	if !strings.Contains(list, `id="reauth-banner"`) || !strings.Contains(list, "the provider refused the saved authorisation") {
		t.Fatalf("no reauth banner after the revocation:\n%s", list)
	}
	m = e.mailbox("Contoso support")
	if _, err := m.Inbound.Credentials.OAuth2.Token(ctx); !errors.Is(err, transport.ErrReauthRequired) || transport.ClassOf(err) != transport.Auth {
		t.Fatalf("the mailbox's token: %v, want Auth wrapping ErrReauthRequired", err)
	}
	waitFor(t, "the mailbox's health to say reauth_required", func() bool {
		return eng.Health(ctx)[m.ID].State == string(engine.StateReauthRequired)
	})
}

// waitFor polls cond with a generous bound (never a speed assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
