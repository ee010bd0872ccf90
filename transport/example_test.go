package transport_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// Mailboxes typed in by end users dial through the PublicOnly policy, so
// the library cannot be pointed at the host's own network. The refusal is
// classified like every transport error.
func ExampleNet_Dial() {
	n := transport.Net{Policy: transport.PublicOnly}
	_, err := n.Dial(context.Background(), "imap", "127.0.0.1", 993)
	fmt.Println(transport.ClassOf(err), errors.Is(err, transport.ErrPolicy), errors.Is(err, transport.ErrAddressRefused))
	// Output: policy true true
}

// A transport encodes its position in a mailbox as a versioned cursor; the
// engine stores it as text and hands it back.
func ExampleMakeCursor() {
	c := transport.MakeCursor("gmail", 1, "4711")
	kind, version, payload, err := c.Parse()
	fmt.Println(c)
	fmt.Println(kind, version, payload, err)
	_, _, _, err = transport.Cursor("no prefix").Parse()
	fmt.Println(errors.Is(err, transport.ErrCursor))
	// Output:
	// gmail/1:4711
	// gmail 1 4711 <nil>
	// true
}

// Senders chooses a transport by the mailbox's transport kind; a kind
// nobody registered is a permanent error that says so.
func ExampleSenders() {
	senders := transport.Senders{} // e.g. {mailbox.TransportSMTP: smtp.New(opts), "graph": g}
	m := &mailbox.Mailbox{ID: "desk", Kind: mailbox.Outbound, Outbound: &mailbox.OutboundSettings{Transport: "graph"}}
	_, err := senders.Open(context.Background(), m)
	fmt.Println(m.Transport(), transport.ClassOf(err), errors.Is(err, transport.ErrNoTransport))
	// The zero kind is the default of the mailbox's kind.
	fmt.Println((&mailbox.Mailbox{Kind: mailbox.Outbound, Outbound: &mailbox.OutboundSettings{}}).Transport())
	// Output:
	// graph permanent true
	// smtp
}

// A transport marks the errors after which its connection is unusable;
// the error keeps its text and class.
func ExampleBroken() {
	err := transport.Broken(&transport.Error{Class: transport.Temporary, Protocol: "smtp", Op: "data", Message: "connection lost"})
	fmt.Println(err)
	fmt.Println(errors.Is(err, transport.ErrBroken), errors.Is(err, transport.ErrTemporary))
	// Output:
	// smtp data: temporary connection lost
	// true true
}
