package replica_test

import (
	"context"
	"log"
	"os/signal"
	"syscall"

	"github.com/jackc/pgx/v5"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/replica"
	"github.com/correio-dev/correio/store/postgres"
)

// One replica of a host; run the same program on every replica. The
// replica spreads the catalog's mailboxes over the live replicas and hands
// each its share; the host writes no lease code. (Not run: it needs a
// PostgreSQL server.)
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	st, err := postgres.Open(ctx, "postgres://app@db/app", postgres.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	cat := st.Catalog() // every replica reads the same catalog

	r, err := replica.New(replica.Options{Backend: st.Leases(), Catalog: cat}) // ID: host name, PID, random
	if err != nil {
		log.Fatal(err)
	}
	// The hand-off commits with the host's own writes, fenced by the
	// mailbox's lease: a replica that lost the mailbox cannot commit.
	handler := inbound.HandlerFunc(postgres.HandleInTxLeased(st, r.ID(), func(ctx context.Context, tx pgx.Tx, d *inbound.Delivery) error {
		_, err := tx.Exec(ctx, "INSERT INTO tickets_mail (key, subject) VALUES ($1, $2)", d.Key, d.Message.Subject)
		return err
	}))
	p, err := inbound.New(inbound.Options{Store: st.Inbound(), Catalog: cat, Handler: handler,
		Assignment: r, Leaser: r})
	if err != nil {
		log.Fatal(err)
	}
	s, err := outbound.New(outbound.Options{Outbox: st.Outbox(), Catalog: cat, Assignment: r})
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = st.ListenOutbox(ctx, func(mailbox.ID) { s.Wake() }) }()

	// Until SIGTERM; then the replica stops its mailboxes, releases them
	// to the others at once and stops the engines.
	if err := r.Run(ctx, p, s); err != nil {
		log.Print(err)
	}
}
