package connect

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
)

// Flow connects mailboxes to one OAuth2 application at one provider: it
// builds the authorization request (code flow with PKCE S256, a one-time
// state bound to the browser, an OpenID nonce when openid is asked for),
// finishes it from the callback, runs the device flow and Microsoft's
// admin consent, and refreshes tokens for TokenSource. Set the fields, then
// use it by pointer; it is safe for concurrent use.
type Flow struct {
	Provider Provider
	ClientID string
	// ClientSecret is empty for a public client (PKCE alone).
	ClientSecret mailbox.Secret
	// RedirectURL is the callback registered with the application.
	RedirectURL string
	// AdminConsentRedirectURL is the callback of admin consent (default
	// RedirectURL).
	AdminConsentRedirectURL string
	// Scopes asked for (see the Microsoft* and Google* presets).
	Scopes []string
	// Pending keeps connects between start and callback (default: an
	// in-memory one, for a single process).
	Pending Pending
	// TTL is how long a started connect stays valid (default 10 minutes).
	TTL time.Duration
	// Clock is the time source (default the real clock).
	Clock clock.Clock
	// HTTPClient makes the token and JWKS requests (default
	// http.DefaultClient).
	HTTPClient *http.Client
	// Logger receives one line per connect, refusal and rotation, never a
	// token (default slog.Default()).
	Logger *slog.Logger

	mu   sync.Mutex
	mem  *MemoryPending
	keys map[string]*rsa.PublicKey
}

// Grant is the outcome of a successful connect: the tokens ready to put in
// a store.Tokens under Mailbox, and who signed in. It prints without its
// tokens (they are mailbox.Secret).
type Grant struct {
	Mailbox mailbox.ID
	Token   store.Token
	// Claims of the id_token (zero when openid was not asked for).
	Claims Claims
}

// StartOptions describe one connect.
type StartOptions struct {
	// Mailbox is the mailbox being connected.
	Mailbox mailbox.ID
	// Binding ties the connect to the browser that starts it (a value of
	// its session or of a cookie, see NewBinding); Finish refuses a
	// callback that does not present it, so a callback forged or replayed
	// in another browser fails (RFC 6749 10.12, RFC 9700 4.7). Required.
	Binding string
	// LoginHint pre-fills the account (login_hint).
	LoginHint string
	// Prompt is "select_account", "consent" or "login" (empty: the
	// provider's default, or the preset's). It is added to the preset's
	// prompt: Microsoft accepts a single value, so with the Microsoft preset
	// give at most one.
	Prompt string
	// Scopes asked for by this connect (default the flow's): a mailbox
	// on Graph needs other scopes than one on IMAP and SMTP.
	Scopes []string
}

// Started is where to send the browser.
type Started struct {
	URL   string
	State string
}

// ErrNoBinding is returned by Start without a binding value.
var ErrNoBinding = errors.New("connect: StartOptions.Binding is required (CSRF protection)")

func (f *Flow) now() time.Time {
	if f.Clock != nil {
		return f.Clock.Now()
	}
	return time.Now()
}

func (f *Flow) ttl() time.Duration {
	if f.TTL > 0 {
		return f.TTL
	}
	return defaultTTL
}

func (f *Flow) client() *http.Client {
	if f.HTTPClient != nil {
		return f.HTTPClient
	}
	return http.DefaultClient
}

func (f *Flow) logger() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.Default()
}

func (f *Flow) pending() Pending {
	if f.Pending != nil {
		return f.Pending
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mem == nil {
		f.mem = &MemoryPending{TTL: f.ttl()}
	}
	return f.mem
}

// config is the x/oauth2 configuration of the flow.
func (f *Flow) config(redirect string) *oauth2.Config {
	return &oauth2.Config{ClientID: f.ClientID, ClientSecret: f.ClientSecret.Reveal(), Endpoint: f.Provider.Endpoint,
		RedirectURL: redirect, Scopes: slices.Clone(f.Scopes)}
}

func (f *Flow) ctx(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, f.client())
}

func wantsOpenID(scopes []string) bool { return slices.Contains(scopes, ScopeOpenID) }

