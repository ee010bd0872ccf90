package inbound_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/store/memory"
)

func Example() {
	// An in-process IMAP server with two messages waiting.
	srv, _ := mailtest.NewIMAPServer(nil)
	defer srv.Close()
	srv.AddUser("support", "s3cret")
	srv.Append("support", "INBOX", []byte("From: ana@example.com\r\nSubject: Printer on fire\r\nMessage-ID: <1@example.com>\r\n\r\nHelp!\r\n"))
	srv.Append("support", "INBOX", []byte("From: ben@example.com\r\nSubject: VPN down\r\nMessage-ID: <2@example.com>\r\n\r\nAgain.\r\n"))

	// The catalog holds the mailboxes: the Poller reads every inbound
	// mailbox in it and picks up changes while it runs.
	catalog := memory.NewCatalog()
	err := catalog.PutMailbox(context.Background(), &mailbox.Mailbox{
		ID: "support", Description: "Support", Kind: mailbox.Inbound, Enabled: true,
		Inbound: &mailbox.InboundSettings{
			Server:      mailbox.Server{Host: srv.Host(), Port: srv.Port(), Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			Credentials: mailbox.Credentials{Username: "support", Password: mailbox.NewSecret("s3cret")},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	p, _ := inbound.New(inbound.Options{
		Store:   memory.NewInboundStore(),
		Catalog: catalog,
		Handler: inbound.HandlerFunc(func(ctx context.Context, d *inbound.Delivery) error {
			// Store a ticket here; return an error to retry, or
			// inbound.Permanent(err) to quarantine the message.
			fmt.Printf("%s: %q from %s (auto-answer allowed: %v)\n",
				d.Mailbox.ID, d.Message.Subject, d.Message.From[0].Address, d.AutoAnswerAllowed())
			return nil
		}),
	})
	ctx := context.Background()
	if err := p.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	// Wait until both messages were handed off and marked seen (the
	// post-action follows each committed batch).
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		h, _ := p.Health(ctx, "support")
		st, _ := srv.Status("support", "INBOX")
		if h.Handled == 2 && st != nil && st.NumUnseen != nil && *st.NumUnseen == 0 {
			break
		}
	}
	_ = p.Stop(ctx) // returns once the in-flight hand-offs finished
	h, _ := p.Health(ctx, "support")
	fmt.Println("handled:", h.Handled, "state:", h.State)
	st, _ := srv.Status("support", "INBOX")
	fmt.Println("unseen on the server:", *st.NumUnseen)
	// Output:
	// support: "Printer on fire" from ana@example.com (auto-answer allowed: true)
	// support: "VPN down" from ben@example.com (auto-answer allowed: true)
	// handled: 2 state: stopped
	// unseen on the server: 0
}

// An administrator's "check now" after fixing the account at the
// provider, and a pause while the customer migrates.
func ExamplePoller_CheckNow() {
	cat := memory.NewCatalog()
	p, err := inbound.New(inbound.Options{Store: memory.NewInboundStore(), Catalog: cat,
		Handler: inbound.HandlerFunc(func(context.Context, *inbound.Delivery) error { return nil })})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	fmt.Println(p.Pause(ctx, "acme-in")) // before Start: kept for when it starts
	if err := p.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer p.Stop(ctx)
	fmt.Println(errors.Is(p.CheckNow(ctx, "globex-in"), engine.ErrUnknownMailbox))
	// Output:
	// <nil>
	// true
}
