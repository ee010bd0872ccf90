// Command helpdesk is a small service-desk admin application embedding
// correio: it registers mailboxes and contracts in the SQLite (or Postgres)
// store, tests mailbox connections, runs a workflow email step and shows
// which mailbox it goes out through and why, and lists the mail sent and
// received by contract. It speaks English and Brazilian Portuguese.
//
//	go run ./examples/helpdesk              # prints the address to open
//	go run ./examples/helpdesk -addr 127.0.0.1:8080 -db ./helpdesk.db
//	go run ./examples/helpdesk -postgres postgres://app@localhost/app
//
// Passwords are stored encrypted with a key read from -key-file (created
// with a random key on first run) or from $HELPDESK_SECRET_KEY (64 hex
// digits). It imports only correio's public packages: copy it and adapt.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/postgres"
	"github.com/correio-dev/correio/store/secrets"
	"github.com/correio-dev/correio/store/sqlite"
	"github.com/correio-dev/correio/transport"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "helpdesk:", err)
		os.Exit(1)
	}
}

type config struct {
	Addr     string
	DB       string
	Postgres string
	KeyFile  string
	Verbose  bool
	// PublicOnly refuses mailbox servers on loopback or private addresses.
	PublicOnly bool
	// BaseURL is the helpdesk's public URL, the base of the OAuth2
	// redirect URIs (default http://<listen address>).
	BaseURL string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	dataDir := filepath.Join(os.TempDir(), "correio-helpdesk")
	var c config
	fs := flag.NewFlagSet("helpdesk", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:0", "address to listen on (port 0 picks a free port)")
	fs.StringVar(&c.DB, "db", filepath.Join(dataDir, "helpdesk.db"), "SQLite database file (created if missing)")
	fs.StringVar(&c.Postgres, "postgres", "", "PostgreSQL URL; when set, the Postgres store is used instead of SQLite")
	fs.StringVar(&c.KeyFile, "key-file", "", "file holding the 32-byte key that encrypts mailbox passwords, hex (default: helpdesk.key beside -db; created on first run); $HELPDESK_SECRET_KEY overrides it")
	fs.BoolVar(&c.Verbose, "v", false, "log engine events")
	fs.BoolVar(&c.PublicOnly, "public-only", false, "refuse mailbox servers on loopback, private or link-local addresses (for mailboxes end users type in)")
	fs.StringVar(&c.BaseURL, "base-url", "", "public URL of the helpdesk, the base of the OAuth2 redirect URIs to register (default http://<listen address>)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.KeyFile == "" {
		c.KeyFile = filepath.Join(filepath.Dir(c.DB), "helpdesk.key")
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	level := slog.LevelWarn
	if cfg.Verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	keys, err := loadKeyring(cfg.KeyFile)
	if err != nil {
		return err
	}
	oauth := newOAuthSetup()
	oauth.keys = keys // seals the service-account keys too
	oauth.log = log
	cat, stores, sets, closeStore, where, err := openStore(ctx, cfg, keys, log, oauth)
	if err != nil {
		return err
	}
	defer closeStore()

	dir := builtinDirectory()
	eo := engineOptions{Stores: stores}
	if eo.Paused, err = loadPaused(ctx, sets); err != nil {
		return err
	}
	if cfg.PublicOnly {
		eo.Policy = transport.PublicOnly
	}
	eng, err := startEngines(ctx, cat, dir, log, eo)
	if err != nil {
		return err
	}
	defer eng.Close()

	app, err := NewApp(cat, eng, dir, log)
	if err != nil {
		return err
	}
	app.policy = eo.Policy
	app.settings = sets

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	base := cfg.BaseURL
	if base == "" {
		base = "http://" + ln.Addr().String()
	}
	oauth.fromEnv(base)
	app.oauth = oauth
	srv := &http.Server{Handler: app, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "helpdesk: store %s\nhelpdesk: open http://%s/\n", where, ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		// Still open after the grace period: a browser's preconnected
		// sockets, which count as new until they send a request. Closed.
		err = srv.Close()
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// openStore opens the Postgres store when a URL is given, else SQLite: the
// catalog and the engines' state (outbox, suppressions, checkpoints,
// handled keys, quarantine) in one database.
// OAuth2 grants go to the same store's Tokens, sealed with the same key.
func openStore(ctx context.Context, cfg config, keys *secrets.Keyring, log *slog.Logger, oauth *oauthSetup) (store.Catalog, *engineStores, settings, func(), string, error) {
	if cfg.Postgres != "" {
		st, err := postgres.Open(ctx, cfg.Postgres, postgres.Options{Secrets: keys, Logger: log, TokenSources: oauth.tokenSources})
		if err != nil {
			return nil, nil, nil, nil, "", fmt.Errorf("postgres: %w", err)
		}
		sets, err := newPGSettings(ctx, st.Pool())
		if err != nil {
			st.Close()
			return nil, nil, nil, nil, "", err
		}
		in := st.Inbound()
		stores := &engineStores{Outbox: st.Outbox(), Inbound: in, Suppressions: st.Suppressions(), Quarantine: in}
		oauth.tokens, oauth.settings = st.Tokens(), sets
		return st.Catalog(), stores, sets, func() { st.Close() }, "postgres", nil
	}
	if err := os.MkdirAll(filepath.Dir(cfg.DB), 0o700); err != nil {
		return nil, nil, nil, nil, "", err
	}
	st, err := sqlite.Open(ctx, cfg.DB, sqlite.Options{Secrets: keys, Logger: log, TokenSources: oauth.tokenSources})
	if err != nil {
		return nil, nil, nil, nil, "", fmt.Errorf("sqlite: %w", err)
	}
	sets, err := openSQLiteSettings(ctx, cfg.DB)
	if err != nil {
		st.Close()
		return nil, nil, nil, nil, "", err
	}
	in := st.Inbound()
	stores := &engineStores{Outbox: st.Outbox(), Inbound: in, Suppressions: st.Suppressions(), Quarantine: in}
	oauth.tokens, oauth.settings = st.Tokens(), sets
	return st.Catalog(), stores, sets, func() { sets.Close(); st.Close() }, "sqlite " + cfg.DB, nil
}

// loadKeyring reads the password-encryption key from $HELPDESK_SECRET_KEY
// or the key file, creating the file with a random key (mode 0600) when it
// does not exist. Losing the key makes the stored passwords unreadable.
func loadKeyring(path string) (*secrets.Keyring, error) {
	text := strings.TrimSpace(os.Getenv("HELPDESK_SECRET_KEY"))
	if text == "" {
		b, err := os.ReadFile(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			key := make([]byte, 32)
			if _, err := rand.Read(key); err != nil {
				return nil, err
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return nil, err
			}
			text = hex.EncodeToString(key)
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return nil, err
			}
			_, werr := f.WriteString(text + "\n")
			if err := errors.Join(werr, f.Close()); err != nil {
				return nil, err
			}
		case err != nil:
			return nil, err
		default:
			text = strings.TrimSpace(string(b))
		}
	}
	key, err := hex.DecodeString(text)
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("secret key (from %s or $HELPDESK_SECRET_KEY) must be 64 hex digits", path)
	}
	return secrets.NewKeyring("k1", map[string][]byte{"k1": key})
}
