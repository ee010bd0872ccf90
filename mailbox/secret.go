package mailbox

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
)

const redacted = "[REDACTED]"

// Secret holds a credential (a password, an access token, a refresh token).
// It never prints: String, GoString, Format, LogValue, MarshalText and
// MarshalJSON all return a redacted placeholder. Transports and stores read
// the value through the one explicit method Reveal.
//
// The zero Secret is empty.
type Secret struct {
	v string
}

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: s} }

// Reveal returns the secret value. Call it only where the value is sent to a
// server or encrypted for storage; never log or format its result.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

// Equal reports whether two secrets hold the same value.
func (s Secret) Equal(o Secret) bool { return s.v == o.v }

// String returns a redacted placeholder (empty for an empty secret).
func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return redacted
}

// GoString returns a redacted placeholder, so %#v does not leak the value.
func (s Secret) GoString() string { return "mailbox.Secret(" + redacted + ")" }

// Format implements fmt.Formatter so that every verb (%v, %s, %q, %x, %#v ...)
// prints the redacted placeholder.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(s.GoString()))
		return
	}
	_, _ = f.Write([]byte(s.String()))
}

// LogValue implements slog.LogValuer: the value is redacted in structured logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText redacts the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalJSON redacts the value. Stores that must persist a secret encrypt
// Reveal's result themselves.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads a secret from a JSON string, so a host can load
// mailboxes from its own configuration. The redaction placeholder is refused,
// so a redacted document cannot silently overwrite a real secret.
func (s *Secret) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("mailbox: secret must be a JSON string")
	}
	if v == redacted {
		return fmt.Errorf("mailbox: secret holds the redaction placeholder, not a value")
	}
	s.v = v
	return nil
}

// TokenSource supplies OAuth2 access tokens for the XOAUTH2 mechanism.
//
// It is declared here so that mailbox settings can hold one without importing
// net/http; the adapter over a golang.org/x/oauth2 TokenSource lives with the
// transports (transport.OAuth2Tokens).
type TokenSource interface {
	// Token returns a valid access token, refreshing it if it expired.
	Token(ctx context.Context) (Secret, error)
}

// TokenRefresher is implemented by token sources that can be told the
// current token was refused, so the next Token call fetches a fresh one.
// Transports call it once after an authentication failure and retry.
type TokenRefresher interface {
	InvalidateToken()
}
