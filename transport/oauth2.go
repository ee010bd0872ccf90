package transport

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/correio-dev/correio/mailbox"
)

// OAuth2Tokens adapts golang.org/x/oauth2 to mailbox.TokenSource for
// XOAUTH2. It caches the current token, refreshes it shortly before it
// expires, and after InvalidateToken (called by a transport when the server
// refused the token) refreshes on the next call even if the token looked
// valid. Rotated refresh tokens are reported to OnRotate so a store can save
// them back.
//
// It fails loudly: when it cannot give a usable token (no source, no
// refresh token, an empty token, or, from a Source after InvalidateToken,
// only the very token the server refused, as a static token does) Token
// returns a *Error of class Auth wrapping ErrNoToken, never an empty token
// with a nil error. It copies the tokens it is given and
// never changes the caller's. A *OAuth2Tokens prints, logs and marshals as
// "transport.OAuth2Tokens([REDACTED])" whatever the verb: no access token,
// refresh token or client secret ever reaches an output (print the
// pointer: copying the struct copies its lock).
type OAuth2Tokens struct {
	// Config refreshes tokens. When nil, Source is used as is.
	Config *oauth2.Config
	// Source is used when Config is nil (a service account, a static test
	// token). Invalidation then just asks it again.
	Source oauth2.TokenSource
	// OnRotate, when set, is called with a refreshed token whose refresh
	// token changed.
	OnRotate func(*oauth2.Token)

	mu  sync.Mutex
	tok *oauth2.Token // our own copy
	// refused is the hash of the access token last invalidated.
	refused [sha256.Size]byte
}

// NewOAuth2Tokens returns a source that refreshes tok with cfg. tok is
// copied.
func NewOAuth2Tokens(cfg *oauth2.Config, tok *oauth2.Token) *OAuth2Tokens {
	return &OAuth2Tokens{Config: cfg, tok: copyToken(tok)}
}

