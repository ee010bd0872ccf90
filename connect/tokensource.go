package connect

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/correio-dev/correio/internal/clientassert"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/transport"
)

// expiryDelta refreshes an access token this long before it expires.
const expiryDelta = time.Minute

// TokenSource gives the access tokens of one connected mailbox from its
// grant in a store.Tokens (mailbox.TokenSource and mailbox.TokenRefresher,
// for XOAUTH2 over IMAP and SMTP and for the HTTP APIs).
//
// It refreshes an access token a minute before it expires, and at once
// after InvalidateToken. A rotated refresh token is written to the store
// before the new access token is used: if that write fails, Token fails
// with a Temporary error and writes it again on the next call, so a crash
// at any point leaves the store holding a refresh token the provider
// still honours. Before refreshing it reads the store again, so a grant
// another process rotated or a person connected again is picked up.
//
// Errors are *transport.Error: a mailbox with no grant, or a grant the
// provider refused for good (invalid_grant, revoked consent, the AADSTS
// codes of Classify), is class Auth wrapping transport.ErrReauthRequired;
// an unreachable token endpoint or store is Temporary. Two processes must
// not refresh one mailbox at once when the provider rotates refresh
// tokens with reuse detection: the engines' leases give each mailbox one
// owner.
type TokenSource struct {
	flow   *Flow
	tokens store.Tokens
	id     mailbox.ID
	scopes []string

	mu      sync.Mutex
	cur     store.Token
	loaded  bool
	dirty   bool // cur holds a rotated refresh token not yet written
	refused [sha256.Size]byte
}

// TokenSource returns the token source of mailbox id, whose grant lives in
// tokens. scopes are asked for on refresh (default the flow's): with
// Microsoft, one resource per token, so a mailbox read with IMAP and sent
// from with Graph needs two sources over one grant.
func (f *Flow) TokenSource(tokens store.Tokens, id mailbox.ID, scopes ...string) *TokenSource {
	if len(scopes) == 0 {
		scopes = f.Scopes
	}
	return &TokenSource{flow: f, tokens: tokens, id: id, scopes: slices.Clone(scopes)}
}

var (
	_ mailbox.TokenSource    = (*TokenSource)(nil)
	_ mailbox.TokenRefresher = (*TokenSource)(nil)
)

func reauth(why string) error {
	return &transport.Error{Class: transport.Auth, Op: "oauth2", Err: errors.Join(transport.ErrReauthRequired, transport.ErrNoToken),
		Hint: why}
}

func (s *TokenSource) log() *slog.Logger {
	return s.flow.logger().With("mailbox", string(s.id), "provider", s.flow.Provider.Name)
}

func (s *TokenSource) usable(t store.Token, now time.Time) bool {
	if t.AccessToken.IsZero() || sha256.Sum256([]byte(t.AccessToken.Reveal())) == s.refused {
		return false
	}
	return t.Expiry.IsZero() || t.Expiry.Sub(now) > expiryDelta
}

