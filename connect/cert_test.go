package connect_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/correio-dev/correio/connect"
	"github.com/correio-dev/correio/internal/clientassert"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
)

const certClient = "5a1e-cert-app"

func selfSigned(t *testing.T) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "correio app"},
		NotBefore: time.Now().Add(-24 * time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// TestAppOnlyCertificate: app-only tokens with a certificate credential;
// the local server verifies each client assertion, and a certificate it
// does not know is refused as the application's credential, not as a
// dead grant.
func TestAppOnlyCertificate(t *testing.T) {
	e := newEnv(t, mailtest.OAuthOptions{})
	cert, key := selfSigned(t)
	e.srv.AddClient(mailtest.OAuthClient{ID: certClient, Certificate: cert})
	f := &connect.Flow{Provider: e.flow.Provider, ClientID: certClient, Clock: e.clk}
	ctx := context.Background()

	app, err := f.AppOnlyCertificate(e.srv.Tenant, connect.Certificate{Cert: cert, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := app.Token(ctx)
	if err != nil {
		t.Fatalf("Token with a certificate: %v", err)
	}
	if who, scopes, ok := e.srv.CheckAccessToken(tok.Reveal()); !ok || who != "app:"+certClient || len(scopes) != 1 || scopes[0] != connect.MicrosoftGraphDefault {
		t.Fatalf("app-only token for %q %v", who, scopes)
	}
	app.InvalidateToken()
	if _, err := app.Token(ctx); err != nil {
		t.Fatalf("second token (a fresh assertion, new jti): %v", err)
	}
	if st := e.srv.Stats(); st.Assertions != 2 || st.AssertionsRefused != 0 {
		t.Fatalf("stats %+v, want 2 accepted assertions", st)
	}

	otherCert, otherKey := selfSigned(t)
	bad, err := f.AppOnlyCertificate(e.srv.Tenant, connect.Certificate{Cert: otherCert, Key: otherKey})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Token(ctx)
	if !errors.Is(err, connect.ErrClientRejected) || errors.Is(err, transport.ErrReauthRequired) || transport.ClassOf(err) != transport.Auth {
		t.Fatalf("unregistered certificate: %v, want Auth wrapping ErrClientRejected", err)
	}

	for name, c := range map[string]connect.Certificate{
		"no key": {Cert: cert}, "key of another certificate": {Cert: cert, Key: otherKey}, "nothing": {},
	} {
		if _, err := f.AppOnlyCertificate(e.srv.Tenant, c); !errors.Is(err, connect.ErrCertificate) {
			t.Errorf("%s: %v, want ErrCertificate", name, err)
		}
	}
}

// TestOAuthServerVerifiesClientAssertion drives the token endpoint by
// hand: a replayed jti, another audience, an expired assertion and the
// older RS256 form.
func TestOAuthServerVerifiesClientAssertion(t *testing.T) {
	e := newEnv(t, mailtest.OAuthOptions{})
	cert, key := selfSigned(t)
	e.srv.AddClient(mailtest.OAuthClient{ID: certClient, Certificate: cert})
	tokenURL := e.srv.TokenURL(e.srv.Tenant)
	post := func(jwt string, withID bool) (int, string, []int) {
		t.Helper()
		v := url.Values{"grant_type": {"client_credentials"}, "scope": {connect.MicrosoftGraphDefault},
			"client_assertion_type": {connect.ClientAssertionType}, "client_assertion": {jwt}}
		if withID {
			v.Set("client_id", certClient)
		}
		resp, err := http.PostForm(tokenURL, v)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Error  string `json:"error"`
			Codes  []int  `json:"error_codes"`
			Access string `json:"access_token"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		if resp.StatusCode == http.StatusOK && body.Access == "" {
			t.Fatal("200 without an access token")
		}
		return resp.StatusCode, body.Error, body.Codes
	}
	sign := func(s clientassert.Signer, aud string, at time.Time) string {
		t.Helper()
		jwt, err := s.Assertion(aud, certClient, at)
		if err != nil {
			t.Fatal(err)
		}
		return jwt
	}
	now := e.clk.Now()
	ps := clientassert.Signer{Certificate: cert, Key: key}
	jwt := sign(ps, tokenURL, now)
	if st, code, _ := post(jwt, true); st != http.StatusOK {
		t.Fatalf("valid assertion: %d %s", st, code)
	}
	if st, code, aad := post(jwt, true); st != http.StatusUnauthorized || code != "invalid_client" || len(aad) != 1 || aad[0] != 50027 {
		t.Fatalf("replayed jti: %d %s %v, want 401 invalid_client AADSTS50027", st, code, aad)
	}
	if st, _, aad := post(sign(ps, e.srv.TokenURL("another-tenant"), now), true); st != http.StatusUnauthorized || len(aad) != 1 || aad[0] != 700021 {
		t.Fatalf("assertion for another token endpoint: %d %v, want 401 AADSTS700021", st, aad)
	}
	if st, _, aad := post(sign(ps, tokenURL, now.Add(-time.Hour)), true); st != http.StatusUnauthorized || len(aad) != 1 || aad[0] != 700024 {
		t.Fatalf("expired assertion: %d %v, want 401 AADSTS700024", st, aad)
	}
	forged := sign(clientassert.Signer{Certificate: cert, Key: key}, tokenURL, now)
	forged = forged[:len(forged)-8] + "AAAAAAAA"
	if st, _, aad := post(forged, true); st != http.StatusUnauthorized || len(aad) != 1 || aad[0] != 700027 {
		t.Fatalf("bad signature: %d %v, want 401 AADSTS700027", st, aad)
	}
	if st, code, _ := post(sign(clientassert.Signer{Certificate: cert, Key: key, Alg: clientassert.RS256}, tokenURL, now), false); st != http.StatusOK {
		t.Fatalf("RS256 assertion without client_id (iss names the client): %d %s", st, code)
	}
	resp, err := http.PostForm(tokenURL, url.Values{"grant_type": {"client_credentials"}, "scope": {connect.MicrosoftGraphDefault}, "client_id": {certClient}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a certificate client with no credential: %d, want 401", resp.StatusCode)
	}
}
