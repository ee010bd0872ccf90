package contract_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store/memory"
)

// A contract's outbound mailbox must already be registered and be outbound;
// every store applies the same rules and returns the same typed errors.
func ExampleCheckSave() {
	ctx := context.Background()
	cat := memory.NewCatalog()
	_ = cat.PutMailbox(ctx, &mailbox.Mailbox{
		ID: "acme-in", Description: "ACME support", Kind: mailbox.Inbound, Enabled: true,
		Inbound: &mailbox.InboundSettings{
			Server:      mailbox.Server{Host: "imap.acme.example"},
			Credentials: mailbox.Credentials{Username: "support", Password: mailbox.NewSecret("pw")},
		},
	})
	err := cat.PutContract(ctx, &contract.Contract{ID: "acme", Name: "ACME", OutboundMailbox: "acme-in"})
	fmt.Println(errors.Is(err, contract.ErrWrongKind), err)
	err = cat.PutContract(ctx, &contract.Contract{ID: "acme", Name: "ACME", OutboundMailbox: "acme-out"})
	fmt.Println(errors.Is(err, contract.ErrMailboxNotFound), err)
	// Output:
	// true contract: mailbox of the wrong kind: outbound mailbox is inbound: mailbox "acme-in" (contract "acme")
	// true contract: mailbox not registered: mailbox "acme-out" (contract "acme")
}
