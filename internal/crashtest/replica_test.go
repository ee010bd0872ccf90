package crashtest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/postgres"
	"github.com/correio-dev/correio/transport/imap"
	"github.com/correio-dev/correio/transport/smtp"
)

// Environment of a replica child (with envDB as the Postgres DSN).
const (
	envOwner     = "CORREIO_REPLICA_OWNER"
	envIMAPPort  = "CORREIO_REPLICA_IMAP"
	envSMTPPort  = "CORREIO_REPLICA_SMTP"
	envMailboxes = "CORREIO_REPLICA_MAILBOXES"
)

// replicaTTL is the mailbox lease TTL of the replicas; they run a lease
// round every TTL/4.
const replicaTTL = 2 * time.Second

func replicaMailbox(i, port int) *mailbox.Mailbox {
	m := inboundMailbox(port, "")
	m.ID = mailbox.ID(fmt.Sprintf("in%03d", i))
	m.Inbound.Credentials.Username = fmt.Sprintf("u%03d", i)
	return m
}

// runReplica is one replica of a host: a poller over the mailboxes its
// leases give it (fenced, hand-off in the host's transaction) and a sender
// sharing the outbox with the other replicas. It runs until killed.
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
	n, _ := strconv.Atoi(os.Getenv(envMailboxes))
	leases := st.Leases()
	h := inbound.HandlerFunc(postgres.HandleInTxLeased(st, owner, func(ctx context.Context, tx pgx.Tx, d *inbound.Delivery) error {
		_, err := tx.Exec(ctx, "INSERT INTO crash_handled (key, message_id) VALUES ($1, $2)", d.Key, d.Message.MessageID)
		if err == nil {
			_, err = tx.Exec(ctx, "INSERT INTO crash_owner (message_id, owner) VALUES ($1, $2)", d.Message.MessageID, owner)
		}
		return err
	}))
	// Every replica has the whole catalog; its leases say which inbound
	// mailboxes it runs (the Assignment), applied by Reload after each
	// lease round.
	cat := memory.NewCatalog()
	if err := cat.PutMailbox(ctx, outboundMailbox(smtpPort)); err != nil {
		return err
	}
	all := make([]mailbox.ID, n)
	for i := range all {
		m := replicaMailbox(i, imapPort)
		all[i] = m.ID
		if err := cat.PutMailbox(ctx, m); err != nil {
			return err
		}
	}
	var heldMu sync.Mutex
	polled := map[mailbox.ID]bool{}
	assign := engine.AssignmentFunc(func(id mailbox.ID) bool { heldMu.Lock(); defer heldMu.Unlock(); return polled[id] })
	p, err := inbound.New(inbound.Options{Store: st.Inbound(), Catalog: cat, Assignment: assign, Handler: h, Leaser: leases.Leaser(owner),
		IMAP: &imap.Config{Timeout: 10 * time.Second}, MaxConnectionsPerHost: 1000})
	if err != nil {
		return err
	}
	go func() { _ = p.Run(ctx) }()

	tr := smtp.New(smtp.Options{CommandTimeout: 10 * time.Second})
	defer tr.Close()
	s, err := outbound.New(outbound.Options{Outbox: st.Outbox(), Catalog: cat, Transport: tr, Lease: lease, BatchSize: 10})
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	go func() { _ = st.ListenOutbox(ctx, func(mailbox.ID) { s.Wake() }) }()

	fmt.Println("ready")
	for {
		held, err := leases.ClaimFairShare(ctx, owner, all, replicaTTL)
		if err != nil {
			fmt.Fprintln(os.Stderr, "lease round:", err)
		} else {
			now := map[mailbox.ID]bool{}
			for _, l := range held {
				now[l.Mailbox] = true
			}
			heldMu.Lock()
			polled = now
			heldMu.Unlock()
			p.Reload()
		}
		time.Sleep(replicaTTL / 4)
	}
}
