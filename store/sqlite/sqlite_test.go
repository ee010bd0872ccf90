package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/internal/harness"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/secrets"
	"github.com/correio-dev/correio/store/sqlite"
	"github.com/correio-dev/correio/store/storetest"
)

func keyring(t testing.TB) *secrets.Keyring {
	k, err := secrets.NewKeyring("k1", map[string][]byte{"k1": bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type tokens struct{ refresh mailbox.Secret }

func (tokens) Token(context.Context) (mailbox.Secret, error) { return mailbox.NewSecret("access"), nil }

func testOptions(t testing.TB) sqlite.Options {
	return sqlite.Options{
		Secrets:       keyring(t),
		TokenSources:  func(_ *mailbox.Mailbox, rt mailbox.Secret) mailbox.TokenSource { return tokens{rt} },
		CheckInterval: -1,
	}
}

func open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// readDB returns the bytes of the database file p and its write-ahead
// log: what a reader of the disk sees.
func readDB(t *testing.T, p string) []byte {
	t.Helper()
	var all []byte
	for _, f := range []string{p, p + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func TestConformance(t *testing.T) {
	var opened harness.Opened[store.Catalog, *sqlite.Store]
	storetest.Run(t, storetest.Harness{Catalog: &storetest.CatalogHarness{
		New: func(t *testing.T) store.Catalog {
			p := filepath.Join(t.TempDir(), "correio.db")
			s := open(t, p)
			return opened.Add(s.Catalog(), p, s)
		},
		OAuth2: true,
		Raw: func(t *testing.T, c store.Catalog) []byte {
			p, _ := opened.Get(c)
			return readDB(t, p)
		},
		Reopen: func(t *testing.T, c store.Catalog) store.Catalog {
			p, s := opened.Get(c)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(t, p)
			return opened.Add(s.Catalog(), p, s)
		},
	}})
}

func TestMigrateIdempotent(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "m.db")
	// Two stores opening the same new file at once both migrate.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := sqlite.Open(ctx, p, sqlite.Options{CheckInterval: -1})
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
	s := open(t, p)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ms, _ := sqlite.Migrations()
	v, err := s.SchemaVersion(ctx)
	if err != nil || v != ms[len(ms)-1].Version {
		t.Fatalf("schema version %d, %v; want %d", v, err, ms[len(ms)-1].Version)
	}
}

func TestNoCodecRefusesSecret(t *testing.T) {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "x.db"), sqlite.Options{CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Catalog().PutMailbox(context.Background(), storetest.Outbound("out"))
	if !errors.Is(err, secrets.ErrNoCodec) {
		t.Fatalf("err = %v, want ErrNoCodec", err)
	}
	noSecret := storetest.Outbound("relay")
	noSecret.Outbound.Credentials = mailbox.Credentials{Mechanism: mailbox.AuthNone}
	if err := s.Catalog().PutMailbox(context.Background(), noSecret); err != nil {
		t.Fatalf("mailbox without secret: %v", err)
	}
}

func TestRefreshTokenSavedBackAndSealed(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "rt.db")
	s := open(t, p)
	m := storetest.Outbound("gmail")
	m.Outbound.Credentials = mailbox.Credentials{Username: "me@example.com", Mechanism: mailbox.AuthXOAUTH2, OAuth2: tokens{}}
	if err := s.Catalog().PutMailbox(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := s.Catalog().SaveRefreshToken(ctx, "gmail", mailbox.NewSecret("rotated-refresh-token-1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Catalog().SaveRefreshToken(ctx, "ghost", mailbox.NewSecret("x")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown mailbox: %v", err)
	}
	// Saving the mailbox again keeps the refresh token.
	if err := s.Catalog().PutMailbox(ctx, m); err != nil {
		t.Fatal(err)
	}
	s.Close()
	raw, _ := os.ReadFile(p)
	wal, _ := os.ReadFile(p + "-wal")
	if bytes.Contains(append(raw, wal...), []byte("rotated-refresh-token-1")) {
		t.Fatal("refresh token stored in clear")
	}
	s2 := open(t, p)
	got, err := s2.Catalog().RefreshToken(ctx, "gmail")
	if err != nil || got.Reveal() != "rotated-refresh-token-1" {
		t.Fatalf("RefreshToken = %v, %v", got, err)
	}
	mb, _ := s2.Catalog().Mailbox("gmail")
	ts, ok := mb.Outbound.Credentials.OAuth2.(tokens)
	if !ok || ts.refresh.Reveal() != "rotated-refresh-token-1" {
		t.Fatalf("TokenSources hook got %#v", mb.Outbound.Credentials.OAuth2)
	}
}

func TestWrongKeyFailsLoudly(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "k.db")
	s := open(t, p)
	if err := s.Catalog().PutMailbox(ctx, storetest.Outbound("out")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	other, _ := secrets.NewKeyring("k9", map[string][]byte{"k9": bytes.Repeat([]byte{9}, 32)})
	_, err := sqlite.Open(ctx, p, sqlite.Options{Secrets: other, CheckInterval: -1})
	if !errors.Is(err, secrets.ErrUnknownKey) {
		t.Fatalf("open with the wrong keyring: err = %v, want ErrUnknownKey", err)
	}
	if err != nil && strings.Contains(err.Error(), storetest.OutboundPassword) {
		t.Fatal("error leaks the password")
	}
}

// TestDatabaseEnforcesRules writes around the package, as a buggy or
// concurrent foreign writer would: the schema refuses what breaks the rules.
func TestDatabaseEnforcesRules(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "r.db")
	s := open(t, p)
	c := s.Catalog()
	for _, m := range []*mailbox.Mailbox{storetest.Inbound("in"), storetest.Outbound("out")} {
		if err := c.PutMailbox(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.PutContract(ctx, &contract.Contract{ID: "a", Name: "A", OutboundMailbox: "out", InboundMailboxes: []mailbox.ID{"in"}}); err != nil {
		t.Fatal(err)
	}
	db := sqlite.RawDB(s)
	for _, stmt := range []string{
		"INSERT INTO correio_contracts (id, name, outbound_mailbox) VALUES ('b', 'B', 'in')",                                                                         // outbound mailbox is inbound
		"INSERT INTO correio_contracts (id, name, outbound_mailbox) VALUES ('b', 'B', 'ghost')",                                                                      // not registered
		"INSERT INTO correio_contracts (id, name) VALUES ('b', 'B'); INSERT INTO correio_contract_inbound (mailbox_id, contract_id, position) VALUES ('in', 'b', 0)", // owned twice
		"INSERT INTO correio_contract_inbound (mailbox_id, contract_id, position) VALUES ('out', 'a', 1)",                                                            // outbound as inbound
		"UPDATE correio_mailboxes SET kind = 'inbound' WHERE id = 'out'",                                                                                             // kind change while used
		"DELETE FROM correio_mailboxes WHERE id = 'in'",                                                                                                              // removal while used
		"INSERT INTO correio_system (singleton, mailbox_id) VALUES (1, 'in')",                                                                                        // system must be outbound
		"UPDATE correio_mailboxes SET kind = 'other' WHERE id = 'in'",                                                                                                // unknown kind
	} {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tx.ExecContext(ctx, stmt)
		tx.Rollback()
		if err == nil {
			t.Errorf("the database accepted: %s", stmt)
		}
	}
}

func TestKeyRotationReseal(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "rot.db")
	s := open(t, p) // key k1
	if err := s.Catalog().PutMailbox(ctx, storetest.FullOutbound("out")); err != nil {
		t.Fatal(err)
	}
	if err := s.Catalog().SaveRefreshToken(ctx, "out", mailbox.NewSecret("refresh")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	both, _ := secrets.NewKeyring("k2", map[string][]byte{"k1": bytes.Repeat([]byte{7}, 32), "k2": bytes.Repeat([]byte{8}, 32)})
	s2, err := sqlite.Open(ctx, p, sqlite.Options{Secrets: both, CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s2.Catalog().Reseal(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Reseal = %d, %v; want 2 values rewritten", n, err)
	}
	if n, _ := s2.Catalog().Reseal(ctx); n != 0 {
		t.Fatalf("second Reseal rewrote %d", n)
	}
	s2.Close()
	onlyNew, _ := secrets.NewKeyring("k2", map[string][]byte{"k2": bytes.Repeat([]byte{8}, 32)})
	s3, err := sqlite.Open(ctx, p, sqlite.Options{Secrets: onlyNew, CheckInterval: -1})
	if err != nil {
		t.Fatalf("open with only the new key after reseal: %v", err)
	}
	defer s3.Close()
	m, _ := s3.Catalog().Mailbox("out")
	if m.Outbound.Credentials.Password.Reveal() != storetest.OutboundPassword {
		t.Fatal("password lost in the rotation")
	}
}

// TestChangesFromAnotherProcess: a second Store on the same file (as another
// process would) sees writes once its version check runs.
func TestChangesFromAnotherProcess(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "two.db")
	a := open(t, p)
	opts := testOptions(t)
	opts.CheckInterval = 5 * time.Millisecond
	b, err := sqlite.Open(ctx, p, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Catalog().PutMailbox(ctx, storetest.Outbound("out")); err != nil {
		t.Fatal(err)
	}
	for b.Catalog().Version() < a.Catalog().Version() {
		time.Sleep(time.Millisecond)
	}
	if _, ok := b.Catalog().Mailbox("out"); !ok {
		t.Fatal("b does not see a's mailbox at a's version")
	}
}

func TestReferencesCodec(t *testing.T) {
	ctx := context.Background()
	vault := map[string]string{"vault:mail/out": "the-real-password-55"}
	codec := secrets.References{Resolver: secrets.ResolverFunc(func(_ context.Context, ref string) (mailbox.Secret, error) {
		v, ok := vault[ref]
		if !ok {
			return mailbox.Secret{}, errors.New("no such path " + ref)
		}
		return mailbox.NewSecret(v), nil
	})}
	p := filepath.Join(t.TempDir(), "ref.db")
	s, err := sqlite.Open(ctx, p, sqlite.Options{Secrets: codec, CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := storetest.Outbound("out")
	m.Outbound.Credentials.Password = mailbox.NewSecret("vault:mail/out")
	if err := s.Catalog().PutMailbox(ctx, m); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Catalog().Mailbox("out")
	if got.Outbound.Credentials.Password.Reveal() != "the-real-password-55" {
		t.Fatal("reference not resolved on read")
	}
	// Saving the read-back copy would store the resolved value: refused.
	again := got.Clone()
	again.Description = "changed"
	err = s.Catalog().PutMailbox(ctx, again)
	if !errors.Is(err, secrets.ErrBadReference) || strings.Contains(err.Error(), "the-real-password-55") {
		t.Fatalf("re-saving a resolved value: err = %v, want ErrBadReference without the value", err)
	}
	if err := s.Catalog().PutMailbox(ctx, storetest.Outbound("typo")); !errors.Is(err, secrets.ErrBadReference) {
		t.Fatalf("unresolvable reference: err = %v", err)
	}
	s.Close()
	raw, _ := os.ReadFile(p)
	wal, _ := os.ReadFile(p + "-wal")
	all := append(raw, wal...)
	if bytes.Contains(all, []byte("the-real-password-55")) || !bytes.Contains(all, []byte("ref:vault:mail/out")) {
		t.Fatal("the database holds the value, or not the reference")
	}
}
