package routing_test

import (
	"context"
	"fmt"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/workflow"
)

// The resolver follows the email step's mailbox choice and explains itself.
func ExampleDefaultResolver_Resolve() {
	ctx := context.Background()
	cat := memory.NewCatalog()
	for _, id := range []string{"system-out", "acme-out"} {
		_ = cat.PutMailbox(ctx, &mailbox.Mailbox{
			ID: mailbox.ID(id), Description: id, Kind: mailbox.Outbound, Enabled: true,
			Outbound: &mailbox.OutboundSettings{
				Server:      mailbox.Server{Host: "smtp.example.com"},
				Credentials: mailbox.Credentials{Username: id, Password: mailbox.NewSecret("pw")},
				From:        mailbox.Identity{Address: id + "@example.com"},
			},
		})
	}
	_ = cat.SetSystemMailbox(ctx, "system-out")
	_ = cat.PutContract(ctx, &contract.Contract{ID: "acme", Name: "ACME", OutboundMailbox: "acme-out"})
	_ = cat.PutContract(ctx, &contract.Contract{ID: "globex", Name: "Globex"})

	r := routing.NewResolver(cat)
	for _, req := range []routing.Request{
		{Choice: workflow.System, Contract: "acme"},
		{Choice: workflow.Contract, Contract: "acme"},
		{Choice: workflow.Contract, Contract: "globex"},
	} {
		d, err := r.Resolve(ctx, req)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s -> %s (%s): %s\n", req.Choice, d.Mailbox.ID, d.Rule, d.Reason())
	}
	// Output:
	// system -> system-out (system): the email step uses the system mailbox "system-out"
	// contract -> acme-out (contract): the email step sends through the contract's mailbox; contract "acme" uses mailbox "acme-out"
	// contract -> system-out (system_contract_has_none): the email step sends through the contract's mailbox, but contract "globex" names no outbound mailbox, so the system mailbox "system-out"
}
