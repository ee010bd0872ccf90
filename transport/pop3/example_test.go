package pop3_test

import (
	"context"
	"fmt"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/imap"
	"github.com/correio-dev/correio/transport/pop3"
)

// Register the POP3 source for the mailboxes of kind pop3 and check one
// before saving it.
func ExampleSource() {
	srv, _ := mailtest.NewPOP3Server(nil)
	defer srv.Close()
	srv.AddUser("alice", "secret")
	_, _ = srv.Deliver("alice", []byte("Subject: hello\r\n\r\nhi\r\n"))

	src := transport.Sources{mailbox.TransportPOP3: pop3.NewSource(&pop3.Config{Timeout: 10 * time.Second})}
	m := &mailbox.Mailbox{ID: "support", Description: "support", Kind: mailbox.Inbound, Enabled: true,
		Inbound: &mailbox.InboundSettings{Transport: mailbox.TransportPOP3, PostAction: mailbox.PostDelete,
			Server:      mailbox.Server{Host: srv.Host(), Port: srv.Port(), Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			Credentials: mailbox.Credentials{Username: "alice", Password: mailbox.NewSecret("secret")}}}
	fmt.Println("valid:", src.Validate(m) == nil)
	rep, err := src.Check(context.Background(), m)
	fmt.Println(rep.Fact("messages"), rep.Fact("cursor"), err)
	// Output:
	// valid: true
	// 1 uidl <nil>
}

// Leave on server for 14 days: the keep post-action with a retention.
// A retention with another post-action, or on a transport that does not
// apply it (IMAP), is a field error.
func ExampleSource_Retains() {
	src := transport.Sources{mailbox.TransportPOP3: pop3.NewSource(nil), mailbox.TransportIMAP: imap.NewSource(nil)}
	m := &mailbox.Mailbox{ID: "support", Description: "support", Kind: mailbox.Inbound, Enabled: true,
		Inbound: &mailbox.InboundSettings{Transport: mailbox.TransportPOP3,
			PostAction: mailbox.PostKeep, KeepFor: 14 * 24 * time.Hour,
			Server:      mailbox.Server{Host: "pop.example.com"},
			Credentials: mailbox.Credentials{Username: "support", Password: mailbox.NewSecret("secret")}}}
	fmt.Println("pop3, keep:", src.Validate(m))
	m.Inbound.PostAction = mailbox.PostDelete
	for _, fe := range mailbox.FieldErrors(src.Validate(m)) {
		fmt.Println("pop3, delete:", fe.Path, fe.Code)
	}
	m.Inbound.Transport, m.Inbound.PostAction = mailbox.TransportIMAP, mailbox.PostKeep
	for _, fe := range mailbox.FieldErrors(src.Validate(m)) {
		fmt.Println("imap, keep:", fe.Path, fe.Code)
	}
	// Output:
	// pop3, keep: <nil>
	// pop3, delete: inbound.keep_for conflict
	// imap, keep: inbound.keep_for unsupported
}
