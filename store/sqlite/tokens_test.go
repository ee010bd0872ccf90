package sqlite_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/correio-dev/correio/internal/harness"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/secrets"
	"github.com/correio-dev/correio/store/sqlite"
	"github.com/correio-dev/correio/store/storetest"
)

func TestTokensConformance(t *testing.T) {
	var opened harness.Opened[store.Tokens, *sqlite.Store]
	add := func(p string, s *sqlite.Store) store.Tokens { return opened.Add(s.Tokens(), p, s) }
	storetest.Run(t, storetest.Harness{Tokens: &storetest.TokensHarness{
		New: func(t *testing.T) store.Tokens {
			p := filepath.Join(t.TempDir(), "correio.db")
			return add(p, open(t, p))
		},
		Raw: func(t *testing.T, s store.Tokens) []byte {
			p, _ := opened.Get(s)
			return readDB(t, p)
		},
		Reopen: func(t *testing.T, s store.Tokens) store.Tokens {
			p, st := opened.Get(s)
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			return add(p, open(t, p))
		},
	}})
}

func TestTokensResealAfterKeyRotation(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "correio.db")
	old, _ := secrets.NewKeyring("k1", map[string][]byte{"k1": bytes.Repeat([]byte{1}, 32)})
	s, err := sqlite.Open(ctx, p, sqlite.Options{Secrets: old, CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	g := store.Token{Provider: "google", RefreshToken: mailbox.NewSecret("rt-1"), AccessToken: mailbox.NewSecret("at-1")}
	if err := s.Tokens().PutToken(ctx, "m", g); err != nil {
		t.Fatal(err)
	}
	s.Close()
	both, _ := secrets.NewKeyring("k2", map[string][]byte{"k1": bytes.Repeat([]byte{1}, 32), "k2": bytes.Repeat([]byte{2}, 32)})
	s, err = sqlite.Open(ctx, p, sqlite.Options{Secrets: both, CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Tokens().Reseal(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Reseal: %d, %v; want both tokens rewritten", n, err)
	}
	if n, _ := s.Tokens().Reseal(ctx); n != 0 {
		t.Fatalf("a second Reseal rewrote %d", n)
	}
	s.Close()
	onlyNew, _ := secrets.NewKeyring("k2", map[string][]byte{"k2": bytes.Repeat([]byte{2}, 32)})
	s = open2(t, p, onlyNew)
	got, err := s.Tokens().GetToken(ctx, "m")
	if err != nil || got.RefreshToken.Reveal() != "rt-1" || got.AccessToken.Reveal() != "at-1" {
		t.Fatalf("after dropping the old key: %v", err)
	}
}

func open2(t *testing.T, p string, k *secrets.Keyring) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), p, sqlite.Options{Secrets: k, CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
