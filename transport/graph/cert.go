package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/correio-dev/correio/internal/clientassert"
	"github.com/correio-dev/correio/transport"
)

// ClientAssertionType is the client_assertion_type of a certificate
// credential (RFC 7523).
const ClientAssertionType = clientassert.Type

// ErrCertificate is wrapped by the errors of an unusable certificate
// credential.
var ErrCertificate = errors.New("graph: the app-only certificate cannot sign")

// assertionSource gets app-only tokens with a certificate credential: each
// token request carries a fresh client assertion (internal/clientassert,
// shared with package connect: PS256 with the x5t#S256 and x5t
// thumbprints, as the Microsoft identity platform documents).
type assertionSource struct {
	ctx      context.Context // carries the HTTP client
	tokenURL string
	clientID string
	signer   clientassert.Signer
}

func (a *assertionSource) Token() (*oauth2.Token, error) {
	jwt, err := a.signer.Assertion(a.tokenURL, a.clientID, time.Now())
	if err != nil {
		return nil, errors.Join(ErrCertificate, err)
	}
	cc := &clientcredentials.Config{ClientID: a.clientID, TokenURL: a.tokenURL, Scopes: []string{GraphScope},
		AuthStyle:      oauth2.AuthStyleInParams,
		EndpointParams: url.Values{"client_assertion_type": {ClientAssertionType}, "client_assertion": {jwt}}}
	return cc.Token(a.ctx)
}

// appTokenSource builds the app-only token source of a: a certificate
// credential when a has one, else the client secret.
func appTokenSource(a *AppOnly, hc *http.Client) oauth2.TokenSource {
	auth := a.Authority
	if auth == "" {
		auth = DefaultAuthority
	}
	tokenURL := strings.TrimSuffix(auth, "/") + "/" + url.PathEscape(a.TenantID) + "/oauth2/v2.0/token"
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	if a.Certificate != nil {
		return &assertionSource{ctx: ctx, tokenURL: tokenURL, clientID: a.ClientID,
			signer: clientassert.Signer{Certificate: a.Certificate, Key: a.PrivateKey}}
	}
	cc := &clientcredentials.Config{ClientID: a.ClientID, ClientSecret: a.ClientSecret.Reveal(), TokenURL: tokenURL,
		Scopes: []string{GraphScope}, AuthStyle: oauth2.AuthStyleInParams}
	return cc.TokenSource(ctx)
}

// String never shows the secret or the key.
func (a *AppOnly) String() string {
	if a == nil {
		return "graph.AppOnly(nil)"
	}
	return "graph.AppOnly{tenant " + a.TenantID + ", client " + a.ClientID + ", credential " + transport.Redacted + "}"
}

// GoString never shows the secret or the key.
func (a *AppOnly) GoString() string { return a.String() }

// Format prints the redacted form for every verb.
func (a *AppOnly) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(a.String())) }

// LogValue logs the redacted form.
func (a *AppOnly) LogValue() slog.Value { return slog.StringValue(a.String()) }

// MarshalJSON marshals the redacted form.
func (a *AppOnly) MarshalJSON() ([]byte, error) { return json.Marshal(a.String()) }
