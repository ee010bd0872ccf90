package mailtest

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"strconv"
	"time"
)

// PubSubSigner signs Cloud Pub/Sub push requests as Google does for a push
// subscription with authentication: each request carries
// "Authorization: Bearer <ID token>", an RS256 JWT with iss
// https://accounts.google.com, aud the subscription's audience, and the
// claims email (the subscription's service account) and email_verified
// (https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions).
// Its public key is published as a JWKS (JWKS), the form of
// https://www.googleapis.com/oauth2/v3/certs.
type PubSubSigner struct {
	Key   *rsa.PrivateKey
	KeyID string
	// Issuer, Email and Audience are the claims of the tokens.
	Issuer, Email, Audience string
	// Subscription names the push subscription in the body.
	Subscription string
}

// NewPubSubSigner returns a signer with a fresh 2048-bit key.
func NewPubSubSigner(email, audience string) (*PubSubSigner, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	var kid [8]byte
	_, _ = rand.Read(kid[:])
	return &PubSubSigner{Key: key, KeyID: base64.RawURLEncoding.EncodeToString(kid[:]), Issuer: "https://accounts.google.com",
		Email: email, Audience: audience, Subscription: "projects/correio-test/subscriptions/gmail-push"}, nil
}

// JWKS returns the signer's public key as a JSON Web Key Set.
func (p *PubSubSigner) JWKS() []byte {
	b, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": p.KeyID,
		"n": base64.RawURLEncoding.EncodeToString(p.Key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(p.Key.E)).Bytes()),
	}}})
	return b
}

// IDToken returns an ID token issued at now for an hour; edit, when not
// nil, changes the claims first (to make a wrong one).
func (p *PubSubSigner) IDToken(now time.Time, edit func(claims map[string]any)) string {
	claims := map[string]any{"iss": p.Issuer, "aud": p.Audience, "azp": "1234567890", "sub": "1234567890",
		"email": p.Email, "email_verified": true, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if edit != nil {
		edit(claims)
	}
	return p.Sign(map[string]any{"alg": "RS256", "kid": p.KeyID, "typ": "JWT"}, claims)
}

// Sign signs header and claims with the key (RS256 whatever the header
// says).
func (p *PubSubSigner) Sign(header, claims map[string]any) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(in))
	sig, _ := rsa.SignPKCS1v15(rand.Reader, p.Key, crypto.SHA256, sum[:])
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// PushBody returns the body of a Pub/Sub push of a Gmail notification: the
// message's data is the base64 of {"emailAddress","historyId"}
// (https://developers.google.com/workspace/gmail/api/guides/push).
func (p *PubSubSigner) PushBody(email string, historyID uint64) []byte {
	data, _ := json.Marshal(map[string]any{"emailAddress": email, "historyId": historyID})
	id := strconv.FormatInt(time.Now().UnixNano(), 10)
	b, _ := json.Marshal(map[string]any{"message": map[string]any{
		"data": base64.StdEncoding.EncodeToString(data), "messageId": id, "message_id": id,
		"publishTime": time.Now().UTC().Format(time.RFC3339Nano), "publish_time": time.Now().UTC().Format(time.RFC3339Nano)},
		"subscription": p.Subscription})
	return b
}

// PushRequest returns a signed push request of a Gmail notification to
// endpoint.
func (p *PubSubSigner) PushRequest(endpoint, email string, historyID uint64, now time.Time) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(p.PushBody(email, historyID)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.IDToken(now, nil))
	return req, nil
}
