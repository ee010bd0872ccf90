package mailtest

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// clientAssertionType is RFC 7523 2.2's client_assertion_type.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionSkew is the clock skew allowed on nbf and iat.
const assertionSkew = 5 * time.Minute

// assertion is a verified client assertion.
type assertion struct {
	jti string
	exp time.Time
}

// Reasons a client assertion is refused, mapped to AADSTS numbers by the
// servers.
var (
	errAssertionMalformed = errors.New("malformed client assertion")
	errAssertionSignature = errors.New("client assertion signature or thumbprint does not match the certificate")
	errAssertionClaims    = errors.New("client assertion aud, iss or sub do not match")
	errAssertionTime      = errors.New("client assertion is not within its valid time range")
	errAssertionJTI       = errors.New("client assertion has no jti or replays one")
)

// verifyAssertion checks a client assertion (RFC 7523 3, the Microsoft
// identity platform's certificate credentials reference) against the
// registered certificate: a JWS of three parts; alg PS256 or RS256 (the
// documented forms); x5t#S256 or x5t naming the certificate by its SHA-256
// or SHA-1 thumbprint; the signature verifies with the certificate's RSA
// key; aud is the token endpoint; iss and sub are the client ID; exp is in
// the future and nbf/iat not beyond the allowed skew; a jti is present.
// Written independently of the signer in internal/clientassert so the two
// check each other.
func verifyAssertion(jwt, aud, clientID string, cert *x509.Certificate, now time.Time) (assertion, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 || cert == nil {
		return assertion{}, errAssertionMalformed
	}
	dec := base64.RawURLEncoding
	hb, err1 := dec.DecodeString(parts[0])
	cb, err2 := dec.DecodeString(parts[1])
	sig, err3 := dec.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return assertion{}, errAssertionMalformed
	}
	var head struct {
		Alg     string `json:"alg"`
		X5t     string `json:"x5t"`
		X5tS256 string `json:"x5t#S256"`
	}
	var claims struct {
		Aud, Iss, Sub, Jti string
		Exp, Nbf, Iat      int64
	}
	if json.Unmarshal(hb, &head) != nil || json.Unmarshal(cb, &claims) != nil {
		return assertion{}, errAssertionMalformed
	}
	s1, s2 := sha1.Sum(cert.Raw), sha256.Sum256(cert.Raw)
	named := false
	if head.X5tS256 != "" {
		named = subtle.ConstantTimeCompare([]byte(head.X5tS256), []byte(dec.EncodeToString(s2[:]))) == 1
	} else if head.X5t != "" {
		named = subtle.ConstantTimeCompare([]byte(head.X5t), []byte(dec.EncodeToString(s1[:]))) == 1
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !named || !ok {
		return assertion{}, errAssertionSignature
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	var err error
	switch head.Alg {
	case "PS256":
		err = rsa.VerifyPSS(pub, crypto.SHA256, sum[:], sig, nil)
	case "RS256":
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
	default:
		err = errAssertionSignature
	}
	if err != nil {
		return assertion{}, errAssertionSignature
	}
	if claims.Aud != aud || claims.Iss != clientID || claims.Sub != clientID {
		return assertion{}, errAssertionClaims
	}
	n := now.Unix()
	skew := int64(assertionSkew / time.Second)
	if claims.Exp == 0 || n >= claims.Exp || claims.Nbf > n+skew || claims.Iat > n+skew {
		return assertion{}, errAssertionTime
	}
	if claims.Jti == "" {
		return assertion{}, errAssertionJTI
	}
	return assertion{jti: claims.Jti, exp: time.Unix(claims.Exp, 0)}, nil
}
