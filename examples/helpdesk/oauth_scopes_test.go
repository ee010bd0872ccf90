package main

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/correio-dev/correio/connect"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
)

// setTransport switches a saved mailbox to another transport kind (the
// form has no choice of transport yet; a host sets it in the catalog).
func (e *oauthEnv) setTransport(desc string, kind mailbox.TransportKind) *mailbox.Mailbox {
	e.t.Helper()
	c := cloneMailbox(e.mailbox(desc))
	c.Inbound.Transport = kind
	c.Inbound.Credentials.OAuth2 = e.app.oauth.sourceFor(c)
	if err := e.st.Catalog().PutMailbox(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
	return e.mailbox(desc)
}

// TestDelegatedScopesFollowTheTransport: the connect buttons ask each
// provider for the scopes of the mailbox's transport, and the mailbox's
// token source refreshes with them (the local server refuses a refresh
// asking for scopes the grant does not hold, so a wrong set fails).
func TestDelegatedScopesFollowTheTransport(t *testing.T) {
	e := newOAuthEnv(t, mailtest.OAuthOptions{AutoApprove: oauthAccount})
	ctx := context.Background()
	c := e.client()
	if resp, body := e.post(c, e.srv.URL+"/mailboxes/new?lang=en", oauthInboundForm()); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", resp.StatusCode, body)
	}
	start := func(m *mailbox.Mailbox, provider string) *url.URL {
		t.Helper()
		resp, _ := e.post(c, e.srv.URL+"/mailboxes/"+string(m.ID)+"/connect/"+provider, url.Values{})
		loc, err := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || err != nil {
			t.Fatalf("connect start %s: %d %v", provider, resp.StatusCode, err)
		}
		return loc
	}
	for _, tc := range []struct {
		kind     mailbox.TransportKind
		provider string
		want     []string
	}{
		{mailbox.TransportIMAP, "microsoft", []string{"offline_access", connect.MicrosoftIMAP, connect.MicrosoftSMTP}},
		{mailbox.TransportGraph, "microsoft", []string{"offline_access", connect.MicrosoftGraphMailReadWrite, connect.MicrosoftGraphMailSend}},
		{mailbox.TransportIMAP, "google", []string{connect.GoogleMail}},
		{mailbox.TransportGmail, "google", []string{connect.GoogleGmailModify, connect.GoogleGmailSend}},
	} {
		m := e.setTransport("Contoso support", tc.kind)
		got := strings.Fields(start(m, tc.provider).Query().Get("scope"))
		if !slices.Equal(got, scopesFor(tc.provider, tc.kind)) {
			t.Errorf("%s mailbox at %s asks %v", tc.kind, tc.provider, got)
		}
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("%s mailbox at %s: scope %s missing from %v", tc.kind, tc.provider, w, got)
			}
		}
		if tc.kind != mailbox.TransportIMAP && (slices.Contains(got, connect.MicrosoftIMAP) || slices.Contains(got, connect.GoogleMail)) {
			t.Errorf("an API mailbox asks for the IMAP scope: %v", got)
		}
	}

	// Connect the Graph mailbox, then force a refresh: the token source
	// asks for the Graph scopes the grant holds.
	m := e.setTransport("Contoso support", mailbox.TransportGraph)
	resp, _ := e.get(c, start(m, "microsoft").String())
	if resp, _ = e.get(c, resp.Header.Get("Location")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %d", resp.StatusCode)
	}
	m = e.mailbox("Contoso support")
	src := m.Inbound.Credentials.OAuth2
	if _, err := src.Token(ctx); err != nil {
		t.Fatal(err)
	}
	src.(mailbox.TokenRefresher).InvalidateToken()
	tok, err := src.Token(ctx)
	if err != nil {
		t.Fatalf("refresh with the Graph scopes: %v", err)
	}
	_, scopes, ok := e.auth.CheckAccessToken(tok.Reveal())
	if !ok || !slices.Contains(scopes, connect.MicrosoftGraphMailReadWrite) || slices.Contains(scopes, connect.MicrosoftIMAP) {
		t.Fatalf("refreshed token scopes %v", scopes)
	}
	if st := e.auth.Stats(); st.Refreshes != 1 {
		t.Fatalf("refreshes %d, want 1", st.Refreshes)
	}
}
