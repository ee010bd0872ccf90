package postgres_test

import (
	"context"
	"sync"
	"testing"

	"github.com/correio-dev/correio/internal/pgtest"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/postgres"
	"github.com/correio-dev/correio/store/storetest"
)

func TestTokensConformance(t *testing.T) {
	var mu sync.Mutex
	dsns := map[store.Tokens]string{}
	stores := map[store.Tokens]*postgres.Store{}
	add := func(dsn string, s *postgres.Store) store.Tokens {
		mu.Lock()
		defer mu.Unlock()
		dsns[s.Tokens()], stores[s.Tokens()] = dsn, s
		return s.Tokens()
	}
	storetest.Run(t, storetest.Harness{Tokens: &storetest.TokensHarness{
		New: func(t *testing.T) store.Tokens {
			dsn := pgtest.Database(t)
			return add(dsn, open(t, dsn, options(t)))
		},
		// What the database holds: every grant row as stored.
		Raw: func(t *testing.T, s store.Tokens) []byte {
			mu.Lock()
			st := stores[s]
			mu.Unlock()
			rows, err := st.Pool().Query(context.Background(), "SELECT account, coalesce(refresh, ''::bytea), coalesce(access, ''::bytea) FROM correio_oauth2_tokens")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var all []byte
			for rows.Next() {
				var acct string
				var rt, at []byte
				if err := rows.Scan(&acct, &rt, &at); err != nil {
					t.Fatal(err)
				}
				all = append(append(append(all, acct...), rt...), at...)
			}
			return all
		},
		Reopen: func(t *testing.T, s store.Tokens) store.Tokens {
			mu.Lock()
			dsn, st := dsns[s], stores[s]
			mu.Unlock()
			st.Close()
			return add(dsn, open(t, dsn, options(t)))
		},
	}})
}
