// Package correio lets a host application (a service desk, an ITSM or
// workflow platform) run many email mailboxes at once, each on its own mail
// server.
//
// Inbound mailboxes are read over IMAP and every message is handed to the
// host, routed to the customer contract it belongs to. Outbound mailboxes
// send the system's own mail (request opened, approval requested, request
// completed) over SMTP. Three promises make the product:
//
//   - customers see an address familiar to their organisation: each contract
//     may send through its own outbound mailbox;
//   - losing one mail server affects only the contract it serves: every
//     mailbox has its own connections, deadlines, backoff and circuit
//     breaker, so one slow or dead server never stalls another mailbox;
//   - messages are kept grouped by contract: inbound mailboxes belong to a
//     contract, and every sent message records the contract it was sent for.
//
// # Packages
//
// The pure packages hold the domain and do no I/O:
//
//   - [github.com/correio-dev/correio/mailbox]: Mailbox (inbound or outbound),
//     its IMAP or SMTP settings, credentials held in a self-redacting Secret,
//     and Validate with field errors a form can show.
//   - [github.com/correio-dev/correio/contract]: Contract and the rules every
//     store applies (an outbound mailbox must be registered and outbound, an
//     inbound mailbox belongs to one contract, a used mailbox cannot be
//     removed).
//   - [github.com/correio-dev/correio/workflow]: EmailConnector, the workflow
//     step "send message by email" with its mailbox choice (System, Contract,
//     Specific), the host's Directory of users and groups, template rendering
//     and the subject thread token.
//   - [github.com/correio-dev/correio/routing]: the Resolver that decides, and
//     explains, which mailbox a message goes out through.
//
// [github.com/correio-dev/correio/transport] is the contract between the
// engines and the IMAP and SMTP transports: error classes, the Dialer hook
// and address policy every connection goes through, and the OAuth2 adapter.
// [github.com/correio-dev/correio/clock] is the injectable time source.
// [github.com/correio-dev/correio/store/memory] holds the catalog in memory.
// [github.com/correio-dev/correio/replica] runs the engines of one replica
// of a host that several processes share over store/postgres: it spreads
// the mailboxes by leases, with no host-written lease code.
//
// # Wiring
//
// A host registers mailboxes and contracts in a catalog, names the system
// outbound mailbox, and asks the resolver where a workflow step's message
// goes:
//
//	cat := memory.NewCatalog()
//	_ = cat.PutMailbox(ctx, systemOut)        // validated, rules applied
//	_ = cat.SetSystemMailbox(ctx, systemOut.ID)
//	_ = cat.PutContract(ctx, &contract.Contract{ID: "acme", Name: "ACME", OutboundMailbox: acmeOut.ID})
//	d, err := routing.NewResolver(cat).Resolve(ctx, routing.RequestFor(step, "acme"))
//	// d.Mailbox, d.Rule, d.Reason()
package correio
