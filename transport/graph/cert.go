package graph

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
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

	"github.com/correio-dev/correio/transport"
)

// ClientAssertionType is the client_assertion_type of a certificate
// credential (RFC 7523).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// ErrCertificate is wrapped by the errors of an unusable certificate
// credential.
var ErrCertificate = errors.New("graph: the app-only certificate cannot sign")

// assertionSource gets app-only tokens with a certificate credential: each
// token request carries a fresh client assertion, a JWT signed with the
// certificate's RSA key (RS256, the certificate's SHA-1 thumbprint as x5t),
// as the Microsoft identity platform expects.
type assertionSource struct {
	ctx      context.Context // carries the HTTP client
	tokenURL string
	clientID string
	cert     *x509.Certificate
	key      crypto.Signer
}

func (a *assertionSource) Token() (*oauth2.Token, error) {
	jwt, err := a.assertion(time.Now())
	if err != nil {
		return nil, err
	}
	cc := &clientcredentials.Config{ClientID: a.clientID, TokenURL: a.tokenURL, Scopes: []string{GraphScope},
		AuthStyle:      oauth2.AuthStyleInParams,
		EndpointParams: url.Values{"client_assertion_type": {ClientAssertionType}, "client_assertion": {jwt}}}
	return cc.Token(a.ctx)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// assertion returns the signed JWT, valid for ten minutes from now.
func (a *assertionSource) assertion(now time.Time) (string, error) {
	if a.cert == nil || a.key == nil {
		return "", ErrCertificate
	}
	if _, ok := a.key.Public().(*rsa.PublicKey); !ok {
		return "", errors.Join(ErrCertificate, errors.New("only RSA keys are supported"))
	}
	thumb := sha1.Sum(a.cert.Raw) // the x5t header is defined as the SHA-1 thumbprint
	head, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "x5t": b64(thumb[:])})
	var jti [16]byte
	_, _ = rand.Read(jti[:])
	claims, _ := json.Marshal(map[string]any{"aud": a.tokenURL, "iss": a.clientID, "sub": a.clientID,
		"jti": hex.EncodeToString(jti[:]), "nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()})
	signing := b64(head) + "." + b64(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := a.key.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		return "", errors.Join(ErrCertificate, err)
	}
	return signing + "." + b64(sig), nil
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
		return &assertionSource{ctx: ctx, tokenURL: tokenURL, clientID: a.ClientID, cert: a.Certificate, key: a.PrivateKey}
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
