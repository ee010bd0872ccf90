package crashtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/postgres"
	"github.com/correio-dev/correio/store/sqlite"
	"github.com/correio-dev/correio/transport/imap"
	"github.com/correio-dev/correio/transport/smtp"
)

// Environment of a child process.
const (
	envChild  = "CORREIO_CRASH_CHILD" // "ingest", "send", "gmail" or "graph"
	envStore  = "CORREIO_CRASH_STORE" // "sqlite" or "postgres"
	envDB     = "CORREIO_CRASH_DB"    // SQLite path or Postgres DSN
	envHostDB = "CORREIO_CRASH_HOST"  // SQLite path of the host's record (sqlite store)
	envPort   = "CORREIO_CRASH_PORT"  // IMAP or SMTP port on 127.0.0.1
	envTarget = "CORREIO_CRASH_UID"   // final round: exit once this UID is committed
	envInTx   = "CORREIO_CRASH_INTX"  // ingest with postgres.HandleInTx
	envPost   = "CORREIO_CRASH_POST"  // ingest: the post-action, "move" (to doneFolder) or "seen"
)

// doneFolder is where the ingest rounds with post-action move move
// handled messages.
const doneFolder = "Done"

const user = "desk"

// stores opens the durable store named by the environment.
type stores struct {
	in    store.Inbound
	out   store.Outbox
	close func()
	// record durably notes a hand-off of (key, Message-ID) in the host's
	// own database, in its own transaction (the plain Handler case).
	record func(ctx context.Context, key, msgID string) error
	// inTx, Postgres only, is the hand-off inside the host's transaction
	// (postgres.HandleInTx) recording the same row.
	inTx inbound.Handler
}

func openStores(ctx context.Context, getenv func(string) string) (*stores, error) {
	switch getenv(envStore) {
	case "sqlite":
		st, err := sqlite.Open(ctx, getenv(envDB), sqlite.Options{CheckInterval: -1})
		if err != nil {
			return nil, err
		}
		host, err := openHostSQLite(getenv(envHostDB))
		if err != nil {
			return nil, err
		}
		return &stores{in: st.Inbound(), out: st.Outbox(), close: func() { st.Close(); host.Close() },
			record: func(ctx context.Context, key, msgID string) error {
				_, err := host.ExecContext(ctx, "INSERT INTO handled (key, message_id) VALUES (?, ?)", key, msgID)
				return err
			}}, nil
	case "postgres":
		st, err := postgres.Open(ctx, getenv(envDB), postgres.Options{CheckInterval: -1})
		if err != nil {
			return nil, err
		}
		pool := st.Pool()
		return &stores{in: st.Inbound(), out: st.Outbox(), close: st.Close,
			record: func(ctx context.Context, key, msgID string) error {
				_, err := pool.Exec(ctx, "INSERT INTO crash_handled (key, message_id) VALUES ($1, $2)", key, msgID)
				return err
			},
			inTx: inbound.HandlerFunc(postgres.HandleInTx(st, func(ctx context.Context, tx pgx.Tx, d *inbound.Delivery) error {
				_, err := tx.Exec(ctx, "INSERT INTO crash_handled (key, message_id) VALUES ($1, $2)", d.Key, d.Message.MessageID)
				return err
			}))}, nil
	}
	return nil, fmt.Errorf("unknown store %q", getenv(envStore))
}

// openHostSQLite opens the host's record file, fsynced on every commit.
func openHostSQLite(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	_, err = db.Exec("CREATE TABLE IF NOT EXISTS handled (key TEXT NOT NULL, message_id TEXT NOT NULL)")
	return db, err
}

func createHostPostgres(ctx context.Context, dsn string) error {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	_, err = pool.Exec(ctx, "CREATE TABLE IF NOT EXISTS crash_handled (key text NOT NULL, message_id text NOT NULL)")
	return err
}

