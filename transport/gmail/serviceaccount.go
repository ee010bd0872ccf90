package gmail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// ServiceAccount is a Google Cloud service account with domain-wide
// delegation in a Workspace domain: it gets a token for each mailbox by a
// JWT grant whose sub is the mailbox's address
// (https://developers.google.com/identity/protocols/oauth2/service-account#delegatingauthority).
// The domain's administrator grants the account's client id the scopes
// gmail.modify and gmail.send in the Admin console.
type ServiceAccount struct {
	// Email is the account's client_email.
	Email string
	// PrivateKey is the account's private_key (PEM, PKCS#8 or PKCS#1).
	PrivateKey mailbox.Secret
	// PrivateKeyID is the key's id (private_key_id), sent as kid.
	PrivateKeyID string
	// TokenURL is the token endpoint (default
	// https://oauth2.googleapis.com/token).
	TokenURL string
}

// ServiceAccountFromJSON reads the key file Google Cloud issues for a
// service account.
func ServiceAccountFromJSON(b []byte) (*ServiceAccount, error) {
	var f struct {
		Type         string `json:"type"`
		ClientEmail  string `json:"client_email"`
		PrivateKey   string `json:"private_key"`
		PrivateKeyID string `json:"private_key_id"`
		TokenURI     string `json:"token_uri"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("gmail: service account key: %w", err)
	}
	if f.Type != "service_account" || f.ClientEmail == "" || f.PrivateKey == "" {
		return nil, errors.New("gmail: not a service account key file (type service_account, client_email, private_key)")
	}
	return &ServiceAccount{Email: f.ClientEmail, PrivateKey: mailbox.NewSecret(f.PrivateKey), PrivateKeyID: f.PrivateKeyID, TokenURL: f.TokenURI}, nil
}

// serviceTokens returns the cached token source acting as user.
func (c *client) serviceTokens(user string, scopes []string) (*transport.OAuth2Tokens, error) {
	sa := c.cfg.ServiceAccount
	key := strings.ToLower(user) + " " + strings.Join(scopes, " ")
	c.mu.Lock()
	defer c.mu.Unlock()
	if ts := c.sas[key]; ts != nil {
		return ts, nil
	}
	tokenURL := sa.TokenURL
	if tokenURL == "" {
		tokenURL = DefaultTokenURL
	}
	cfg := &jwt.Config{Email: sa.Email, PrivateKey: []byte(sa.PrivateKey.Reveal()), PrivateKeyID: sa.PrivateKeyID,
		Subject: user, Scopes: scopes, TokenURL: tokenURL}
	hc := &http.Client{Transport: c.http.Transport, Timeout: c.cfg.Timeout}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	ts := &transport.OAuth2Tokens{Source: cfg.TokenSource(ctx)}
	c.sas[key] = ts
	return ts, nil
}

// String never shows the key.
func (sa *ServiceAccount) String() string {
	if sa == nil {
		return "gmail.ServiceAccount(nil)"
	}
	return "gmail.ServiceAccount{" + sa.Email + ", key " + transport.Redacted + "}"
}

// GoString never shows the key.
func (sa *ServiceAccount) GoString() string { return sa.String() }

// Format prints the redacted form for every verb.
func (sa *ServiceAccount) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(sa.String())) }

// LogValue logs the redacted form.
func (sa *ServiceAccount) LogValue() slog.Value { return slog.StringValue(sa.String()) }

// MarshalJSON marshals the redacted form.
func (sa *ServiceAccount) MarshalJSON() ([]byte, error) { return json.Marshal(sa.String()) }
