package sqlite_test

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/sqlite"
	"github.com/correio-dev/correio/store/storetest"
)

func TestTokensConformance(t *testing.T) {
	var mu sync.Mutex
	paths := map[store.Tokens]string{}
	stores := map[store.Tokens]*sqlite.Store{}
	add := func(p string, s *sqlite.Store) store.Tokens {
		mu.Lock()
		defer mu.Unlock()
		paths[s.Tokens()], stores[s.Tokens()] = p, s
		return s.Tokens()
	}
	storetest.Run(t, storetest.Harness{Tokens: &storetest.TokensHarness{
		New: func(t *testing.T) store.Tokens {
			p := filepath.Join(t.TempDir(), "correio.db")
			return add(p, open(t, p))
		},
		Raw: func(t *testing.T, s store.Tokens) []byte {
			mu.Lock()
			p := paths[s]
			mu.Unlock()
			var all []byte
			for _, f := range []string{p, p + "-wal"} {
				b, err := os.ReadFile(f)
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
				all = append(all, b...)
			}
			return all
		},
		Reopen: func(t *testing.T, s store.Tokens) store.Tokens {
			mu.Lock()
			p, st := paths[s], stores[s]
			mu.Unlock()
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			return add(p, open(t, p))
		},
	}})
}
