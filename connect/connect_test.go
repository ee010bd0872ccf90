package connect_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/connect"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/secrets"
	"github.com/correio-dev/correio/store/sqlite"
	"github.com/correio-dev/correio/transport"
)

const (
	clientID     = "0b6f1c52-app"
	clientSecret = "cs-Jx7-very-secret"
	redirect     = "http://127.0.0.1:9/oauth/callback"
	account      = "ana@contoso.example"
)

type env struct {
	srv  *mailtest.OAuthServer
	clk  *clock.Fake
	flow *connect.Flow
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t *testing.T, opts mailtest.OAuthOptions) *env {
	t.Helper()
	clk := clock.NewFake(time.Now().Truncate(time.Second)) // x/oauth2 checks expiry against the real clock
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	srv, err := mailtest.NewOAuthServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.AddClient(mailtest.OAuthClient{ID: clientID, Secret: clientSecret, RedirectURIs: []string{redirect}})
	logs := &syncBuffer{}
	f := &connect.Flow{
		Provider: connect.MicrosoftAt(srv.URL, "organizations"), ClientID: clientID, ClientSecret: mailbox.NewSecret(clientSecret),
		RedirectURL: redirect, Scopes: connect.MicrosoftIMAPSMTPScopes(), Clock: clk,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	return &env{srv: srv, clk: clk, flow: f, logs: logs}
}

// follow GETs u without following redirects and returns the Location's
// query (the authorization server's answer to the client).
func follow(t *testing.T, u string) url.Values {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize answered %d, want a 302 to the callback", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirect {
		t.Fatalf("redirected to %q, want the registered %q", got, redirect)
	}
	return loc.Query()
}

func (e *env) connect(t *testing.T, mb mailbox.ID, binding string) (*connect.Grant, url.Values) {
	t.Helper()
	ctx := context.Background()
	st, err := e.flow.Start(ctx, connect.StartOptions{Mailbox: mb, Binding: binding})
	if err != nil {
		t.Fatal(err)
	}
	q := follow(t, st.URL)
	g, err := e.flow.Finish(ctx, q, binding)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return g, q
}

func TestConnectCodeFlowWithPKCEAndNonce(t *testing.T) {
	e := newEnv(t, mailtest.OAuthOptions{AutoApprove: account})
	ctx := context.Background()
	st, err := e.flow.Start(ctx, connect.StartOptions{Mailbox: "support", Binding: "browser-1", LoginHint: account})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(st.URL)
	q := u.Query()
	for k, want := range map[string]string{"client_id": clientID, "redirect_uri": redirect, "response_type": "code",
		"code_challenge_method": "S256", "state": st.State, "login_hint": account} {
		if q.Get(k) != want {
			t.Errorf("authorization request %s = %q, want %q", k, q.Get(k), want)
		}
	}
	if len(q.Get("code_challenge")) != 43 || q.Get("nonce") == "" {
		t.Fatalf("want an S256 challenge (43 chars) and a nonce, got %q / %q", q.Get("code_challenge"), q.Get("nonce"))
	}
	if !strings.HasSuffix(u.Path, "/organizations/oauth2/v2.0/authorize") {
		t.Fatalf("authorize path %q", u.Path)
	}
	g, err := e.flow.Finish(ctx, follow(t, st.URL), "browser-1")
	if err != nil {
		t.Fatal(err)
	}
	if g.Mailbox != "support" || g.Token.Account != account || g.Token.Provider != "microsoft" {
		t.Fatalf("grant %+v", g)
	}
	if g.Token.RefreshToken.IsZero() || g.Token.AccessToken.IsZero() || g.Token.Expiry.IsZero() {
		t.Fatal("grant lacks a token or expiry")
	}
	if acct, _, ok := e.srv.CheckAccessToken(g.Token.AccessToken.Reveal()); !ok || acct != account {
		t.Fatal("the access token is not one the server issued")
	}
	if g.Claims.TenantID != e.srv.Tenant || g.Claims.Nonce != q.Get("nonce") && q.Get("nonce") != "" {
		t.Fatalf("claims %+v", g.Claims)
	}
}

// swapVerifier is a Pending that hands back a different PKCE verifier, as a
// client would that lost or never had the right one.
type swapVerifier struct{ connect.MemoryPending }

