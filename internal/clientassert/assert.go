// Package clientassert builds the client assertions of certificate
// credentials: a JWT signed with the application's private key that
// authenticates it at a token endpoint instead of a client secret (RFC 7523
// 2.2, OpenID Connect Core 9 private_key_jwt). connect and transport/graph
// share it.
//
// The header follows the Microsoft identity platform's "certificate
// credentials" reference (learn.microsoft.com/entra/identity-platform/
// certificate-credentials): alg PS256 with x5t#S256, the base64url SHA-256
// thumbprint of the certificate's DER encoding; the older form, still
// accepted, is RS256 with x5t, the SHA-1 thumbprint. Both thumbprints are
// sent (RFC 7515 4.1.7 and 4.1.8), so a server finds the certificate by
// either. The claims are aud (the token endpoint), iss and sub (the client
// ID), a unique jti, nbf, iat and exp.
package clientassert

import (
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
	"time"
)

// Type is the client_assertion_type of a JWT client assertion (RFC 7523
// 2.2).
const Type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Lifetime is how long an assertion is valid (Microsoft's reference
// example uses ten minutes).
const Lifetime = 10 * time.Minute

// Algorithms.
const (
	PS256 = "PS256" // RSASSA-PSS with SHA-256 (the default)
	RS256 = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256
)

// ErrUnusable is returned for a credential that cannot sign: no
// certificate, no key, a key that is not RSA or does not match the
// certificate, an unknown algorithm.
var ErrUnusable = errors.New("clientassert: the certificate credential cannot sign")

// Signer signs assertions with one certificate credential.
type Signer struct {
	Certificate *x509.Certificate
	Key         crypto.Signer
	// Alg is PS256 (default) or RS256.
	Alg string
}

// Check reports whether s can sign: an RSA key matching the certificate.
func (s Signer) Check() error {
	if s.Certificate == nil || s.Key == nil {
		return errors.Join(ErrUnusable, errors.New("a certificate and its private key are required"))
	}
	pub, ok := s.Key.Public().(*rsa.PublicKey)
	if !ok {
		return errors.Join(ErrUnusable, errors.New("only RSA keys are supported"))
	}
	cp, ok := s.Certificate.PublicKey.(*rsa.PublicKey)
	if !ok || !cp.Equal(pub) {
		return errors.Join(ErrUnusable, errors.New("the private key is not the certificate's"))
	}
	if s.Alg != "" && s.Alg != PS256 && s.Alg != RS256 {
		return errors.Join(ErrUnusable, errors.New("unknown algorithm "+s.Alg))
	}
	return nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Thumbprints returns the x5t (SHA-1) and x5t#S256 (SHA-256) header values
// of cert.
func Thumbprints(cert *x509.Certificate) (x5t, x5tS256 string) {
	s1 := sha1.Sum(cert.Raw)
	s2 := sha256.Sum256(cert.Raw)
	return b64(s1[:]), b64(s2[:])
}

// Assertion returns a signed assertion for the token endpoint aud and the
// application clientID, valid for Lifetime from now.
func (s Signer) Assertion(aud, clientID string, now time.Time) (string, error) {
	if err := s.Check(); err != nil {
		return "", err
	}
	alg := s.Alg
	if alg == "" {
		alg = PS256
	}
	x5t, x5tS256 := Thumbprints(s.Certificate)
	head, err := json.Marshal(map[string]string{"alg": alg, "typ": "JWT", "x5t": x5t, "x5t#S256": x5tS256})
	if err != nil {
		return "", err
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	claims, err := json.Marshal(map[string]any{"aud": aud, "iss": clientID, "sub": clientID,
		"jti": hex.EncodeToString(jti[:]), "nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(Lifetime).Unix()})
	if err != nil {
		return "", err
	}
	signing := b64(head) + "." + b64(claims)
	sum := sha256.Sum256([]byte(signing))
	var opts crypto.SignerOpts = crypto.SHA256
	if alg == PS256 {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	}
	sig, err := s.Key.Sign(rand.Reader, sum[:], opts)
	if err != nil {
		return "", errors.Join(ErrUnusable, err)
	}
	return signing + "." + b64(sig), nil
}