// Start begins an authorization code connect and returns the URL to send
// the browser to.
func (f *Flow) Start(ctx context.Context, o StartOptions) (Started, error) {
	if o.Binding == "" {
		return Started{}, ErrNoBinding
	}
	if o.Mailbox == "" {
		return Started{}, errors.New("connect: StartOptions.Mailbox is required")
	}
	state, verifier := random(32), oauth2.GenerateVerifier()
	scopes := f.Scopes
	if len(o.Scopes) > 0 {
		scopes = o.Scopes
	}
	p := PendingConnect{Kind: KindCode, Mailbox: o.Mailbox, Verifier: mailbox.NewSecret(verifier),
		Binding: sha256.Sum256([]byte(o.Binding)), Scopes: slices.Clone(scopes), Created: f.now()}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if wantsOpenID(scopes) {
		p.Nonce = random(24)
		opts = append(opts, oauth2.SetAuthURLParam("nonce", p.Nonce))
	}
	params := map[string]string{}
	for k, v := range f.Provider.AuthParams {
		params[k] = v
	}
	if o.LoginHint != "" {
		params["login_hint"] = o.LoginHint
	}
	if o.Prompt != "" {
		// prompt is a space-separated list (OpenID Connect Core 3.1.2.1):
		// keep the preset's (Google's consent, which brings the refresh
		// token) beside the caller's.
		if p, ok := params["prompt"]; ok && p != o.Prompt {
			params["prompt"] = p + " " + o.Prompt
		} else {
			params["prompt"] = o.Prompt
		}
	}
	for k, v := range params {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	if err := f.pending().PutPending(ctx, state, p); err != nil {
		return Started{}, err
	}
	cfg := f.config(f.RedirectURL)
	cfg.Scopes = slices.Clone(scopes)
	return Started{URL: cfg.AuthCodeURL(state, opts...), State: state}, nil
}

// take returns the pending connect of state once, checking its kind, age
// and browser binding.
func (f *Flow) take(ctx context.Context, state, binding string, kind Kind) (PendingConnect, error) {
	if state == "" {
		return PendingConnect{}, fmt.Errorf("%w: the callback has no state", ErrState)
	}
	p, err := f.pending().TakePending(ctx, state)
	if err != nil {
		return PendingConnect{}, err
	}
	b := sha256.Sum256([]byte(binding))
	switch {
	case p.Kind != kind:
		return PendingConnect{}, fmt.Errorf("%w: state of another flow", ErrState)
	case f.now().Sub(p.Created) > f.ttl():
		return PendingConnect{}, fmt.Errorf("%w: the connect expired", ErrState)
	case binding == "" || subtle.ConstantTimeCompare(b[:], p.Binding[:]) != 1:
		return PendingConnect{}, fmt.Errorf("%w: the callback came to another browser", ErrState)
	}
	return p, nil
}

// Finish completes an authorization code connect from the callback's
// query: it checks the state (once, within the TTL, for this binding),
// exchanges the code with the PKCE verifier and checks the id_token and its
// nonce. The Grant's token is not stored yet: put it in a store.Tokens.
func (f *Flow) Finish(ctx context.Context, q url.Values, binding string) (*Grant, error) {
	p, err := f.take(ctx, q.Get("state"), binding, KindCode)
	if err != nil {
		f.logger().WarnContext(ctx, "oauth2 connect refused", "reason", "state", "err", err)
		return nil, err
	}
	log := f.logger().With("mailbox", string(p.Mailbox), "provider", f.Provider.Name)
	if e := q.Get("error"); e != "" {
		err := redirectError(e)
		log.WarnContext(ctx, "oauth2 connect refused by the provider", "err", err)
		return nil, err
	}
	code := q.Get("code")
	if code == "" {
		return nil, &ProviderError{Code: "invalid_request"}
	}
	tok, err := f.config(f.RedirectURL).Exchange(f.ctx(ctx), code, oauth2.VerifierOption(p.Verifier.Reveal()))
	if err != nil {
		err = Classify(err)
		log.WarnContext(ctx, "oauth2 code exchange refused", "err", err)
		return nil, err
	}
	g, err := f.grant(ctx, p.Mailbox, tok, p.Scopes, p.Nonce)
	if err != nil {
		log.WarnContext(ctx, "oauth2 connect refused", "err", err)
		return nil, err
	}
	log.InfoContext(ctx, "oauth2 mailbox connected", "account", g.Token.Account)
	return g, nil
}

// grant checks a token response and turns it into a Grant.
func (f *Flow) grant(ctx context.Context, mb mailbox.ID, tok *oauth2.Token, asked []string, nonce string) (*Grant, error) {
	g := &Grant{Mailbox: mb}
	if wantsOpenID(asked) {
		raw, _ := tok.Extra("id_token").(string)
		if raw == "" {
			return nil, fmt.Errorf("%w: openid was asked for but no id_token came", ErrIDToken)
		}
		c, err := f.verifyIDToken(ctx, raw, nonce)
		if err != nil {
			return nil, err
		}
		if nonce != "" && c.Nonce == "" {
			return nil, ErrNonce
		}
		g.Claims = c
	}
	if tok.RefreshToken == "" {
		return nil, ErrNoRefreshToken
	}
	scopes := asked
	if s, _ := tok.Extra("scope").(string); s != "" {
		scopes = strings.Fields(s)
	}
	g.Token = store.Token{Provider: f.Provider.Name, Account: g.Claims.Account(), Scopes: scopes,
		RefreshToken: mailbox.NewSecret(tok.RefreshToken), AccessToken: mailbox.NewSecret(tok.AccessToken),
		Expiry: tok.Expiry, Updated: f.now()}
	return g, nil
}

// BindingCookie is the cookie Redirect and Callback keep the browser
// binding in.
const BindingCookie = "correio_connect"

// Redirect starts a connect for the browser of r and redirects it to the
// provider, binding the connect to a cookie it sets (HttpOnly,
// SameSite=Lax so it comes back with the provider's redirect, Secure on
// TLS).
func (f *Flow) Redirect(w http.ResponseWriter, r *http.Request, o StartOptions) error {
	o.Binding = f.Bind(w, r)
	s, err := f.Start(r.Context(), o)
	if err != nil {
		return err
	}
	http.Redirect(w, r, s.URL, http.StatusFound)
	return nil
}

// Callback finishes the connect of the callback request r, with the
// binding of the cookie Redirect set.
func (f *Flow) Callback(r *http.Request) (*Grant, error) {
	return f.Finish(r.Context(), r.URL.Query(), BindingOf(r))
}

// BindingOf returns the binding the browser of r holds in BindingCookie
// ("" when none).
func BindingOf(r *http.Request) string {
	if c, err := r.Cookie(BindingCookie); err == nil {
		return c.Value
	}
	return ""
}

// Bind returns the binding of the browser of r, setting BindingCookie to a
// new one when it has none, for StartOptions.Binding (Redirect does this
// itself; use Bind for StartAdminConsent).
func (f *Flow) Bind(w http.ResponseWriter, r *http.Request) string {
	b := NewBinding()
	if c, err := r.Cookie(BindingCookie); err == nil && len(c.Value) >= 32 {
		b = c.Value // one binding per browser; its lifetime starts again
	}
	http.SetCookie(w, &http.Cookie{Name: BindingCookie, Value: b, Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteLaxMode, MaxAge: int(f.ttl() / time.Second)})
	return b
}
