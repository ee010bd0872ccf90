package secrets_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/correio-dev/correio/store/secrets"
)

// A Keyring never prints its keys (nor the AES key schedule, whose first
// words are the key), whatever the verb.
func TestKeyringNeverPrintsItsKeys(t *testing.T) {
	key := []byte("0123456789abcdef0123456789ABCDEF")
	k, err := secrets.NewKeyring("k1", map[string][]byte{"k1": key, "k0": bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%x", "%q", "%d"} {
		out = append(out, fmt.Sprintf(verb, k), fmt.Sprintf(verb, struct{ K *secrets.Keyring }{k}))
	}
	j, _ := json.Marshal(map[string]any{"k": k})
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "keys", k)
	out = append(out, string(j), b.String())
	// The key schedule prints as words of the key, in either byte order.
	be, le := fmt.Sprint(binary.BigEndian.Uint32(key[:4])), fmt.Sprint(binary.LittleEndian.Uint32(key[:4]))
	for _, s := range out {
		for _, leak := range []string{string(key), fmt.Sprintf("%x", key), be, le, "gcm"} {
			if strings.Contains(s, leak) {
				t.Fatalf("keyring prints %q: %s", leak, s)
			}
		}
	}
	if out[0] != "secrets.Keyring(current=k1 keys=k0,k1)" {
		t.Fatalf("String = %q", out[0])
	}
}
