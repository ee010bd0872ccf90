package connect

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"time"
)

// Claims are the id_token claims the flows read (OpenID Connect Core 2).
type Claims struct {
	Issuer            string `json:"iss"`
	Subject           string `json:"sub"`
	Audience          audience
	Expiry            int64  `json:"exp"`
	IssuedAt          int64  `json:"iat"`
	Nonce             string `json:"nonce"`
	TenantID          string `json:"tid"`
	Email             string `json:"email"`
	PreferredUsername string `json:"preferred_username"`
	Name              string `json:"name"`
}

type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// Account is the address the claims name: preferred_username (Microsoft's
// UPN) or email.
func (c Claims) Account() string {
	if c.PreferredUsername != "" {
		return c.PreferredUsername
	}
	return c.Email
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// skew is the clock difference tolerated on exp.
const skew = 5 * time.Minute

// verifyIDToken checks an id_token (OpenID Connect Core 3.1.3.7): RS256
// signature against the provider's JWKS when it has one, iss, aud, exp and,
// when nonce is not empty, the nonce.
func (f *Flow) verifyIDToken(ctx context.Context, raw, nonce string) (Claims, error) {
	var c Claims
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return c, fmt.Errorf("%w: not a compact JWS", ErrIDToken)
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	pb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return c, fmt.Errorf("%w: bad base64url", ErrIDToken)
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if json.Unmarshal(hb, &h) != nil {
		return c, fmt.Errorf("%w: bad header", ErrIDToken)
	}
	if f.Provider.JWKSURL != "" {
		if h.Alg != "RS256" {
			return c, fmt.Errorf("%w: alg %q, want RS256", ErrIDToken, h.Alg)
		}
		key, err := f.key(ctx, h.Kid)
		if err != nil {
			return c, err
		}
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig) != nil {
			return c, fmt.Errorf("%w: bad signature", ErrIDToken)
		}
	}
	var aud struct {
		Aud audience `json:"aud"`
	}
	if json.Unmarshal(pb, &c) != nil || json.Unmarshal(pb, &aud) != nil {
		return c, fmt.Errorf("%w: bad claims", ErrIDToken)
	}
	c.Audience = aud.Aud
	iss := strings.ReplaceAll(f.Provider.Issuer, "{tenantid}", c.TenantID)
	if f.Provider.Issuer != "" && c.Issuer != iss {
		return c, fmt.Errorf("%w: issuer %q, want %q", ErrIDToken, c.Issuer, iss)
	}
	okAud := false
	for _, a := range c.Audience {
		okAud = okAud || a == f.ClientID
	}
	if !okAud {
		return c, fmt.Errorf("%w: audience is not this client", ErrIDToken)
	}
	if now := f.now(); c.Expiry == 0 || now.After(time.Unix(c.Expiry, 0).Add(skew)) {
		return c, fmt.Errorf("%w: expired", ErrIDToken)
	}
	if nonce != "" && subtle.ConstantTimeCompare([]byte(c.Nonce), []byte(nonce)) != 1 {
		return c, ErrNonce
	}
	return c, nil
}

// key returns the JWKS key kid, fetching the set when it is not known yet
// (keys rotate: an unknown kid refetches once).
func (f *Flow) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	f.mu.Lock()
	k := f.keys[kid]
	f.mu.Unlock()
	if k != nil {
		return k, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.Provider.JWKSURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIDToken, err)
	}
	resp, err := f.client().Do(req)
	if err != nil {
		return nil, Classify(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: JWKS answered HTTP %d", ErrIDToken, resp.StatusCode)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, fmt.Errorf("%w: bad JWKS", ErrIDToken)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, j := range set.Keys {
		if j.Kty != "RSA" {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(j.N)
		e, err2 := base64.RawURLEncoding.DecodeString(j.E)
		if err1 != nil || err2 != nil || len(e) > 4 {
			continue
		}
		keys[j.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	f.mu.Lock()
	f.keys = keys
	f.mu.Unlock()
	if k := keys[kid]; k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("%w: signing key %q not in the provider's JWKS", ErrIDToken, kid)
}
