package postgres_test

import (
	"context"
	"testing"

	"github.com/correio-dev/correio/internal/harness"
	"github.com/correio-dev/correio/internal/pgtest"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/postgres"
	"github.com/correio-dev/correio/store/storetest"
)

func TestTokensConformance(t *testing.T) {
	var opened harness.Opened[store.Tokens, *postgres.Store]
	add := func(dsn string, s *postgres.Store) store.Tokens { return opened.Add(s.Tokens(), dsn, s) }
	storetest.Run(t, storetest.Harness{Tokens: &storetest.TokensHarness{
		New: func(t *testing.T) store.Tokens {
			dsn := pgtest.Database(t)
			return add(dsn, open(t, dsn, options(t)))
		},
		// What the database holds: every grant row as stored.
		Raw: func(t *testing.T, s store.Tokens) []byte {
			_, st := opened.Get(s)
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
			dsn, st := opened.Get(s)
			st.Close()
			return add(dsn, open(t, dsn, options(t)))
		},
	}})
}
