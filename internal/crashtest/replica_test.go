package crashtest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/replica"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/postgres"
	"github.com/correio-dev/correio/transport/imap"
	"github.com/correio-dev/correio/transport/smtp"
)

// Environment of a replica child (with envDB as the Postgres DSN).
const (
	envOwner     = "CORREIO_REPLICA_OWNER"
	envIMAPPort  = "CORREIO_REPLICA_IMAP"
	envSMTPPort  = "CORREIO_REPLICA_SMTP" // the "out" mailbox's server
	envSlowPort  = "CORREIO_REPLICA_SLOW" // the "slow" mailbox's server
	envMailboxes = "CORREIO_REPLICA_MAILBOXES"
	envTTL       = "CORREIO_REPLICA_TTL"      // replica.Options.TTL (empty: the default)
	envPerHost   = "CORREIO_REPLICA_PER_HOST" // inbound MaxConnectionsPerHost (empty: the default)
)

// The outbound mailboxes of the replica children and their limits, which
// hold for the whole cluster.
const (
	outConns, outRate   = 2, 50 // "out": 2 connections, 50 messages/s
	slowConns, slowRate = 1, 5  // "slow": 1 connection, 5 messages/s
)

// replicaPoll is the inbound mailboxes' PollInterval (a mailbox setting):
// how often a mailbox rotating beyond the per-host cap is checked.
const replicaPoll = 2 * time.Second

func replicaMailbox(i, port int) *mailbox.Mailbox {
	m := inboundMailbox(port, "")
	m.ID = mailbox.ID(fmt.Sprintf("in%03d", i))
	m.Inbound.Credentials.Username = fmt.Sprintf("u%03d", i)
	m.Inbound.PollInterval = replicaPoll
	return m
}

func replicaOutbound(id string, port, conns, perSecond int) *mailbox.Mailbox {
	m := outboundMailbox(port)
	m.ID = mailbox.ID(id)
	m.Outbound.From.Address = id + "@crash.example"
	m.Outbound.MaxConnections = conns
	m.Outbound.RateLimit = mailbox.Rate{N: perSecond, Per: time.Second}
	return m
}

// replicaCatalog is the catalog every replica (and the parent's enqueuer)
// has: n inbound mailboxes and the two outbound ones.
func replicaCatalog(ctx context.Context, n, imapPort, smtpPort, slowPort int) (*memory.Catalog, error) {
	cat := memory.NewCatalog()
	for _, m := range []*mailbox.Mailbox{replicaOutbound("out", smtpPort, outConns, outRate), replicaOutbound("slow", slowPort, slowConns, slowRate)} {
		if err := cat.PutMailbox(ctx, m); err != nil {
			return nil, err
		}
	}
	for i := range n {
		if err := cat.PutMailbox(ctx, replicaMailbox(i, imapPort)); err != nil {
			return nil, err
		}
	}
	return cat, nil
}

// runReplica is one replica of a host as a host writes it: a Poller (hand-off
// in the host's transaction, fenced by the lease) and a Sender, both run by
// a replica.Replica; no lease code. It runs until killed.
func runReplica() error {
	ctx := context.Background()
	st, err := postgres.Open(ctx, os.Getenv(envDB), postgres.Options{CheckInterval: -1})
	if err != nil {
		return err
	}
	defer st.Close()
	owner := os.Getenv(envOwner)
	imapPort, _ := strconv.Atoi(os.Getenv(envIMAPPort))
	smtpPort, _ := strconv.Atoi(os.Getenv(envSMTPPort))
	slowPort, _ := strconv.Atoi(os.Getenv(envSlowPort))
	n, _ := strconv.Atoi(os.Getenv(envMailboxes))
	ttl, _ := time.ParseDuration(os.Getenv(envTTL))
	perHost, _ := strconv.Atoi(os.Getenv(envPerHost))
	cat, err := replicaCatalog(ctx, n, imapPort, smtpPort, slowPort)
	if err != nil {
		return err
	}
	r, err := replica.New(replica.Options{ID: owner, Backend: st.Leases(), Catalog: cat, TTL: ttl})
	if err != nil {
		return err
	}
	h := inbound.HandlerFunc(postgres.HandleInTxLeased(st, r.ID(), func(ctx context.Context, tx pgx.Tx, d *inbound.Delivery) error {
		_, err := tx.Exec(ctx, "INSERT INTO crash_handled (key, message_id) VALUES ($1, $2)", d.Key, d.Message.MessageID)
		if err == nil {
			_, err = tx.Exec(ctx, "INSERT INTO crash_owner (message_id, owner) VALUES ($1, $2)", d.Message.MessageID, r.ID())
		}
		return err
	}))
	p, err := inbound.New(inbound.Options{Store: st.Inbound(), Catalog: cat, Handler: h, Assignment: r, Leaser: r,
		IMAP: &imap.Config{Timeout: 10 * time.Second}, MaxConnectionsPerHost: perHost})
	if err != nil {
		return err
	}
	tr := smtp.New(smtp.Options{CommandTimeout: 10 * time.Second})
	defer tr.Close()
	s, err := outbound.New(outbound.Options{Outbox: st.Outbox(), Catalog: cat, Transport: tr, Assignment: r, BatchSize: 10})
	if err != nil {
		return err
	}
	go func() { _ = st.ListenOutbox(ctx, func(mailbox.ID) { s.Wake() }) }()
	fmt.Println("ready")
	return r.Run(ctx, p, s)
}
