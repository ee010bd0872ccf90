package correio_test

import (
	"context"
	"fmt"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/workflow"
)

// The pieces fit together like this: mailboxes and contracts in a catalog,
// the system outbound mailbox named, and the resolver deciding where an
// email step's message goes. The engines (inbound.Poller,
// outbound.Sender) read the same catalog; see examples/quickstart.
func Example() {
	ctx := context.Background()
	cat := memory.NewCatalog()
	out := func(id, addr string) *mailbox.Mailbox {
		return &mailbox.Mailbox{ID: mailbox.ID(id), Description: id, Kind: mailbox.Outbound, Enabled: true,
			Outbound: &mailbox.OutboundSettings{
				Server:      mailbox.Server{Host: "smtp.example.com"},
				Credentials: mailbox.Credentials{Username: id, Password: mailbox.NewSecret("pw")},
				From:        mailbox.Identity{Address: addr},
			}}
	}
	_ = cat.PutMailbox(ctx, out("desk", "desk@servicedesk.example"))
	_ = cat.PutMailbox(ctx, out("acme-out", "support@acme.example"))
	_ = cat.SetSystemMailbox(ctx, "desk")
	_ = cat.PutContract(ctx, &contract.Contract{ID: "acme", Name: "ACME", OutboundMailbox: "acme-out"})

	step := &workflow.EmailConnector{Mailbox: workflow.Contract}
	d, err := routing.NewResolver(cat).Resolve(ctx, routing.RequestFor(step, "acme"))
	fmt.Println(d.Mailbox.Outbound.From.Address, d.Rule, err)
	// Output: support@acme.example contract <nil>
}
