package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/sqlite"
)

// The engines' durable state in one file: the Sender's outbox and
// suppression list (the Poller takes st.Inbound() the same way), records
// listed by contract, and a contract's data erased on request.
func Example_engines() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "correio-example")
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(ctx, filepath.Join(dir, "correio.db"), sqlite.Options{})
	if err != nil {
		panic(err)
	}
	defer st.Close()
	cat := st.Catalog()
	if err := cat.PutMailbox(ctx, &mailbox.Mailbox{
		ID: "desk", Kind: mailbox.Outbound, Description: "Desk", Enabled: true,
		Outbound: &mailbox.OutboundSettings{
			Server:      mailbox.Server{Host: "smtp.acme.example", Port: 587},
			Credentials: mailbox.Credentials{Mechanism: mailbox.AuthNone},
			From:        mailbox.Identity{Address: "desk@acme.example"},
		},
	}); err != nil {
		panic(err)
	}

	sender, err := outbound.New(outbound.Options{Outbox: st.Outbox(), Suppressions: st.Suppressions(), Catalog: cat})
	if err != nil {
		panic(err)
	}
	// (inbound.New(inbound.Options{Store: st.Inbound(), ...}) for the Poller.)
	_ = st.Suppressions().Suppress(ctx, "gone@customer.example", "550 5.1.1 no such user")
	for _, to := range []string{"ana@customer.example", "gone@customer.example"} {
		if _, err := sender.Enqueue(ctx, store.Message{Mailbox: "desk", Contract: "acme", Subject: "Request opened",
			Text: "Hello", To: []store.Address{{Address: to}}}); err != nil {
			panic(err)
		}
	}
	recs, _ := st.Outbox().ListByContract(ctx, "acme", store.OutboxFilter{})
	for _, r := range recs {
		fmt.Printf("%s queued=%v %q\n", r.Recipients[0].Address.Address, r.State == store.Queued, r.Reason)
	}

	// Retention, then erasure of everything of one contract.
	pruned, _ := st.Prune(ctx, time.Now().Add(-30*24*time.Hour))
	fmt.Println("pruned sent records:", pruned.SentRecords)
	erased, _ := st.EraseContract(ctx, contract.ID("acme"))
	fmt.Println("erased outbox records:", erased.Outbox)
	// Output:
	// ana@customer.example queued=true ""
	// gone@customer.example queued=false "every recipient is on the suppression list"
	// pruned sent records: 0
	// erased outbox records: 2
}
