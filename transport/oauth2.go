package transport

import (
	"context"
	"errors"
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
	tok *oauth2.Token
}

// NewOAuth2Tokens returns a source that refreshes tok with cfg.
func NewOAuth2Tokens(cfg *oauth2.Config, tok *oauth2.Token) *OAuth2Tokens {
	return &OAuth2Tokens{Config: cfg, tok: tok}
}

// ErrNoToken is returned when no token can be produced.
var ErrNoToken = errors.New("transport: no OAuth2 token")

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
		return mailbox.Secret{}, &Error{Class: Auth, Op: "oauth2", Err: ErrNoToken}
	}
	nt, err := src.Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
			return mailbox.Secret{}, &Error{Class: Auth, Op: "oauth2", Err: errors.New(re.ErrorCode), Hint: "the token endpoint refused the refresh token; authorise the mailbox again"}
		}
		return mailbox.Secret{}, &Error{Class: Temporary, Op: "oauth2", Err: errors.New("token refresh failed"), Hint: "the token endpoint could not be reached"}
	}
	if o.tok != nil && nt.RefreshToken != "" && nt.RefreshToken != o.tok.RefreshToken && o.OnRotate != nil {
		o.OnRotate(nt)
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
	if o.tok != nil {
		o.tok.AccessToken = ""
	}
}

// XOAUTH2 returns the initial client response of the XOAUTH2 SASL mechanism.
func XOAUTH2(user string, token mailbox.Secret) []byte {
	return []byte("user=" + user + "\x01auth=Bearer " + token.Reveal() + "\x01\x01")
}
