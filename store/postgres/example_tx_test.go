package postgres_test

import (
	"context"
	"log"

	"github.com/jackc/pgx/v5"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/postgres"
)

// The transactional outbox: the ticket and its notification commit
// together, or not at all. (Not run: it needs a PostgreSQL server.)
func ExampleWithTx() {
	ctx := context.Background()
	st, err := postgres.Open(ctx, "postgres://app@db/app", postgres.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	var sender *outbound.Sender // outbound.New(outbound.Options{Outbox: st.Outbox(), ...})
	go func() { _ = st.ListenOutbox(ctx, func(mailbox.ID) { sender.Wake() }) }()

	err = pgx.BeginFunc(ctx, st.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO tickets (id, title) VALUES ($1, $2)", 123, "Printer on fire"); err != nil {
			return err
		}
		_, err := sender.Enqueue(postgres.WithTx(ctx, tx), store.Message{Mailbox: "desk", Subject: "Request opened",
			Thread: "123", Text: "We are on it.", To: []store.Address{{Address: "customer@example.org"}}})
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
}

// The inbound hand-off inside the host's transaction: the ticket and the
// message's key commit together, so a crash never creates the ticket twice.
// On several replicas use HandleInTxLeased with the replica's lease owner.
// (Not run: it needs a PostgreSQL server.)
func ExampleHandleInTx() {
	ctx := context.Background()
	st, err := postgres.Open(ctx, "postgres://app@db/app", postgres.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	p, err := inbound.New(inbound.Options{
		Store: st.Inbound(),
		Handler: inbound.HandlerFunc(postgres.HandleInTx(st, func(ctx context.Context, tx pgx.Tx, d *inbound.Delivery) error {
			_, err := tx.Exec(ctx, "INSERT INTO tickets (contract, subject) VALUES ($1, $2)", string(d.Contract), d.Message.Subject)
			return err
		})),
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = p.Run(ctx)
}
