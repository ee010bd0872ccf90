package sqlite_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store/secrets"
	"github.com/correio-dev/correio/store/sqlite"
	"github.com/correio-dev/correio/workflow"
)

// Open a database file, register an outbound mailbox (its password sealed
// with the host's key) and a contract, and resolve from the cached catalog.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "correio-example")
	defer os.RemoveAll(dir)

	key := make([]byte, 32) // in production: from the host's secret manager
	_, _ = rand.Read(key)
	keys, err := secrets.NewKeyring("2026-01", map[string][]byte{"2026-01": key})
	if err != nil {
		panic(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "correio.db"), sqlite.Options{Secrets: keys})
	if err != nil {
		panic(err)
	}
	defer st.Close()
	cat := st.Catalog()

	err = cat.PutMailbox(ctx, &mailbox.Mailbox{
		ID: "acme-out", Kind: mailbox.Outbound, Description: "ACME notifications", Enabled: true,
		Outbound: &mailbox.OutboundSettings{
			Server:      mailbox.Server{Host: "smtp.acme.example", Port: 587},
			Credentials: mailbox.Credentials{Username: "desk", Password: mailbox.NewSecret("s3cret")},
			From:        mailbox.Identity{Name: "ACME Desk", Address: "desk@acme.example"},
		},
	})
	if err != nil {
		panic(err)
	}
	if err := cat.PutContract(ctx, &contract.Contract{ID: "acme", Name: "ACME", OutboundMailbox: "acme-out"}); err != nil {
		panic(err)
	}

	d, err := routing.NewResolver(cat).Resolve(ctx, routing.Request{Choice: workflow.Contract, Contract: "acme"})
	if err != nil {
		panic(err)
	}
	fmt.Println(d.Mailbox.ID, "-", d.Reason())

	// The rules are enforced: the mailbox is in use.
	err = cat.DeleteMailbox(ctx, "acme-out")
	fmt.Println(errors.Is(err, contract.ErrMailboxInUse), err)
	// Output:
	// acme-out - the email step sends through the contract's mailbox; contract "acme" uses mailbox "acme-out"
	// true contract: mailbox still used: mailbox "acme-out" (contract "acme")
}
