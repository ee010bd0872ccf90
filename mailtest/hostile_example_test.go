package mailtest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/imap"
	"github.com/correio-dev/correio/transport/smtp"
)

// A hostile IMAP server whose greeting never ends: the IMAP transport stops
// it at its line bound with a protocol error.
func ExampleNewHostileIMAP() {
	h, _ := mailtest.NewHostileIMAP(mailtest.HostileIMAPOptions{Fault: mailtest.EndlessGreeting, StreamLimit: 8 << 20})
	defer h.Close()
	m := &mailbox.Mailbox{ID: "h", Kind: mailbox.Inbound, Enabled: true, Inbound: &mailbox.InboundSettings{
		Server:      mailbox.Server{Host: h.Host(), Port: h.Port(), Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
		Credentials: mailbox.Credentials{Username: "u", Password: mailbox.NewSecret("p")}}}
	_, err := imap.Dial(context.Background(), &imap.Config{Timeout: 5 * time.Second, MaxLine: 4096}, m)
	fmt.Println(transport.ClassOf(err), errors.Is(err, transport.ErrLimit))
	// Output: protocol true
}

// A hostile SMTP server whose EHLO reply never ends: the SMTP transport
// stops it at Options.MaxReply.
func ExampleNewHostileSMTP() {
	s, _ := mailtest.NewHostileSMTP(mailtest.EndlessMultiline, 8<<20)
	defer s.Close()
	tr := smtp.New(smtp.Options{MaxReply: 64 << 10})
	defer tr.Close()
	m := &mailbox.Mailbox{ID: "s", Kind: mailbox.Outbound, Enabled: true, Outbound: &mailbox.OutboundSettings{
		Server: mailbox.Server{Host: s.Host(), Port: s.Port(), Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
		From:   mailbox.Identity{Address: "desk@example.com"}, Credentials: mailbox.Credentials{Mechanism: mailbox.AuthNone}}}
	_, err := tr.Open(context.Background(), m)
	var le *transport.LimitError
	errors.As(err, &le)
	fmt.Println(transport.ClassOf(err), le.What, le.Limit)
	// Output: protocol reply 65536
}