// Token implements mailbox.TokenSource.
func (s *TokenSource) Token(ctx context.Context) (mailbox.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.flow.now()
	if s.dirty {
		if err := s.persist(ctx); err != nil {
			return mailbox.Secret{}, err
		}
	}
	if s.loaded && s.usable(s.cur, now) {
		return s.cur.AccessToken, nil
	}
	// Read the grant again: another process may have rotated it, or a
	// person connected the mailbox again.
	g, err := s.tokens.GetToken(ctx, s.id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.loaded, s.cur = false, store.Token{}
		return mailbox.Secret{}, reauth("the mailbox is not connected to an OAuth2 account; connect it")
	case err != nil && !s.loaded:
		return mailbox.Secret{}, &transport.Error{Class: transport.Temporary, Op: "oauth2", Err: errors.New("reading the OAuth2 grant failed"),
			Hint: "the token store is unavailable; retrying"}
	case err == nil:
		s.cur, s.loaded = g, true
	}
	if s.usable(s.cur, now) {
		return s.cur.AccessToken, nil
	}
	if s.cur.RefreshToken.IsZero() {
		return mailbox.Secret{}, reauth("the mailbox's OAuth2 grant has no refresh token; connect it again")
	}
	nt, err := s.flow.refresh(s.flow.ctx(ctx), s.cur.RefreshToken.Reveal(), s.scopes)
	if err != nil {
		err = Classify(err)
		if errors.Is(err, transport.ErrReauthRequired) {
			s.log().ErrorContext(ctx, "oauth2 grant refused; re-authorisation required", "err", err)
		} else {
			s.log().WarnContext(ctx, "oauth2 token refresh failed", "err", err)
		}
		return mailbox.Secret{}, err
	}
	next := s.cur
	next.Scopes = slices.Clone(s.cur.Scopes)
	next.AccessToken, next.Expiry, next.Updated = mailbox.NewSecret(nt.AccessToken), nt.Expiry, now
	rotated := nt.RefreshToken != "" && nt.RefreshToken != s.cur.RefreshToken.Reveal()
	if rotated {
		next.RefreshToken = mailbox.NewSecret(nt.RefreshToken)
	}
	s.cur = next
	if rotated {
		// The provider may already have retired the old refresh token:
		// the new one is written before its access token is used.
		s.dirty = true
		if err := s.persist(ctx); err != nil {
			return mailbox.Secret{}, err
		}
		s.log().InfoContext(ctx, "oauth2 refresh token rotated and saved")
	} else if err := s.tokens.PutToken(ctx, s.id, s.cur); err != nil {
		// Only the cached access token is lost; the grant is unchanged.
		s.log().WarnContext(ctx, "oauth2 access token not saved", "err", err)
	}
	return s.cur.AccessToken, nil
}

func (s *TokenSource) persist(ctx context.Context) error {
	if err := s.tokens.PutToken(ctx, s.id, s.cur); err != nil {
		s.log().ErrorContext(ctx, "oauth2 rotated refresh token not saved; holding it and retrying", "err", err)
		return &transport.Error{Class: transport.Temporary, Op: "oauth2", Err: errors.New("saving the rotated refresh token failed"),
			Hint: "the token store is unavailable; the new refresh token is kept in memory and saved again"}
	}
	s.dirty = false
	return nil
}

// InvalidateToken implements mailbox.TokenRefresher: the server refused
// the current access token, so the next Token refreshes.
func (s *TokenSource) InvalidateToken() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.cur.AccessToken.IsZero() {
		s.refused = sha256.Sum256([]byte(s.cur.AccessToken.Reveal()))
		s.cur.AccessToken, s.cur.Expiry = mailbox.Secret{}, time.Time{}
	}
}

const redactedSource = "connect.TokenSource(" + transport.Redacted + ")"

// String never shows a token.
func (s *TokenSource) String() string { return redactedSource }

// Format prints the redacted form for every verb.
func (s *TokenSource) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redactedSource)) }

// LogValue logs the redacted form.
func (s *TokenSource) LogValue() slog.Value { return slog.StringValue(redactedSource) }

// AppOnly gives app-only access tokens with the client credentials grant
// (RFC 6749 4.4), for shared mailboxes read and sent from with Graph
// without a user: a tenant administrator consented to the application
// permissions (StartAdminConsent) and Exchange scopes them to certain
// mailboxes. Its errors are classified like TokenSource's: a withdrawn
// consent wraps transport.ErrReauthRequired, a wrong or expired client
// secret or an unregistered certificate ErrClientRejected. Its credential
// is the flow's client secret (Flow.AppOnly) or a certificate
// (Flow.AppOnlyCertificate).
type AppOnly struct {
	cfg    clientcredentials.Config
	flow   *Flow
	signer *clientassert.Signer // a certificate credential, else the secret
	mu     sync.Mutex
	tok    *oauth2.Token
	refuse [sha256.Size]byte
}

// AppOnly returns the app-only token source of the flow's application in
// tenant (a tenant ID or domain, not "common"), for scope (default
// MicrosoftGraphDefault).
func (f *Flow) AppOnly(tenant string, scope ...string) *AppOnly {
	p := f.Provider
	if p.Name == "microsoft" && tenant != "" {
		p = MicrosoftAt(authorityOf(p.Endpoint.TokenURL), tenant)
	}
	if len(scope) == 0 {
		scope = []string{MicrosoftGraphDefault}
	}
	return &AppOnly{flow: f, cfg: clientcredentials.Config{ClientID: f.ClientID, ClientSecret: f.ClientSecret.Reveal(),
		TokenURL: p.Endpoint.TokenURL, Scopes: slices.Clone(scope), AuthStyle: oauth2.AuthStyleInParams}}
}

