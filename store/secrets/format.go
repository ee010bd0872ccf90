package secrets

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// String names the current key and the key IDs, never a key: the AES key
// schedule a *Keyring holds would otherwise print with %s.
func (k *Keyring) String() string {
	if k == nil {
		return "secrets.Keyring(nil)"
	}
	ids := make([]string, 0, len(k.aeads))
	for id := range k.aeads {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return "secrets.Keyring(current=" + k.current + " keys=" + strings.Join(ids, ",") + ")"
}

// GoString is String.
func (k *Keyring) GoString() string { return k.String() }

// Format prints String for every verb.
func (k *Keyring) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue logs String.
func (k *Keyring) LogValue() slog.Value { return slog.StringValue(k.String()) }

// MarshalText marshals String (JSON included).
func (k *Keyring) MarshalText() ([]byte, error) { return []byte(k.String()), nil }
