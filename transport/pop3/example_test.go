package pop3_test

import (
	"context"
	"fmt"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
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