// ClientAssertionType is the client_assertion_type of a certificate
// credential (RFC 7523 2.2).
const ClientAssertionType = clientassert.Type

// ErrCertificate is wrapped by the errors of a certificate credential that
// cannot sign (no key, a key that is not RSA or not the certificate's).
var ErrCertificate = errors.New("connect: the certificate credential cannot sign")

// Certificate is an application's certificate credential: the certificate
// whose public part is uploaded to the app registration, and its RSA
// private key. Token requests then carry a client assertion (RFC 7523, the
// Microsoft identity platform's "certificate credentials": a JWT signed
// PS256, naming the certificate by its x5t#S256 and x5t thumbprints, with
// aud the token endpoint, iss and sub the client ID, a unique jti and a
// ten-minute exp) instead of a client secret. Microsoft recommends
// certificates over secrets for app-only access.
type Certificate struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// AppOnlyCertificate is AppOnly with a certificate credential instead of
// the flow's client secret (which is not sent). It fails with
// ErrCertificate when c cannot sign.
func (f *Flow) AppOnlyCertificate(tenant string, c Certificate, scope ...string) (*AppOnly, error) {
	s := &clientassert.Signer{Certificate: c.Cert, Key: c.Key}
	if err := s.Check(); err != nil {
		return nil, errors.Join(ErrCertificate, err)
	}
	a := f.AppOnly(tenant, scope...)
	a.cfg.ClientSecret = ""
	a.signer = s
	return a, nil
}

// authorityOf is the scheme and host of a Microsoft endpoint.
func authorityOf(u string) string {
	for i, n := 0, 0; i < len(u); i++ {
		if u[i] == '/' {
			n++
			if n == 3 {
				return u[:i]
			}
		}
	}
	return u
}

// Token implements mailbox.TokenSource.
func (a *AppOnly) Token(ctx context.Context) (mailbox.Secret, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tok != nil && a.tok.AccessToken != "" && sha256.Sum256([]byte(a.tok.AccessToken)) != a.refuse &&
		(a.tok.Expiry.IsZero() || a.tok.Expiry.Sub(a.flow.now()) > expiryDelta) {
		return mailbox.NewSecret(a.tok.AccessToken), nil
	}
	cfg := a.cfg
	if a.signer != nil {
		// A fresh assertion per request: its jti is single-use and it
		// expires in minutes (RFC 7523 3).
		jwt, err := a.signer.Assertion(cfg.TokenURL, cfg.ClientID, a.flow.now())
		if err != nil {
			return mailbox.Secret{}, &transport.Error{Class: transport.Auth, Op: "oauth2", Err: errors.Join(ErrCertificate, err),
				Hint: "the app-only certificate cannot sign; check the certificate and its private key"}
		}
		cfg.EndpointParams = url.Values{"client_assertion_type": {clientassert.Type}, "client_assertion": {jwt}}
	}
	t, err := cfg.Token(a.flow.ctx(ctx))
	if err != nil {
		err = Classify(err)
		a.flow.logger().WarnContext(ctx, "oauth2 app-only token refused", "provider", a.flow.Provider.Name, "err", err)
		return mailbox.Secret{}, err
	}
	a.tok = t
	return mailbox.NewSecret(t.AccessToken), nil
}

// InvalidateToken implements mailbox.TokenRefresher.
func (a *AppOnly) InvalidateToken() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tok != nil {
		a.refuse = sha256.Sum256([]byte(a.tok.AccessToken))
		a.tok = nil
	}
}

const redactedApp = "connect.AppOnly(" + transport.Redacted + ")"

// String never shows a token or the client secret.
func (a *AppOnly) String() string { return redactedApp }

// Format prints the redacted form for every verb.
func (a *AppOnly) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redactedApp)) }

// LogValue logs the redacted form.
func (a *AppOnly) LogValue() slog.Value { return slog.StringValue(redactedApp) }
