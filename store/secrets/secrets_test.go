package secrets_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store/secrets"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestKeyringRotation(t *testing.T) {
	ctx := context.Background()
	at := secrets.Place{Mailbox: "m1", Field: "password"}
	old, err := secrets.NewKeyring("k1", map[string][]byte{"k1": key(1)})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := old.Seal(ctx, at, mailbox.NewSecret("hunter2"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("hunter2")) {
		t.Fatal("sealed value contains the plaintext")
	}
	rotated, err := secrets.NewKeyring("k2", map[string][]byte{"k1": key(1), "k2": key(2)})
	if err != nil {
		t.Fatal(err)
	}
	if !rotated.NeedsReseal(sealed) {
		t.Fatal("value sealed with k1 does not need a reseal under k2")
	}
	got, err := rotated.Open(ctx, at, sealed)
	if err != nil || got.Reveal() != "hunter2" {
		t.Fatalf("open after rotation = %v, %v", got, err)
	}
	// Moved to another mailbox: refused.
	if _, err := rotated.Open(ctx, secrets.Place{Mailbox: "m2", Field: "password"}, sealed); !errors.Is(err, secrets.ErrCorrupt) {
		t.Fatalf("moved value: err = %v, want ErrCorrupt", err)
	}
	onlyNew, _ := secrets.NewKeyring("k2", map[string][]byte{"k2": key(2)})
	if _, err := onlyNew.Open(ctx, at, sealed); !errors.Is(err, secrets.ErrUnknownKey) {
		t.Fatalf("dropped key: err = %v, want ErrUnknownKey", err)
	}
	if _, err := secrets.NewKeyring("k", map[string][]byte{"k": key(1)[:16]}); !errors.Is(err, secrets.ErrBadKey) {
		t.Fatalf("short key: err = %v", err)
	}
	if _, err := old.Open(ctx, at, []byte{1, 2, 'k'}); !errors.Is(err, secrets.ErrCorrupt) {
		t.Fatalf("truncated: err = %v", err)
	}
}

func ExampleReferences() {
	ctx := context.Background()
	vault := map[string]string{"vault:mail/support": "s3cret"}
	codec := secrets.References{Resolver: secrets.ResolverFunc(func(_ context.Context, ref string) (mailbox.Secret, error) {
		v, ok := vault[ref]
		if !ok {
			return mailbox.Secret{}, fmt.Errorf("no secret at %s", ref)
		}
		return mailbox.NewSecret(v), nil
	})}
	at := secrets.Place{Mailbox: "support", Field: "password"}
	stored, _ := codec.Seal(ctx, at, mailbox.NewSecret("vault:mail/support"))
	fmt.Println(string(stored))
	s, _ := codec.Open(ctx, at, stored)
	fmt.Println(s.Reveal() == "s3cret")
	// Output:
	// ref:vault:mail/support
	// true
}
