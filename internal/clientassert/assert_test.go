package clientassert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func cert(t *testing.T) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// TestAssertion: the header and claims are the ones the identity
// platform's reference lists, and the signature verifies with the
// certificate's key under the algorithm named.
func TestAssertion(t *testing.T) {
	c, key := cert(t)
	now := time.Unix(1_700_000_000, 0)
	for _, alg := range []string{"", PS256, RS256} {
		jwt, err := Signer{Certificate: c, Key: key, Alg: alg}.Assertion("https://login.example/t/oauth2/v2.0/token", "client-1", now)
		if err != nil {
			t.Fatal(err)
		}
		p := strings.Split(jwt, ".")
		if len(p) != 3 {
			t.Fatalf("not a JWS: %q", jwt)
		}
		hb, _ := base64.RawURLEncoding.DecodeString(p[0])
		cb, _ := base64.RawURLEncoding.DecodeString(p[1])
		sig, _ := base64.RawURLEncoding.DecodeString(p[2])
		var h map[string]string
		var cl map[string]any
		if json.Unmarshal(hb, &h) != nil || json.Unmarshal(cb, &cl) != nil {
			t.Fatalf("header %s claims %s", hb, cb)
		}
		want := alg
		if want == "" {
			want = PS256
		}
		s256 := sha256.Sum256(c.Raw)
		if h["alg"] != want || h["typ"] != "JWT" || h["x5t#S256"] != base64.RawURLEncoding.EncodeToString(s256[:]) || len(h["x5t"]) != 27 {
			t.Fatalf("header %v", h)
		}
		if cl["aud"] != "https://login.example/t/oauth2/v2.0/token" || cl["iss"] != "client-1" || cl["sub"] != "client-1" ||
			cl["exp"].(float64) != float64(now.Add(Lifetime).Unix()) || cl["nbf"].(float64) != float64(now.Unix()) || len(cl["jti"].(string)) != 32 {
			t.Fatalf("claims %v", cl)
		}
		sum := sha256.Sum256([]byte(p[0] + "." + p[1]))
		if want == PS256 {
			err = rsa.VerifyPSS(&key.PublicKey, crypto.SHA256, sum[:], sig, nil)
		} else {
			err = rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], sig)
		}
		if err != nil {
			t.Fatalf("%s signature: %v", want, err)
		}
	}
	a, _ := Signer{Certificate: c, Key: key}.Assertion("a", "c", now)
	b, _ := Signer{Certificate: c, Key: key}.Assertion("a", "c", now)
	if a == b {
		t.Fatal("two assertions share a jti")
	}
}

// TestUnusable: a missing, non-RSA or mismatched key is ErrUnusable.
func TestUnusable(t *testing.T) {
	c, key := cert(t)
	_, other := cert(t)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, s := range map[string]Signer{
		"no cert": {Key: key}, "no key": {Certificate: c}, "ecdsa": {Certificate: c, Key: ec},
		"other key": {Certificate: c, Key: other}, "alg": {Certificate: c, Key: key, Alg: "HS256"},
	} {
		if _, err := s.Assertion("a", "c", time.Now()); !errors.Is(err, ErrUnusable) {
			t.Errorf("%s: %v, want ErrUnusable", name, err)
		}
	}
}
