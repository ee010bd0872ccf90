package imap_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/imap"
)

// Probe is the "test connection" button of a mailbox form.
func ExampleProbe() {
	srv, _ := mailtest.NewIMAPServer(&mailtest.IMAPOptions{NoMove: true})
	defer srv.Close()
	srv.AddUser("support", "s3cret")
	srv.Append("support", "INBOX", []byte("Subject: hello\r\n\r\nhi\r\n"))

	m := &mailbox.Mailbox{ID: "support", Description: "Support", Kind: mailbox.Inbound, Enabled: true,
		Inbound: &mailbox.InboundSettings{
			Server:      mailbox.Server{Host: srv.Host(), Port: srv.Port(), Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			Credentials: mailbox.Credentials{Username: "support", Password: mailbox.NewSecret("s3cret")},
			PostAction:  mailbox.PostMove, MoveTo: "Done",
		}}
	r, err := imap.Probe(context.Background(), &imap.Config{}, m)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: %d message(s), %d unseen; IDLE %v, MOVE %v\n", r.Folder, r.Messages, r.Unseen, r.Caps.Idle, r.Caps.Move)
	for _, w := range r.Warnings {
		fmt.Println("warning:", w)
	}

	m.Inbound.Credentials.Password = mailbox.NewSecret("typo")
	_, err = imap.Probe(context.Background(), &imap.Config{}, m)
	var te *transport.Error
	if errors.As(err, &te) {
		fmt.Println(te.Class, "-", te.Hint)
	}
	// Output:
	// INBOX: 1 message(s), 1 unseen; IDLE true, MOVE false
	// warning: the server has no MOVE: moves are done with COPY and delete
	// auth - the server refused the credentials; check the user name and password or re-authorise OAuth2
}

// The IMAP cursor is the UIDVALIDITY and the last UID handled: exactly
// what stores kept as a checkpoint before cursors existed.
func ExampleCursor() {
	c := imap.Cursor(1700000000, 42)
	v, uid, err := imap.ParseCursor(c)
	fmt.Println(c, v, uid, err)
	// Output: imap/1:1700000000:42 1700000000 42 <nil>
}