func copyToken(t *oauth2.Token) *oauth2.Token {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// ErrNoToken is wrapped by the *Error (class Auth) a token source returns
// when it has no usable token: the mailbox must be authorised again.
var ErrNoToken = errors.New("transport: no OAuth2 token")

// ErrReauthRequired is wrapped (beside ErrNoToken) by the *Error of class
// Auth a token source returns when the grant itself is gone: the token
// endpoint answered invalid_grant (refresh token expired, revoked, the
// password changed) or the consent was withdrawn. Retrying cannot help: the
// engines put the mailbox in engine.StateReauthRequired at once and wait for
// a person to authorise it again.
var ErrReauthRequired = errors.New("transport: OAuth2 grant revoked or expired; re-authorisation required")

// AccessToken asks src for a token and refuses an empty one: the
// transports call it so that nothing is ever sent with an empty token. Its
// errors are *Error of class Auth wrapping ErrNoToken unless src returned a
// classified error.
func AccessToken(ctx context.Context, src mailbox.TokenSource) (mailbox.Secret, error) {
	if src == nil {
		return mailbox.Secret{}, &Error{Class: Auth, Op: "oauth2", Err: ErrNoToken, Hint: "XOAUTH2 needs an OAuth2 token source; authorise the mailbox"}
	}
	tok, err := src.Token(ctx)
	if err != nil {
		if ClassOf(err) != ClassUnknown {
			return mailbox.Secret{}, err
		}
		return mailbox.Secret{}, &Error{Class: Auth, Op: "oauth2", Err: errors.Join(ErrNoToken, err), Hint: "the token source failed; authorise the mailbox again"}
	}
	if tok.IsZero() {
		return mailbox.Secret{}, &Error{Class: Auth, Op: "oauth2", Err: ErrNoToken, Hint: "the token source gave an empty token; authorise the mailbox again"}
	}
	return tok, nil
}

// expiryDelta refreshes a token this long before it expires.
const expiryDelta = time.Minute

// Token implements mailbox.TokenSource.
func (o *OAuth2Tokens) Token(ctx context.Context) (mailbox.Secret, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tok != nil && o.tok.AccessToken != "" && (o.tok.Expiry.IsZero() || time.Until(o.tok.Expiry) > expiryDelta) {
		return mailbox.NewSecret(o.tok.AccessToken), nil
	}
	var src oauth2.TokenSource
	switch {
	case o.Config != nil:
		if o.tok == nil || o.tok.RefreshToken == "" {
			return mailbox.Secret{}, &Error{Class: Auth, Op: "oauth2", Err: ErrNoToken, Hint: "the mailbox has no refresh token; authorise it again"}
		}
		expired := *o.tok
		expired.AccessToken = ""
		expired.Expiry = time.Unix(1, 0)
		src = o.Config.TokenSource(ctx, &expired)
	case o.Source != nil:
		src = o.Source
	default:
		return mailbox.Secret{}, &Error{Class: Auth, Op: "oauth2", Err: ErrNoToken, Hint: "no OAuth2 configuration or token source; authorise the mailbox"}
	}
	nt, err := src.Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
			cause := errors.New(re.ErrorCode)
			if re.ErrorCode == "invalid_grant" || re.ErrorCode == "unauthorized_client" || re.ErrorCode == "consent_required" || re.ErrorCode == "interaction_required" {
				cause = errors.Join(ErrReauthRequired, ErrNoToken, cause)
			}
			return mailbox.Secret{}, &Error{Class: Auth, Op: "oauth2", Err: cause, Hint: "the token endpoint refused the refresh token; authorise the mailbox again"}
		}
		return mailbox.Secret{}, &Error{Class: Temporary, Op: "oauth2", Err: errors.New("token refresh failed"), Hint: "the token endpoint could not be reached"}
	}
	if nt == nil || nt.AccessToken == "" {
		return mailbox.Secret{}, &Error{Class: Auth, Op: "oauth2", Err: ErrNoToken, Hint: "the token source gave an empty token; authorise the mailbox again"}
	}
	if o.Config == nil && sha256.Sum256([]byte(nt.AccessToken)) == o.refused {
		return mailbox.Secret{}, &Error{Class: Auth, Op: "oauth2", Err: ErrNoToken,
			Hint: "the server refused the OAuth2 token and the token source has no other; re-authorise the mailbox"}
	}
	nt = copyToken(nt)
	if o.tok != nil && nt.RefreshToken != "" && nt.RefreshToken != o.tok.RefreshToken && o.OnRotate != nil {
		o.OnRotate(copyToken(nt))
	}
	if o.tok != nil && nt.RefreshToken == "" {
		nt.RefreshToken = o.tok.RefreshToken
	}
	o.tok = nt
	return mailbox.NewSecret(nt.AccessToken), nil
}

// InvalidateToken implements mailbox.TokenRefresher.
func (o *OAuth2Tokens) InvalidateToken() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tok != nil && o.tok.AccessToken != "" {
		o.refused = sha256.Sum256([]byte(o.tok.AccessToken))
		o.tok.AccessToken = ""
	}
}

const oauth2Redacted = "transport.OAuth2Tokens(" + Redacted + ")"

// String never shows a token or the client secret.
func (o *OAuth2Tokens) String() string { return oauth2Redacted }

// GoString never shows a token or the client secret.
func (o *OAuth2Tokens) GoString() string { return oauth2Redacted }

// Format prints the redacted form for every verb.
func (o *OAuth2Tokens) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(oauth2Redacted)) }

// MarshalJSON marshals the redacted form.
func (o *OAuth2Tokens) MarshalJSON() ([]byte, error) { return []byte(`"` + oauth2Redacted + `"`), nil }

// MarshalText marshals the redacted form.
func (o *OAuth2Tokens) MarshalText() ([]byte, error) { return []byte(oauth2Redacted), nil }

// LogValue logs the redacted form.
func (o *OAuth2Tokens) LogValue() slog.Value { return slog.StringValue(oauth2Redacted) }

// XOAUTH2 returns the initial client response of the XOAUTH2 SASL mechanism.
func XOAUTH2(user string, token mailbox.Secret) []byte {
	return []byte("user=" + user + "\x01auth=Bearer " + token.Reveal() + "\x01\x01")
}