func (s *swapVerifier) TakePending(ctx context.Context, state string) (connect.PendingConnect, error) {
	p, err := s.MemoryPending.TakePending(ctx, state)
	p.Verifier = mailbox.NewSecret(oauth2.GenerateVerifier())
	return p, err
}

func TestConnectPKCEVerifierMismatchRefused(t *testing.T) {
	e := newEnv(t, mailtest.OAuthOptions{AutoApprove: account})
	ctx := context.Background()

	// An intercepted code redeemed without the verifier fails...
	st, err := e.flow.Start(ctx, connect.StartOptions{Mailbox: "m", Binding: "b"})
	if err != nil {
		t.Fatal(err)
	}
	q := follow(t, st.URL)
	cfg := oauth2.Config{ClientID: clientID, ClientSecret: clientSecret, RedirectURL: redirect, Endpoint: e.flow.Provider.Endpoint}
	_, err = cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier()))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || !strings.Contains(string(re.Body), "501481") {
		t.Fatalf("stolen code with a wrong verifier: %v, want invalid_grant AADSTS501481", err)
	}
	// ...and the code is then spent for the genuine client too.
	if _, err := e.flow.Finish(ctx, q, "b"); !errors.Is(err, transport.ErrAuth) {
		t.Fatalf("genuine finish after the code was spent: %v, want an auth refusal", err)
	}

	// Through the library: a wrong verifier is refused by the server with
	// the identity platform's error number.
	e.flow.Pending = &swapVerifier{}
	st, err = e.flow.Start(ctx, connect.StartOptions{Mailbox: "m", Binding: "b"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.flow.Finish(ctx, follow(t, st.URL), "b")
	var pe *connect.ProviderError
	if !errors.As(err, &pe) || pe.Code != "invalid_grant" || len(pe.AADSTS) != 1 || pe.AADSTS[0] != 501481 {
		t.Fatalf("Finish with a wrong verifier: %v, want invalid_grant AADSTS501481", err)
	}
}

func TestConnectStateIsOneTimeBoundAndExpiring(t *testing.T) {
	e := newEnv(t, mailtest.OAuthOptions{AutoApprove: account})
	ctx := context.Background()
	_, q := e.connect(t, "m", "browser-1")
	if _, err := e.flow.Finish(ctx, q, "browser-1"); !errors.Is(err, connect.ErrState) {
		t.Fatalf("replayed callback: %v, want ErrState", err)
	}

	st, err := e.flow.Start(ctx, connect.StartOptions{Mailbox: "m", Binding: "browser-1"})
	if err != nil {
		t.Fatal(err)
	}
	q = follow(t, st.URL)
	if _, err := e.flow.Finish(ctx, q, "browser-2"); !errors.Is(err, connect.ErrState) {
		t.Fatalf("callback in another browser: %v, want ErrState", err)
	}
	// The refused try used the state up: the right browser cannot use it now.
	if _, err := e.flow.Finish(ctx, q, "browser-1"); !errors.Is(err, connect.ErrState) {
		t.Fatalf("state reused after a refusal: %v, want ErrState", err)
	}

	st, err = e.flow.Start(ctx, connect.StartOptions{Mailbox: "m", Binding: "browser-1"})
	if err != nil {
		t.Fatal(err)
	}
	q = follow(t, st.URL)
	e.clk.Advance(11 * time.Minute)
	if _, err := e.flow.Finish(ctx, q, "browser-1"); !errors.Is(err, connect.ErrState) {
		t.Fatalf("callback after the TTL: %v, want ErrState", err)
	}

	forged := url.Values{"code": {"code.x"}, "state": {"never-issued"}}
	if _, err := e.flow.Finish(ctx, forged, "browser-1"); !errors.Is(err, connect.ErrState) {
		t.Fatalf("forged state: %v, want ErrState", err)
	}
	if _, err := e.flow.Start(ctx, connect.StartOptions{Mailbox: "m"}); !errors.Is(err, connect.ErrNoBinding) {
		t.Fatalf("Start without binding: %v, want ErrNoBinding", err)
	}
}

func TestConnectNonceMismatchRefused(t *testing.T) {
	e := newEnv(t, mailtest.OAuthOptions{AutoApprove: account})
	ctx := context.Background()
	e.srv.SetNonceOverride(func(string) string { return "nonce-of-another-login" })
	st, err := e.flow.Start(ctx, connect.StartOptions{Mailbox: "m", Binding: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.flow.Finish(ctx, follow(t, st.URL), "b"); !errors.Is(err, connect.ErrNonce) {
		t.Fatalf("id_token with another nonce: %v, want ErrNonce", err)
	}
	e.srv.SetNonceOverride(func(string) string { return "" })
	st, _ = e.flow.Start(ctx, connect.StartOptions{Mailbox: "m", Binding: "b"})
	if _, err := e.flow.Finish(ctx, follow(t, st.URL), "b"); !errors.Is(err, connect.ErrNonce) {
		t.Fatalf("id_token without a nonce: %v, want ErrNonce", err)
	}
}

func TestConnectIDTokenSignedByAnotherKeyRefused(t *testing.T) {
	e := newEnv(t, mailtest.OAuthOptions{AutoApprove: account})
	other, err := mailtest.NewOAuthServer(mailtest.OAuthOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	e.flow.Provider.JWKSURL = other.JWKSURL("organizations") // same kid, another key
	st, err := e.flow.Start(context.Background(), connect.StartOptions{Mailbox: "m", Binding: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.flow.Finish(context.Background(), follow(t, st.URL), "b"); !errors.Is(err, connect.ErrIDToken) {
		t.Fatalf("id_token signed by another key: %v, want ErrIDToken", err)
	}
}

func TestConnectDeniedByUser(t *testing.T) {
	e := newEnv(t, mailtest.OAuthOptions{Users: map[string]string{account: "pw"}})
	ctx := context.Background()
	st, err := e.flow.Start(ctx, connect.StartOptions{Mailbox: "m", Binding: "b"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(st.URL)
	form := u.Query()
	form.Set("decision", "deny")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(u.Scheme+"://"+u.Host+u.Path, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if _, err := e.flow.Finish(ctx, loc.Query(), "b"); !errors.Is(err, connect.ErrDenied) {
		t.Fatalf("declined consent: %v, want ErrDenied", err)
	}
}

func TestDeviceFlowHonoursSlowDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mailtest.OAuthOptions{DeviceInterval: time.Second, DeviceSlowDownFirst: true, Now: time.Now})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e.flow.Clock = nil // id_token expiry is checked against the server's real clock here
	d, err := e.flow.StartDevice(ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	if d.UserCode == "" || !strings.HasSuffix(d.VerificationURI, "/devicelogin") || d.Interval != time.Second {
		t.Fatalf("device start %+v", d)
	}
	go func() {
		for ctx.Err() == nil && e.srv.Stats().SlowDowns == 0 {
			time.Sleep(50 * time.Millisecond)
		}
		e.srv.ApproveDevice(d.UserCode, account)
	}()
	g, err := e.flow.PollDevice(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	st := e.srv.Stats()
	if st.SlowDowns != 1 || st.Violations != 0 {
		t.Fatalf("slow_down answered %d times, %d polls came before the raised interval; want 1 and 0", st.SlowDowns, st.Violations)
	}
	if g.Token.Account != account || g.Token.RefreshToken.IsZero() {
		t.Fatalf("device grant %+v", g.Token)
	}
}

func TestDeviceFlowExpired(t *testing.T) {
	t.Parallel()
	e := newEnv(t, mailtest.OAuthOptions{DeviceInterval: time.Second, DeviceTTL: 4 * time.Second, Now: time.Now})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := e.flow.StartDevice(ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.flow.PollDevice(ctx, d); !errors.Is(err, connect.ErrExpired) {
		t.Fatalf("nobody approved: %v, want ErrExpired", err)
	}
	if e.srv.Stats().Pending == 0 {
		t.Fatal("the client never polled")
	}
}

func TestAdminConsentAndAppOnly(t *testing.T) {
	e := newEnv(t, mailtest.OAuthOptions{AutoApprove: "admin@contoso.example"})
	ctx := context.Background()
	e.flow.Scopes = []string{connect.MicrosoftGraphDefault}
	st, err := e.flow.StartAdminConsent(ctx, connect.StartOptions{Mailbox: "shared", Binding: "b"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(st.URL)
	if !strings.HasSuffix(u.Path, "/organizations/v2.0/adminconsent") || u.Query().Get("scope") != connect.MicrosoftGraphDefault ||
		u.Query().Get("client_id") != clientID || u.Query().Get("redirect_uri") != redirect || u.Query().Get("state") != st.State {
		t.Fatalf("admin consent URL %s", st.URL)
	}
	q := follow(t, st.URL)
	if _, err := e.flow.Finish(ctx, q, "b"); !errors.Is(err, connect.ErrState) {
		t.Fatalf("admin-consent state given to Finish: %v, want ErrState", err)
	}
	st, _ = e.flow.StartAdminConsent(ctx, connect.StartOptions{Mailbox: "shared", Binding: "b"})
	ac, err := e.flow.FinishAdminConsent(ctx, follow(t, st.URL), "b")
	if err != nil {
		t.Fatal(err)
	}
	if ac.Tenant != e.srv.Tenant || ac.Mailbox != "shared" {
		t.Fatalf("admin consent %+v", ac)
	}
	denied := url.Values{"error": {"access_denied"}, "error_description": {"AADSTS65004: declined"}}
	st, _ = e.flow.StartAdminConsent(ctx, connect.StartOptions{Mailbox: "shared", Binding: "b"})
	denied.Set("state", st.State)
	if _, err := e.flow.FinishAdminConsent(ctx, denied, "b"); !errors.Is(err, connect.ErrDenied) {
		t.Fatalf("declined admin consent: %v, want ErrDenied", err)
	}

	app := e.flow.AppOnly(ac.Tenant)
	tok, err := app.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if who, _, ok := e.srv.CheckAccessToken(tok.Reveal()); !ok || who != "app:"+clientID {
		t.Fatalf("app-only token for %q", who)
	}
	e.flow.ClientSecret = mailbox.NewSecret("expired-secret")
	_, err = e.flow.AppOnly(ac.Tenant).Token(ctx)
	if !errors.Is(err, connect.ErrClientRejected) || errors.Is(err, transport.ErrReauthRequired) || transport.ClassOf(err) != transport.Auth {
		t.Fatalf("wrong client secret: %v, want Auth wrapping ErrClientRejected", err)
	}
}

func keyring(t *testing.T) *secrets.Keyring {
	k, err := secrets.NewKeyring("k1", map[string][]byte{"k1": bytes.Repeat([]byte{9}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRotationPersistedAndSurvivesRestart(t *testing.T) {
	e := newEnv(t, mailtest.OAuthOptions{AutoApprove: account})
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "correio.db")
	st, err := sqlite.Open(ctx, path, sqlite.Options{Secrets: keyring(t), CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	g, _ := e.connect(t, "support", "b")
	if err := st.Tokens().PutToken(ctx, g.Mailbox, g.Token); err != nil {
		t.Fatal(err)
	}
	first := g.Token.RefreshToken.Reveal()
	ts := e.flow.TokenSource(st.Tokens(), "support")
	a1, err := ts.Token(ctx)
	if err != nil || a1.Reveal() != g.Token.AccessToken.Reveal() {
		t.Fatalf("first Token: %v (want the stored access token)", err)
	}
	e.clk.Advance(2 * time.Hour) // the access token expired
	a2, err := ts.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a2.Reveal() == a1.Reveal() {
		t.Fatal("no refresh after expiry")
	}
	saved, err := st.Tokens().GetToken(ctx, "support")
	if err != nil {
		t.Fatal(err)
	}
	if saved.RefreshToken.Reveal() == first || saved.AccessToken.Reveal() != a2.Reveal() {
		t.Fatal("the rotated refresh token (and its access token) were not saved")
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart: a new process opens the file, a new flow and source.
	st, err = sqlite.Open(ctx, path, sqlite.Options{Secrets: keyring(t), CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f2 := &connect.Flow{Provider: e.flow.Provider, ClientID: clientID, ClientSecret: mailbox.NewSecret(clientSecret),
		RedirectURL: redirect, Scopes: connect.MicrosoftIMAPSMTPScopes(), Clock: e.clk, Logger: e.flow.Logger}
	ts2 := f2.TokenSource(st.Tokens(), "support")
	a3, err := ts2.Token(ctx)
	if err != nil || a3.Reveal() != a2.Reveal() {
		t.Fatalf("after restart the cached access token should serve: %v", err)
	}
	e.clk.Advance(2 * time.Hour)
	if _, err := ts2.Token(ctx); err != nil {
		t.Fatalf("refresh after restart with the saved token: %v", err)
	}
	if s := e.srv.Stats(); s.ReuseDetected != 0 || s.Rotations != 2 {
		t.Fatalf("server stats %+v: want 2 rotations and no reuse of a retired refresh token", s)
	}
}

// flakyTokens fails PutToken while fail is set.
type flakyTokens struct {
	store.Tokens
	mu   sync.Mutex
	fail bool
}

func (f *flakyTokens) PutToken(ctx context.Context, id mailbox.ID, t store.Token) error {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		return errors.New("disk full")
	}
	return f.Tokens.PutToken(ctx, id, t)
}

func TestRotatedTokenWrittenBeforeUse(t *testing.T) {
	e := newEnv(t, mailtest.OAuthOptions{AutoApprove: account})
	ctx := context.Background()
	g, _ := e.connect(t, "m", "b")
	toks := &flakyTokens{Tokens: memory.NewTokens()}
	if err := toks.PutToken(ctx, "m", g.Token); err != nil {
		t.Fatal(err)
	}
	ts := e.flow.TokenSource(toks, "m")
	e.clk.Advance(2 * time.Hour)
	toks.fail = true
	_, err := ts.Token(ctx)
	if !errors.Is(err, transport.ErrTemporary) {
		t.Fatalf("Token while the store cannot save the rotated token: %v, want Temporary", err)
	}
	toks.fail = false
	tok, err := ts.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	saved, _ := toks.GetToken(ctx, "m")
	if saved.RefreshToken.Reveal() == g.Token.RefreshToken.Reveal() || saved.AccessToken.Reveal() != tok.Reveal() {
		t.Fatal("the rotated refresh token was not saved once the store came back")
	}
	if s := e.srv.Stats(); s.Refreshes != 1 || s.ReuseDetected != 0 {
		t.Fatalf("server stats %+v: want one refresh (the held token saved, not refreshed again)", s)
	}
}

func TestDeadGrantRequiresReauth(t *testing.T) {
	for _, tc := range []struct {
		name string
		kill func(*mailtest.OAuthServer)
		code int
	}{
		{"revoked", func(s *mailtest.OAuthServer) { s.RevokeGrant(account) }, 50173},
		{"inactive", func(s *mailtest.OAuthServer) { s.ExpireGrant(account) }, 700082},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, mailtest.OAuthOptions{AutoApprove: account})
			ctx := context.Background()
			g, _ := e.connect(t, "m", "b")
			toks := memory.NewTokens()
			_ = toks.PutToken(ctx, "m", g.Token)
			ts := e.flow.TokenSource(toks, "m")
			if _, err := ts.Token(ctx); err != nil {
				t.Fatal(err)
			}
			tc.kill(e.srv)
			ts.InvalidateToken()
			_, err := ts.Token(ctx)
			var pe *connect.ProviderError
			if !errors.Is(err, transport.ErrReauthRequired) || transport.ClassOf(err) != transport.Auth ||
				!errors.As(err, &pe) || pe.Code != "invalid_grant" || pe.AADSTS[0] != tc.code {
				t.Fatalf("dead grant: %v, want Auth wrapping ErrReauthRequired with AADSTS%d", err, tc.code)
			}
			if !strings.Contains(e.logs.String(), "re-authorisation required") {
				t.Fatal("no log line says the mailbox needs re-authorisation")
			}
		})
	}
	t.Run("not connected", func(t *testing.T) {
		e := newEnv(t, mailtest.OAuthOptions{})
		_, err := e.flow.TokenSource(memory.NewTokens(), "m").Token(context.Background())
		if !errors.Is(err, transport.ErrReauthRequired) {
			t.Fatalf("no grant: %v, want ErrReauthRequired", err)
		}
	})
	t.Run("network is temporary", func(t *testing.T) {
		e := newEnv(t, mailtest.OAuthOptions{AutoApprove: account})
		ctx := context.Background()
		g, _ := e.connect(t, "m", "b")
		toks := memory.NewTokens()
		_ = toks.PutToken(ctx, "m", g.Token)
		ts := e.flow.TokenSource(toks, "m")
		if _, err := ts.Token(ctx); err != nil {
			t.Fatal(err)
		}
		e.srv.Close()
		ts.InvalidateToken()
		_, err := ts.Token(ctx)
		if !errors.Is(err, transport.ErrTemporary) || errors.Is(err, transport.ErrReauthRequired) {
			t.Fatalf("token endpoint down: %v, want Temporary and not re-authorisation", err)
		}
		if saved, _ := toks.GetToken(ctx, "m"); saved.RefreshToken.Reveal() != g.Token.RefreshToken.Reveal() {
			t.Fatal("a network failure changed the stored grant")
		}
	})
}

func TestTokensNeverInLogsOrErrors(t *testing.T) {
	e := newEnv(t, mailtest.OAuthOptions{AutoApprove: account})
	ctx := context.Background()
	g, q := e.connect(t, "m", "b")
	toks := memory.NewTokens()
	_ = toks.PutToken(ctx, "m", g.Token)
	ts := e.flow.TokenSource(toks, "m")
	e.clk.Advance(2 * time.Hour)
	fresh, err := ts.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rotated, _ := toks.GetToken(ctx, "m")
	var errs []error
	_, err = e.flow.Finish(ctx, q, "b") // replay
	errs = append(errs, err)
	e.srv.RevokeGrant(account)
	ts.InvalidateToken()
	_, err = ts.Token(ctx)
	errs = append(errs, err)
	slog.New(slog.NewJSONHandler(e.logs, nil)).Info("values", "grant", g, "source", ts, "flow", e.flow, "err", errs[1])

	var out strings.Builder
	out.WriteString(e.logs.String())
	for _, v := range []any{g, *g, g.Token, ts, e.flow, errs[0], errs[1]} {
		fmt.Fprintf(&out, "%v %+v %#v %s\n", v, v, v, v)
	}
	for name, secret := range map[string]string{
		"refresh token": g.Token.RefreshToken.Reveal(), "access token": g.Token.AccessToken.Reveal(),
		"rotated refresh token": rotated.RefreshToken.Reveal(), "refreshed access token": fresh.Reveal(),
		"client secret": clientSecret, "authorization code": q.Get("code"),
	} {
		if secret == "" {
			t.Fatalf("%s is empty; the check would prove nothing", name)
		}
		if strings.Contains(out.String(), secret) {
			t.Errorf("the %s appears in logs or formatted values", name)
		}
	}
	if !strings.Contains(out.String(), "oauth2 mailbox connected") || !strings.Contains(out.String(), "rotated") {
		t.Fatal("the logs lack the connect and rotation lines; the check would prove little")
	}
}

func TestGooglePresetAsksForARefreshToken(t *testing.T) {
	f := &connect.Flow{Provider: connect.Google(), ClientID: "c", RedirectURL: "https://h.example/cb", Scopes: connect.GoogleIMAPSMTPScopes()}
	st, err := f.Start(context.Background(), connect.StartOptions{Mailbox: "m", Binding: "b", Prompt: "select_account"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(st.URL)
	q := u.Query()
	if u.Host != "accounts.google.com" || q.Get("access_type") != "offline" || q.Get("prompt") != "consent select_account" ||
		!strings.Contains(q.Get("scope"), "https://mail.google.com/") {
		t.Fatalf("Google authorization request %s", st.URL)
	}
	m := connect.Microsoft("contoso.onmicrosoft.com")
	if m.Endpoint.TokenURL != "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token" ||
		m.AdminConsentURL != "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/adminconsent" ||
		m.Issuer != "https://login.microsoftonline.com/{tenantid}/v2.0" {
		t.Fatalf("Microsoft preset %+v", m)
	}
	if connect.Microsoft("").Issuer != "https://login.microsoftonline.com/{tenantid}/v2.0" {
		t.Fatal("the multi-tenant issuer must take the token's tid")
	}
	const tid = "9188040d-6c67-4c5b-b112-36a304b66dad"
	if connect.Microsoft(tid).Issuer != "https://login.microsoftonline.com/"+tid+"/v2.0" {
		t.Fatal("a tenant ID is the issuer's own")
	}
}
