package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/correio-dev/correio/connect"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/store/secrets"
	"github.com/correio-dev/correio/store/sqlite"
	"github.com/correio-dev/correio/transport"
)

const (
	oauthClientID = "helpdesk-app"
	oauthSecret   = "helpdesk-client-secret-Vq2"
	oauthAccount  = "ana@contoso.example"
)

// healthEngine is the record-only engine with health the test sets, as
// the real engines report it.
type healthEngine struct {
	Engine
	mu sync.Mutex
	h  map[mailbox.ID]HealthView
}

func (e *healthEngine) Health(context.Context) map[mailbox.ID]HealthView {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[mailbox.ID]HealthView{}
	for k, v := range e.h {
		out[k] = v
	}
	return out
}

func (e *healthEngine) set(id mailbox.ID, state string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.h[id] = HealthView{State: state}
}

// oauthEnv is the helpdesk with OAuth2 set up against the local
// authorization server, served over HTTP.
type oauthEnv struct {
	t      *testing.T
	app    *App
	st     *sqlite.Store
	auth   *mailtest.OAuthServer
	srv    *httptest.Server
	eng    *healthEngine
	dbPath string
}

func newOAuthEnv(t *testing.T, opts mailtest.OAuthOptions) *oauthEnv {
	t.Helper()
	ctx := context.Background()
	auth, err := mailtest.NewOAuthServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(auth.Close)
	keys, err := secrets.NewKeyring("test", map[string][]byte{"test": bytes.Repeat([]byte{5}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	setup := newOAuthSetup()
	path := filepath.Join(t.TempDir(), "helpdesk.db")
	st, err := sqlite.Open(ctx, path, sqlite.Options{Secrets: keys, CheckInterval: -1, TokenSources: setup.tokenSources})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sets, err := openSQLiteSettings(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sets.Close() })
	setup.tokens, setup.settings, setup.keys = st.Tokens(), sets, keys
	eng := &healthEngine{h: map[mailbox.ID]HealthView{}}
	eng.Engine = newRecordEngine(st.Catalog(), builtinDirectory())
	app, err := NewApp(st.Catalog(), eng, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	app.settings, app.oauth = sets, setup
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	setup.add(srv.URL, connect.MicrosoftAt(auth.URL, "organizations"), oauthClientID, oauthSecret, connect.MicrosoftIMAPSMTPScopes())
	// Google's endpoints, served by the same local server.
	google := connect.Google()
	google.Endpoint.AuthURL, google.Endpoint.TokenURL = auth.AuthURL("common"), auth.TokenURL("common")
	google.Issuer, google.JWKSURL = auth.Issuer(), auth.JWKSURL("common")
	setup.add(srv.URL, google, oauthClientID, oauthSecret, connect.GoogleIMAPSMTPScopes())
	auth.AddClient(mailtest.OAuthClient{ID: oauthClientID, Secret: oauthSecret, RedirectURIs: []string{
		srv.URL + "/oauth/microsoft/callback", srv.URL + "/oauth/microsoft/adminconsent", srv.URL + "/oauth/google/callback"}})
	return &oauthEnv{t: t, app: app, st: st, auth: auth, srv: srv, eng: eng, dbPath: path}
}

// client is a browser without JavaScript: it keeps cookies and does not
// follow redirects, so each hop is checked.
func (e *oauthEnv) client() *http.Client {
	jar := &cookieJar{m: map[string][]*http.Cookie{}}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type cookieJar struct {
	mu sync.Mutex
	m  map[string][]*http.Cookie
}

func (j *cookieJar) SetCookies(u *url.URL, cs []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, c := range cs {
		kept := j.m[u.Host][:0]
		for _, o := range j.m[u.Host] {
			if o.Name != c.Name {
				kept = append(kept, o)
			}
		}
		j.m[u.Host] = append(kept, c)
	}
}

func (j *cookieJar) Cookies(u *url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]*http.Cookie(nil), j.m[u.Host]...)
}

func (e *oauthEnv) get(c *http.Client, u string) (*http.Response, string) {
	e.t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp, b.String()
}

func (e *oauthEnv) post(c *http.Client, u string, form url.Values) (*http.Response, string) {
	e.t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp, b.String()
}

func oauthInboundForm() url.Values {
	return url.Values{
		"description": {"Contoso support"}, "kind": {"inbound"}, "address": {oauthAccount}, "enabled": {"on"},
		"inbound.server.host": {"outlook.office365.com"}, "inbound.credentials.username": {oauthAccount},
		"auth": {"oauth2"},
	}
}

func (e *oauthEnv) mailbox(desc string) *mailbox.Mailbox {
	e.t.Helper()
	for _, m := range e.st.Catalog().Mailboxes() {
		if m.Description == desc {
			return m
		}
	}
	e.t.Fatalf("no mailbox %q", desc)
	return nil
}

func TestConnectMicrosoftStoresSealedGrantAndSwitchesMailbox(t *testing.T) {
	e := newOAuthEnv(t, mailtest.OAuthOptions{AutoApprove: oauthAccount})
	ctx := context.Background()
	c := e.client()
	resp, body := e.post(c, e.srv.URL+"/mailboxes/new?lang=en", oauthInboundForm())
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving an OAuth2 mailbox without a password: %d\n%s", resp.StatusCode, body)
	}
	m := e.mailbox("Contoso support")
	if m.Inbound.Credentials.Mechanism != mailbox.AuthXOAUTH2 || m.Inbound.Credentials.OAuth2 == nil || !m.Inbound.Credentials.Password.IsZero() {
		t.Fatalf("saved credentials %+v, want XOAUTH2 with a token source and no password", m.Inbound.Credentials)
	}
	_, list := e.get(c, e.srv.URL+"/mailboxes?lang=en")
	if !strings.Contains(list, `id="reauth-banner"`) || !strings.Contains(list, "not connected yet") ||
		!strings.Contains(list, "Connect Microsoft 365") || !strings.Contains(list, "Connect Google") {
		t.Fatalf("the list does not ask to connect the new mailbox:\n%s", list)
	}
	if _, err := m.Inbound.Credentials.OAuth2.Token(ctx); !errors.Is(err, transport.ErrReauthRequired) {
		t.Fatalf("token of an unconnected mailbox: %v, want ErrReauthRequired", err)
	}

	// Connect: the helpdesk redirects to the provider with PKCE and a
	// state; the provider comes back to the callback.
	resp, _ = e.post(c, e.srv.URL+"/mailboxes/"+string(m.ID)+"/connect/microsoft", url.Values{})
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), e.auth.URL+"/organizations/oauth2/v2.0/authorize") ||
		loc.Query().Get("code_challenge_method") != "S256" || loc.Query().Get("login_hint") != oauthAccount {
		t.Fatalf("connect start: %d to %s", resp.StatusCode, loc)
	}
	resp, _ = e.get(c, loc.String())
	callback := resp.Header.Get("Location")
	if !strings.HasPrefix(callback, e.srv.URL+"/oauth/microsoft/callback?") {
		t.Fatalf("provider redirected to %q", callback)
	}
	resp, body = e.get(c, callback)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/mailboxes?done=connected" {
		t.Fatalf("callback: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	g, err := e.st.Tokens().GetToken(ctx, m.ID)
	if err != nil || g.Account != oauthAccount || g.Provider != "microsoft" || g.RefreshToken.IsZero() {
		t.Fatalf("stored grant %+v, %v", g, err)
	}
	m = e.mailbox("Contoso support")
	tok, err := m.Inbound.Credentials.OAuth2.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if who, _, ok := e.auth.CheckAccessToken(tok.Reveal()); !ok || who != oauthAccount {
		t.Fatal("the mailbox's token source does not give the connected account's token")
	}
	_, list = e.get(c, e.srv.URL+"/mailboxes?lang=en&done=connected")
	if strings.Contains(list, `id="reauth-banner"`) || !strings.Contains(list, "Connected as "+oauthAccount) || !strings.Contains(list, "The mailbox is connected.") {
		t.Fatalf("after connecting, the list:\n%s", list)
	}
	// The grant is sealed in the database file.
	raw, _ := os.ReadFile(e.dbPath)
	wal, _ := os.ReadFile(e.dbPath + "-wal")
	if bytes.Contains(append(raw, wal...), []byte(g.RefreshToken.Reveal())) || !bytes.Contains(append(raw, wal...), []byte(oauthAccount)) {
		t.Fatal("the refresh token is stored in clear (or the file check reads nothing)")
	}

	// The callback replayed is refused, in the page's language.
	resp, body = e.get(c, callback+"&lang=pt-BR")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Clique em Conectar de novo") {
		t.Fatalf("replayed callback: %d\n%s", resp.StatusCode, body)
	}
	// A callback in another browser (no binding cookie) is refused too.
	resp, _ = e.post(c, e.srv.URL+"/mailboxes/"+string(m.ID)+"/connect/microsoft", url.Values{})
	loc, _ = url.Parse(resp.Header.Get("Location"))
	resp, _ = e.get(c, loc.String())
	resp, _ = e.get(e.client(), resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("callback without the browser's cookie: %d, want 400", resp.StatusCode)
	}

	// The provider revokes the grant; the engines report reauth_required
	// and the banner asks again, in Portuguese too.
	e.auth.RevokeGrant(oauthAccount)
	if r, ok := m.Inbound.Credentials.OAuth2.(mailbox.TokenRefresher); ok {
		r.InvalidateToken()
	}
	if _, err := m.Inbound.Credentials.OAuth2.Token(ctx); !errors.Is(err, transport.ErrReauthRequired) {
		t.Fatalf("revoked grant: %v, want ErrReauthRequired", err)
	}
	e.eng.set(m.ID, "reauth_required")
	_, list = e.get(c, e.srv.URL+"/mailboxes?lang=pt-BR")
	if !strings.Contains(list, `id="reauth-banner"`) || !strings.Contains(list, "o provedor recusou a autorização salva") || !strings.Contains(list, "Conectar Microsoft 365") {
		t.Fatalf("reauth banner missing for a reauth_required mailbox:\n%s", list)
	}
	if strings.Contains(list, oauthSecret) || strings.Contains(list, g.RefreshToken.Reveal()) {
		t.Fatal("a secret reached the page")
	}

	// Deleting the mailbox deletes its grant.
	if resp, body := e.post(c, e.srv.URL+"/mailboxes/"+string(m.ID)+"/delete", url.Values{"confirm": {"yes"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d\n%s", resp.StatusCode, body)
	}
	if _, found := e.st.Catalog().Mailbox(m.ID); found {
		t.Fatal("the mailbox was not deleted")
	}
	if _, err := e.st.Tokens().GetToken(ctx, m.ID); err == nil {
		t.Fatal("the grant outlived its mailbox")
	}
}

func TestAppOnlySharedMailboxWithAdminConsent(t *testing.T) {
	e := newOAuthEnv(t, mailtest.OAuthOptions{AutoApprove: "admin@contoso.example"})
	ctx := context.Background()
	c := e.client()
	form := oauthInboundForm()
	form.Set("description", "Shared billing")
	form.Set("auth", "app")
	form.Set("inbound.credentials.username", "billing@contoso.example")
	if resp, body := e.post(c, e.srv.URL+"/mailboxes/new", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", resp.StatusCode, body)
	}
	m := e.mailbox("Shared billing")
	_, list := e.get(c, e.srv.URL+"/mailboxes?lang=en")
	if !strings.Contains(list, "admin consent not granted yet") || !strings.Contains(list, "Grant admin consent") {
		t.Fatalf("the list does not ask for admin consent:\n%s", list)
	}
	_, edit := e.get(c, e.srv.URL+"/mailboxes/"+string(m.ID)+"?lang=en")
	if !strings.Contains(edit, `id="auth-app" checked`) || !strings.Contains(edit, `id="form-adminconsent"`) {
		t.Fatalf("the form does not show the app-only choice:\n%s", edit)
	}
	resp, _ := e.post(c, e.srv.URL+"/mailboxes/"+string(m.ID)+"/adminconsent", url.Values{})
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if !strings.HasPrefix(loc.String(), e.auth.URL+"/organizations/v2.0/adminconsent?") || loc.Query().Get("client_id") != oauthClientID {
		t.Fatalf("admin consent link %s", loc)
	}
	resp, _ = e.get(c, loc.String())
	resp, body := e.get(c, resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/mailboxes?done=consented" {
		t.Fatalf("admin consent callback: %d\n%s", resp.StatusCode, body)
	}
	tok, err := e.mailbox("Shared billing").Inbound.Credentials.OAuth2.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if who, scopes, ok := e.auth.CheckAccessToken(tok.Reveal()); !ok || who != "app:"+oauthClientID || len(scopes) != 1 || scopes[0] != appOnlyScope {
		t.Fatalf("app-only token for %q %v", who, scopes)
	}
	_, list = e.get(c, e.srv.URL+"/mailboxes?lang=en")
	if strings.Contains(list, `id="reauth-banner"`) {
		t.Fatal("banner still shown after admin consent")
	}
}

func TestAppOnlyScopeFollowsTheTransport(t *testing.T) {
	e := newOAuthEnv(t, mailtest.OAuthOptions{})
	ctx := context.Background()
	for _, tc := range []struct {
		kind  mailbox.TransportKind
		scope string
	}{{mailbox.TransportGraph, connect.MicrosoftGraphDefault}, {mailbox.TransportIMAP, appOnlyScope}} {
		id := mailbox.ID("shared-" + string(tc.kind))
		if err := e.app.oauth.settings.Save(ctx, appKey(id), url.Values{"tenant": {e.auth.Tenant}}); err != nil {
			t.Fatal(err)
		}
		src := e.app.oauth.sourceFor(&mailbox.Mailbox{ID: id, Kind: mailbox.Inbound, Inbound: &mailbox.InboundSettings{Transport: tc.kind}})
		tok, err := src.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, scopes, ok := e.auth.CheckAccessToken(tok.Reveal()); !ok || len(scopes) != 1 || scopes[0] != tc.scope {
			t.Fatalf("%s mailbox: app-only token for %v, want %s", tc.kind, scopes, tc.scope)
		}
	}
}
