package smtp_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/smtp"
)

func ExampleTransport_Probe() {
	srv, _ := mailtest.NewSMTPServer(mailtest.SMTPOptions{
		Security: mailtest.SMTPStartTLS,
		Users:    map[string]string{"desk": "s3cret"},
		Domain:   "mx.example.net",
	})
	defer srv.Close()
	ca, _ := mailtest.DefaultCA()
	tr := smtp.New(smtp.Options{RootCAs: ca.Pool()}) // tests trust the in-process CA
	defer tr.Close()

	mb := &mailbox.Mailbox{
		ID: "desk", Description: "Service desk", Kind: mailbox.Outbound, Enabled: true,
		Outbound: &mailbox.OutboundSettings{
			Server:      mailbox.Server{Host: srv.Host(), Port: srv.Port(), Security: mailbox.SecuritySTARTTLS},
			Credentials: mailbox.Credentials{Username: "desk", Password: mailbox.NewSecret("s3cret")},
			From:        mailbox.Identity{Address: "desk@example.com"},
		},
	}
	rep, err := tr.Probe(context.Background(), mb)
	fmt.Println(err, rep.Greeting, rep.TLSVersion != "", rep.AuthMechanism, rep.Authenticated)

	mb.Outbound.Credentials.Password = mailbox.NewSecret("wrong")
	_, err = tr.Probe(context.Background(), mb)
	var te *transport.Error
	if errors.As(err, &te) {
		fmt.Println(te.Class, te.Op, te.Code)
	}
	// Output:
	// <nil> 220 mx.example.net ESMTP Service Ready true PLAIN true
	// auth auth 535
}
