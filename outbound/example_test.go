package outbound_test

import (
	"bytes"
	"context"
	"fmt"
	"net/mail"
	"time"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/threading"
	"github.com/correio-dev/correio/workflow"
)

func exampleMailbox(id string, srv *mailtest.SMTPServer) *mailbox.Mailbox {
	return &mailbox.Mailbox{
		ID: mailbox.ID(id), Description: "Service desk", Kind: mailbox.Outbound, Enabled: true,
		Outbound: &mailbox.OutboundSettings{
			// The in-process server speaks plaintext; real mailboxes use TLS.
			Server:      mailbox.Server{Host: srv.Host(), Port: srv.Port(), Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			Credentials: mailbox.Credentials{Mechanism: mailbox.AuthNone},
			From:        mailbox.Identity{Name: "Service Desk", Address: "desk@example.com"},
		},
	}
}

func ExampleSender() {
	srv, _ := mailtest.NewSMTPServer(mailtest.SMTPOptions{})
	defer srv.Close()
	ctx := context.Background()

	cat := memory.NewCatalog()
	_ = cat.PutMailbox(ctx, exampleMailbox("desk", srv))
	s, err := outbound.New(outbound.Options{Outbox: memory.NewOutbox(), Catalog: cat})
	if err != nil {
		panic(err)
	}
	_ = s.Start(ctx)
	defer s.Stop(ctx)

	_, err = s.Enqueue(ctx, store.Message{
		Mailbox: "desk",
		To:      []store.Address{{Name: "Ana", Address: "ana@customer.example"}},
		Subject: "Your request was opened",
		Text:    "We are on it.",
		Thread:  "123",
	})
	if err != nil {
		panic(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got, _ := srv.WaitMessages(wctx, 1)
	m, _ := mail.ReadMessage(bytes.NewReader(got[0].Data))
	fmt.Println(m.Header.Get("Subject"))
	fmt.Println(m.Header.Get("Auto-Submitted"))
	fmt.Println(m.Header.Get(threading.LoopHeader))
	// Output:
	// Your request was opened [#REQ-123]
	// auto-generated
	// desk
}

type oneUser struct{}

func (oneUser) User(_ context.Context, id workflow.UserID) (workflow.User, error) {
	return workflow.User{ID: id, Name: "Ana", Address: "ana@customer.example"}, nil
}

func (oneUser) GroupMembers(context.Context, workflow.GroupID) ([]workflow.User, error) {
	return nil, nil
}

func ExampleRunner() {
	srv, _ := mailtest.NewSMTPServer(mailtest.SMTPOptions{})
	defer srv.Close()
	ctx := context.Background()

	cat := memory.NewCatalog()
	_ = cat.PutMailbox(ctx, exampleMailbox("acme-desk", srv))
	_ = cat.PutContract(ctx, &contract.Contract{ID: "acme", Name: "ACME", OutboundMailbox: "acme-desk"})
	s, _ := outbound.New(outbound.Options{Outbox: memory.NewOutbox(), Catalog: cat})
	_ = s.Start(ctx)
	defer s.Stop(ctx)

	r := &outbound.Runner{Resolver: routing.NewResolver(cat), Directory: oneUser{}, Sender: s}
	res, err := r.Run(ctx, &workflow.EmailConnector{
		Mailbox:    workflow.Contract,
		Recipients: workflow.Recipients{Users: []workflow.UserID{"ana"}},
		Subject:    "{{.Title}} completed",
		Text:       "Request {{.Title}} is done.",
	}, outbound.Flow{Contract: "acme", Thread: "7", Vars: workflow.Vars{"Title": "Printer"}})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Decision.Rule, len(res.IDs))
	fmt.Println(res.Decision.Reason())
	// Output:
	// contract 1
	// the email step sends through the contract's mailbox; contract "acme" uses mailbox "acme-desk"
}

// One alerting hook for both engines: the Poller's events are
// engine.Events, and the Sender's EventHealth becomes one.
func ExampleEvent_HealthEvent() {
	alert := func(e engine.Event) {
		if e.Health.NeedsPerson() {
			fmt.Printf("%s %s: %s\n", e.Health.Mailbox, e.Health.State, e.Health.Hint)
		}
	}
	onOutbound := func(e outbound.Event) {
		if he, ok := e.HealthEvent(); ok {
			alert(he)
		}
	}
	onOutbound(outbound.Event{Kind: outbound.EventDelivered, Mailbox: "desk-out"})
	onOutbound(outbound.Event{Kind: outbound.EventHealth, Mailbox: "desk-out",
		Health: engine.Health{Mailbox: "desk-out", State: engine.StateReauthRequired, Hint: "authorise the mailbox again"}})
	// Output: desk-out reauth_required: authorise the mailbox again
}