func inboundMailbox(port int, post string) *mailbox.Mailbox {
	m := &mailbox.Mailbox{ID: "in", Description: "crash", Kind: mailbox.Inbound, Enabled: true,
		Inbound: &mailbox.InboundSettings{
			Server:      mailbox.Server{Host: "127.0.0.1", Port: port, Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			Credentials: mailbox.Credentials{Username: user, Password: mailbox.NewSecret("pw")},
			PostAction:  mailbox.PostKeep,
		}}
	switch post {
	case "move":
		m.Inbound.PostAction, m.Inbound.MoveTo = mailbox.PostMove, doneFolder
	case "seen":
		m.Inbound.PostAction = mailbox.PostSeen
	}
	return m
}

func outboundMailbox(port int) *mailbox.Mailbox {
	return &mailbox.Mailbox{ID: "out", Description: "crash", Kind: mailbox.Outbound, Enabled: true,
		Outbound: &mailbox.OutboundSettings{
			Server:         mailbox.Server{Host: "127.0.0.1", Port: port, Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			From:           mailbox.Identity{Address: "desk@crash.example"},
			Credentials:    mailbox.Credentials{Mechanism: mailbox.AuthNone},
			MaxConnections: connections,
		}}
}

// connections is the sending mailbox's connection cap: a kill can resend
// at most one message per connection.
const connections = 2

// lease is the outbox claim lease of the sender children.
const lease = 2 * time.Second

// childMain runs a child and exits: 0 once the final round's work is
// done; killed otherwise.
func childMain() {
	err := runChild()
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runChild() error {
	if os.Getenv(envChild) == "replica" {
		return runReplica()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := openStores(ctx, os.Getenv)
	if err != nil {
		return err
	}
	defer st.close()
	port, _ := strconv.Atoi(os.Getenv(envPort))
	switch os.Getenv(envChild) {
	case "ingest":
		return ingest(ctx, st, port)
	case "send":
		return send(ctx, st, port)
	case "gmail":
		return ingestGmail(ctx, st)
	case "graph":
		return ingestGraph(ctx, st)
	}
	return errors.New("unknown child")
}

func ingest(ctx context.Context, st *stores, port int) error {
	target, _ := strconv.Atoi(os.Getenv(envTarget))
	var h inbound.Handler = inbound.HandlerFunc(func(ctx context.Context, d *inbound.Delivery) error {
		return st.record(ctx, d.Key, d.Message.MessageID)
	})
	if os.Getenv(envInTx) != "" {
		h = st.inTx
	}
	cat := memory.NewCatalog()
	if err := cat.PutMailbox(ctx, inboundMailbox(port, os.Getenv(envPost))); err != nil {
		return err
	}
	p, err := inbound.New(inbound.Options{Store: st.in, Catalog: cat, Handler: h, IMAP: &imap.Config{Timeout: 10 * time.Second}, BatchSize: childBatch})
	if err != nil {
		return err
	}
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- p.Run(pctx) }()
	fmt.Println("ready")
	const settle = 10 * time.Second
	var committed time.Time // when the checkpoint reached the target
	for {
		select {
		case err := <-done:
			return fmt.Errorf("poller stopped: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
		if target == 0 {
			continue // a kill round: run until killed
		}
		cp, _, err := st.in.Checkpoint(ctx, "in", "INBOX")
		if err != nil {
			return err
		}
		if int(cp.LastUID) < target {
			continue
		}
		// Every message is committed; done once no post-action is owed
		// (the receipts of this run's last batch, and any a kill left), or
		// after settle: the parent counts what was not applied.
		if committed.IsZero() {
			committed = time.Now()
		}
		rs, err := st.in.Receipts(ctx, "in", "INBOX")
		if err != nil {
			return err
		}
		if len(rs) == 0 || time.Since(committed) > settle {
			stop()
			return <-done
		}
	}
}

func send(ctx context.Context, st *stores, port int) error {
	final := os.Getenv(envTarget) != ""
	cat := memory.NewCatalog()
	if err := cat.PutMailbox(ctx, outboundMailbox(port)); err != nil {
		return err
	}
	tr := smtp.New(smtp.Options{CommandTimeout: 10 * time.Second})
	defer tr.Close()
	s, err := outbound.New(outbound.Options{Outbox: st.out, Catalog: cat, Transport: tr, Clock: clock.Real{}, Lease: lease, BatchSize: 10})
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	fmt.Println("ready")
	for {
		time.Sleep(5 * time.Millisecond)
		if !final {
			continue
		}
		qs, err := st.out.Stats(ctx, "out")
		if err != nil {
			return err
		}
		if qs.Depth == 0 {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			return s.Stop(sctx)
		}
	}
}

// childBatch is the ingest child's fetch batch, and so the bound of the
// in-flight window per kill (one group commit of hand-offs).
const childBatch = 25
