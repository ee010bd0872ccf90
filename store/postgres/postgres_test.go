package postgres_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/internal/harness"
	"github.com/correio-dev/correio/internal/pgtest"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/postgres"
	"github.com/correio-dev/correio/store/secrets"
	"github.com/correio-dev/correio/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func keyring(t testing.TB) *secrets.Keyring {
	k, err := secrets.NewKeyring("k1", map[string][]byte{"k1": bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type tokens struct{ refresh mailbox.Secret }

func (tokens) Token(context.Context) (mailbox.Secret, error) { return mailbox.NewSecret("access"), nil }

func options(t testing.TB) postgres.Options {
	return postgres.Options{
		Secrets:      keyring(t),
		TokenSources: func(_ *mailbox.Mailbox, rt mailbox.Secret) mailbox.TokenSource { return tokens{rt} },
	}
}

func open(t testing.TB, dsn string, opts postgres.Options) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestConformance(t *testing.T) {
	var opened harness.Opened[store.Catalog, *postgres.Store]
	storetest.Run(t, storetest.Harness{Catalog: &storetest.CatalogHarness{
		New: func(t *testing.T) store.Catalog {
			dsn := pgtest.Database(t)
			s := open(t, dsn, options(t))
			return opened.Add(s.Catalog(), dsn, s)
		},
		OAuth2: true,
		Raw: func(t *testing.T, c store.Catalog) []byte {
			_, s := opened.Get(c)
			rows, err := s.Pool().Query(context.Background(), "SELECT t::text, COALESCE(secret, ''), COALESCE(oauth2_refresh, '') FROM correio_mailboxes t")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var all []byte
			for rows.Next() {
				var text string
				var secret, refresh []byte
				if err := rows.Scan(&text, &secret, &refresh); err != nil {
					t.Fatal(err)
				}
				all = append(append(append(all, text...), secret...), refresh...)
			}
			return all
		},
		Reopen: func(t *testing.T, c store.Catalog) store.Catalog {
			dsn, s := opened.Get(c)
			s.Close()
			s = open(t, dsn, options(t))
			return opened.Add(s.Catalog(), dsn, s)
		},
	}})
}

func TestMigrateConcurrentReplicas(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := postgres.Open(ctx, dsn, postgres.Options{CheckInterval: -1})
			if err == nil {
				err = s.Migrate(ctx)
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s := open(t, dsn, postgres.Options{CheckInterval: -1})
	ms, _ := postgres.Migrations()
	v, err := s.SchemaVersion(ctx)
	if err != nil || v != ms[len(ms)-1].Version {
		t.Fatalf("schema version %d, %v; want %d", v, err, ms[len(ms)-1].Version)
	}
	var n int
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM correio_schema_migrations").Scan(&n); err != nil || n != len(ms) {
		t.Fatalf("%d migration records, %v; want %d", n, err, len(ms))
	}
}

// TestChangesReachOtherReplicas: a write through one Store reaches the
// cached snapshot of another through LISTEN/NOTIFY.
func TestChangesReachOtherReplicas(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	a := open(t, dsn, options(t))
	b := open(t, dsn, options(t))
	if err := a.Catalog().PutMailbox(ctx, storetest.Outbound("out")); err != nil {
		t.Fatal(err)
	}
	want := a.Catalog().Version()
	waitVersion(t, b, want)
	if _, ok := b.Catalog().Mailbox("out"); !ok {
		t.Fatal("replica b does not see the mailbox written through a")
	}
	// A writer outside correio (a migration script, psql) is caught by the
	// notification too, as long as it bumps the version.
	if _, err := a.Pool().Exec(ctx, "UPDATE correio_mailboxes SET description = 'renamed' WHERE id = 'out'"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Pool().Exec(ctx, "UPDATE correio_catalog_version SET version = version + 1; SELECT pg_notify('correio_catalog', '')"); err != nil {
		t.Fatal(err)
	}
	waitVersion(t, b, want+1)
	if m, _ := b.Catalog().Mailbox("out"); m.Description != "renamed" {
		t.Fatalf("description = %q", m.Description)
	}
}

// waitVersion waits for b's snapshot to reach v, driven by its watcher. No
// timing is asserted: the test's deadline is the bound.
func waitVersion(t *testing.T, s *postgres.Store, v uint64) {
	t.Helper()
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		for s.Catalog().Version() < v {
			runtimeGosched()
		}
	}()
	<-ch
}

func TestDatabaseEnforcesRules(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.Database(t), options(t))
	c := s.Catalog()
	for _, m := range []*mailbox.Mailbox{storetest.Inbound("in"), storetest.Outbound("out")} {
		if err := c.PutMailbox(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.PutContract(ctx, &contract.Contract{ID: "a", Name: "A", OutboundMailbox: "out", InboundMailboxes: []mailbox.ID{"in"}}); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"INSERT INTO correio_contracts (id, name, outbound_mailbox) VALUES ('b', 'B', 'in')",
		"INSERT INTO correio_contracts (id, name, outbound_mailbox) VALUES ('b', 'B', 'ghost')",
		"INSERT INTO correio_contracts (id, name) VALUES ('b', 'B'); INSERT INTO correio_contract_inbound (mailbox_id, contract_id, position) VALUES ('in', 'b', 0)",
		"INSERT INTO correio_contract_inbound (mailbox_id, contract_id, position) VALUES ('out', 'a', 1)",
		"UPDATE correio_mailboxes SET kind = 'inbound' WHERE id = 'out'",
		"DELETE FROM correio_mailboxes WHERE id = 'in'",
		"INSERT INTO correio_system (singleton, mailbox_id) VALUES (1, 'in')",
		"UPDATE correio_mailboxes SET kind = 'other' WHERE id = 'in'",
	} {
		tx, err := s.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tx.Exec(ctx, stmt)
		_ = tx.Rollback(ctx)
		if err == nil {
			t.Errorf("the database accepted: %s", stmt)
		}
	}
}

// TestListenerReconnects: the notification connection is killed; the
// watcher reconnects, reloads, and later changes still arrive (the version
// check fallback is an hour away, so only the reconnect can deliver them).
func TestListenerReconnects(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	a := open(t, dsn, options(t))
	opts := options(t)
	opts.CheckInterval = time.Hour
	b := open(t, dsn, opts)
	var killed bool
	for !killed {
		// Wait for b's LISTEN, then terminate that backend.
		err := a.Pool().QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) > 0 FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`).Scan(&killed)
		if err != nil {
			t.Fatal(err)
		}
		runtimeGosched()
	}
	if err := a.Catalog().PutMailbox(ctx, storetest.Outbound("after-kill")); err != nil {
		t.Fatal(err)
	}
	waitVersion(t, b, a.Catalog().Version())
	if _, ok := b.Catalog().Mailbox("after-kill"); !ok {
		t.Fatal("b missed the change made while its listener was down")
	}
}
