// Package secrets protects the mailbox credentials the SQL stores persist.
//
// A store never writes a secret in clear: it hands it to a Codec, which
// either encrypts it with a key the host provides (Keyring: AES-256-GCM, a
// key ID in every sealed value so keys can be rotated) or keeps a reference
// the host resolves when the catalog is read (References, for hosts whose
// secrets live in Vault, a KMS or their own vault table).
//
// Every sealed value is bound to its place (mailbox and field) as GCM
// additional data, so a sealed password copied to another row does not open.
package secrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/correio-dev/correio/mailbox"
)

// Errors of the codecs.
var (
	// ErrNoCodec: a store was asked to persist a secret but no Codec was
	// configured. Secrets are never stored in clear by default.
	ErrNoCodec = errors.New("secrets: no codec configured; refusing to store a secret in clear")
	// ErrUnknownKey: a sealed value names a key the keyring does not hold.
	ErrUnknownKey = errors.New("secrets: unknown key")
	// ErrCorrupt: a sealed value is malformed or fails authentication.
	ErrCorrupt = errors.New("secrets: sealed value corrupt or moved")
	// ErrBadKey: a key is not 32 bytes or its ID is unusable.
	ErrBadKey = errors.New("secrets: bad key")
)

// Place says where a secret is stored; codecs bind the sealed value to it.
type Place struct {
	Mailbox mailbox.ID
	// Field is "password" or "oauth2_refresh_token".
	Field string
}

func (p Place) aad() []byte { return []byte("correio/v1\x00" + string(p.Mailbox) + "\x00" + p.Field) }

// Codec turns a secret into the bytes a store keeps, and back.
type Codec interface {
	Seal(ctx context.Context, at Place, s mailbox.Secret) ([]byte, error)
	Open(ctx context.Context, at Place, sealed []byte) (mailbox.Secret, error)
}

// Keyring seals secrets with AES-256-GCM. It holds several keys by ID;
// Seal uses the current one and Open the one named in the sealed value, so
// a host rotates keys by adding a new current key and keeping the old ones
// until the stores re-sealed their rows.
//
// Sealed layout: 0x01, len(keyID), keyID, 12-byte nonce, ciphertext+tag.
type Keyring struct {
	current string
	aeads   map[string]cipher.AEAD
}

// NewKeyring returns a keyring sealing with keys[current]. Every key is 32
// bytes (AES-256); IDs are 1-255 bytes.
func NewKeyring(current string, keys map[string][]byte) (*Keyring, error) {
	k := &Keyring{current: current, aeads: make(map[string]cipher.AEAD, len(keys))}
	for id, key := range keys {
		if id == "" || len(id) > 255 {
			return nil, fmt.Errorf("%w: key ID must be 1-255 bytes", ErrBadKey)
		}
		if len(key) != 32 {
			return nil, fmt.Errorf("%w: key %q is %d bytes, want 32", ErrBadKey, id, len(key))
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
		}
		k.aeads[id] = aead
	}
	if _, ok := k.aeads[current]; !ok {
		return nil, fmt.Errorf("%w: current key %q not in the keyring", ErrBadKey, current)
	}
	return k, nil
}

// Current returns the ID of the key Seal uses.
func (k *Keyring) Current() string { return k.current }

// Seal implements Codec.
func (k *Keyring) Seal(_ context.Context, at Place, s mailbox.Secret) ([]byte, error) {
	aead := k.aeads[k.current]
	out := make([]byte, 0, 2+len(k.current)+aead.NonceSize()+len(s.Reveal())+aead.Overhead())
	out = append(out, 1, byte(len(k.current)))
	out = append(out, k.current...)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	return aead.Seal(out, nonce, []byte(s.Reveal()), at.aad()), nil
}

// Open implements Codec.
func (k *Keyring) Open(_ context.Context, at Place, sealed []byte) (mailbox.Secret, error) {
	id, ok := KeyID(sealed)
	if !ok {
		return mailbox.Secret{}, ErrCorrupt
	}
	aead, ok := k.aeads[id]
	if !ok {
		return mailbox.Secret{}, fmt.Errorf("%w %q", ErrUnknownKey, id)
	}
	rest := sealed[2+len(id):]
	if len(rest) < aead.NonceSize()+aead.Overhead() {
		return mailbox.Secret{}, ErrCorrupt
	}
	plain, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], at.aad())
	if err != nil {
		return mailbox.Secret{}, ErrCorrupt
	}
	return mailbox.NewSecret(string(plain)), nil
}

// KeyID returns the key ID a Keyring-sealed value names.
func KeyID(sealed []byte) (string, bool) {
	if len(sealed) < 2 || sealed[0] != 1 || len(sealed) < 2+int(sealed[1]) {
		return "", false
	}
	return string(sealed[2 : 2+int(sealed[1])]), true
}

// NeedsReseal reports whether a sealed value was made with a key other than
// the current one (a store's re-seal pass rewrites those).
func (k *Keyring) NeedsReseal(sealed []byte) bool {
	id, ok := KeyID(sealed)
	return ok && id != k.current
}

// Resolver resolves a secret reference ("vault:kv/mail/support",
// "env:SMTP_PASSWORD" — the format is the host's) to its value.
type Resolver interface {
	ResolveSecret(ctx context.Context, ref string) (mailbox.Secret, error)
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(ctx context.Context, ref string) (mailbox.Secret, error)

// ResolveSecret implements Resolver.
func (f ResolverFunc) ResolveSecret(ctx context.Context, ref string) (mailbox.Secret, error) {
	return f(ctx, ref)
}

// References keeps references instead of secrets: the host saves mailboxes
// whose Secret values hold a reference (mailbox.NewSecret("vault:...")),
// the store keeps the reference, and reading the catalog resolves it
// through Resolver. The value itself never reaches the database.
//
// Mailboxes read back from a catalog hold the resolved value, not the
// reference: to save a changed copy, set the reference again. Seal resolves
// every reference before storing it, so a resolved value (a password) saved
// by mistake is refused instead of being stored in clear, and a mistyped
// reference is reported when the mailbox is saved.
type References struct {
	Resolver Resolver
}

// ErrBadReference: Seal could not resolve what it was asked to store.
var ErrBadReference = errors.New("secrets: not a resolvable reference (a secret value saved where a reference is expected?)")

const refPrefix = "ref:"

// Seal implements Codec: it checks that the reference resolves and stores
// the reference.
func (r References) Seal(ctx context.Context, _ Place, s mailbox.Secret) ([]byte, error) {
	if strings.ContainsAny(s.Reveal(), "\r\n\x00") {
		return nil, fmt.Errorf("%w: a reference cannot hold control characters", ErrBadReference)
	}
	if r.Resolver == nil {
		return nil, errors.New("secrets: References has no Resolver")
	}
	if _, err := r.Resolver.ResolveSecret(ctx, s.Reveal()); err != nil {
		return nil, ErrBadReference // the resolver's error may quote the value
	}
	return []byte(refPrefix + s.Reveal()), nil
}

// Open implements Codec: it resolves the stored reference.
func (r References) Open(ctx context.Context, _ Place, sealed []byte) (mailbox.Secret, error) {
	ref, ok := strings.CutPrefix(string(sealed), refPrefix)
	if !ok {
		return mailbox.Secret{}, ErrCorrupt
	}
	if r.Resolver == nil {
		return mailbox.Secret{}, errors.New("secrets: References has no Resolver")
	}
	return r.Resolver.ResolveSecret(ctx, ref)
}
