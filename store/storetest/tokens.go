package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
)

// TokensHarness describes a store.Tokens to the suite.
type TokensHarness struct {
	// New returns an empty grant store.
	New func(t *testing.T) store.Tokens
	// Raw, when set, returns the bytes the store persisted (database and
	// journal files) so the suite checks that no token is kept in clear.
	Raw func(t *testing.T, s store.Tokens) []byte
	// Reopen, when set, closes s and opens the same database again, so
	// the suite checks that a grant survives a restart.
	Reopen func(t *testing.T, s store.Tokens) store.Tokens
}

// RunTokens runs the store.Tokens suite.
func RunTokens(t *testing.T, h TokensHarness) {
	ctx := context.Background()
	at := time.Date(2026, 12, 2, 3, 4, 5, 6_000_000, time.UTC)
	grant := func(n int) store.Token {
		return store.Token{
			Provider: "microsoft", Account: fmt.Sprintf("user%d@example.com", n),
			Scopes:       []string{"offline_access", "https://outlook.office.com/IMAP.AccessAsUser.All"},
			RefreshToken: mailbox.NewSecret(fmt.Sprintf("rt-secret-%d-%s", n, "Zq8w")),
			AccessToken:  mailbox.NewSecret(fmt.Sprintf("at-secret-%d-%s", n, "Pv3x")),
			Expiry:       at.Add(time.Duration(n) * time.Hour), Updated: at,
		}
	}
	same := func(t *testing.T, got, want store.Token) {
		t.Helper()
		if got.Provider != want.Provider || got.Account != want.Account || !slices.Equal(got.Scopes, want.Scopes) ||
			got.RefreshToken.Reveal() != want.RefreshToken.Reveal() || got.AccessToken.Reveal() != want.AccessToken.Reveal() ||
			!got.Expiry.Equal(want.Expiry) || !got.Updated.Equal(want.Updated) {
			t.Fatalf("grant read back differs:\n got  %+v (rt %q at %q)\n want %+v (rt %q at %q)", got, got.RefreshToken.Reveal(), got.AccessToken.Reveal(),
				want, want.RefreshToken.Reveal(), want.AccessToken.Reveal())
		}
	}

	t.Run("UnknownIsNotFound", func(t *testing.T) {
		s := h.New(t)
		if _, err := s.GetToken(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetToken of an unknown mailbox: %v, want store.ErrNotFound", err)
		}
		if err := s.DeleteToken(ctx, "nobody"); err != nil {
			t.Fatalf("DeleteToken of an unknown mailbox: %v", err)
		}
	})
	t.Run("PutGetReplaceDelete", func(t *testing.T) {
		s := h.New(t)
		g1, g2 := grant(1), grant(2)
		if err := s.PutToken(ctx, "a", g1); err != nil {
			t.Fatal(err)
		}
		if err := s.PutToken(ctx, "b", g2); err != nil {
			t.Fatal(err)
		}
		g1.Scopes[0] = "changed-after-put" // the store must have copied
		g1 = grant(1)
		got, err := s.GetToken(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		same(t, got, g1)
		got.Scopes[0] = "changed-after-get"
		if again, _ := s.GetToken(ctx, "a"); again.Scopes[0] != g1.Scopes[0] {
			t.Fatal("GetToken returned the store's own slice")
		}
		// Rotation: the new grant replaces the old one whole.
		rot := grant(3)
		rot.AccessToken, rot.Expiry = mailbox.Secret{}, time.Time{}
		if err := s.PutToken(ctx, "a", rot); err != nil {
			t.Fatal(err)
		}
		got, err = s.GetToken(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		same(t, got, rot)
		if !got.AccessToken.IsZero() || !got.Expiry.IsZero() {
			t.Fatal("a replaced grant kept the old access token")
		}
		if got, _ := s.GetToken(ctx, "b"); got.RefreshToken.Reveal() != g2.RefreshToken.Reveal() {
			t.Fatal("writing mailbox a changed mailbox b")
		}
		if err := s.DeleteToken(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetToken(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetToken after DeleteToken: %v, want store.ErrNotFound", err)
		}
		if _, err := s.GetToken(ctx, "b"); err != nil {
			t.Fatalf("deleting a removed b: %v", err)
		}
	})
	t.Run("ConcurrentRotationsStayWhole", func(t *testing.T) {
		// 8 writers rotate the same grant; every read sees a refresh and
		// access token written together, never a mix of two writes.
		s := h.New(t)
		if err := s.PutToken(ctx, "m", grant(0)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errc := make(chan error, 64)
		for w := range 8 {
			wg.Go(func() {
				for i := range 5 {
					n := 100*(w+1) + i
					if err := s.PutToken(ctx, "m", grant(n)); err != nil {
						errc <- err
						return
					}
					g, err := s.GetToken(ctx, "m")
					if err != nil {
						errc <- err
						return
					}
					var a, b int
					if _, err := fmt.Sscanf(g.RefreshToken.Reveal(), "rt-secret-%d-", &a); err != nil {
						errc <- err
						return
					}
					if _, err := fmt.Sscanf(g.AccessToken.Reveal(), "at-secret-%d-", &b); err != nil {
						errc <- err
						return
					}
					if a != b || g.Account != fmt.Sprintf("user%d@example.com", a) {
						errc <- fmt.Errorf("torn grant: refresh of write %d, access of write %d, account %q", a, b, g.Account)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
	})
	if h.Raw != nil {
		t.Run("SealedAtRest", func(t *testing.T) {
			s := h.New(t)
			g := grant(7)
			if err := s.PutToken(ctx, "sealed", g); err != nil {
				t.Fatal(err)
			}
			raw := h.Raw(t, s)
			if !bytes.Contains(raw, []byte(g.Account)) {
				t.Fatal("Raw does not hold the stored grant; the check would prove nothing")
			}
			for _, sec := range []string{g.RefreshToken.Reveal(), g.AccessToken.Reveal()} {
				if bytes.Contains(raw, []byte(sec)) {
					t.Fatalf("a token is stored in clear")
				}
			}
		})
	}
	if h.Reopen != nil {
		t.Run("SurvivesReopen", func(t *testing.T) {
			s := h.New(t)
			g := grant(9)
			if err := s.PutToken(ctx, "durable", g); err != nil {
				t.Fatal(err)
			}
			s = h.Reopen(t, s)
			got, err := s.GetToken(ctx, "durable")
			if err != nil {
				t.Fatal(err)
			}
			same(t, got, g)
		})
	}
}
