package outbound_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/mail"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport"
)

// recorder is a transport a host writes in its own tests: instead of
// connecting anywhere it records what the Sender sends. It implements
// transport.Sender; each Open hands out a transport.Outgoing.
type recorder struct {
	sent chan sentMessage
}

type sentMessage struct {
	mailbox mailbox.ID
	env     transport.Envelope
	raw     []byte
}

func (r *recorder) Open(_ context.Context, m *mailbox.Mailbox) (transport.Outgoing, error) {
	return &recording{r: r, mb: m.ID}, nil
}

type recording struct {
	r  *recorder
	mb mailbox.ID
}

func (c *recording) Send(ctx context.Context, env transport.Envelope, msg io.WriterTo) (transport.Result, error) {
	var b bytes.Buffer
	if _, err := msg.WriteTo(&b); err != nil {
		return transport.Result{}, err
	}
	select {
	case c.r.sent <- sentMessage{mailbox: c.mb, env: env, raw: b.Bytes()}:
	case <-ctx.Done():
		return transport.Result{}, &transport.Error{Class: transport.Temporary, Op: "send", Err: ctx.Err()}
	}
	return transport.Result{Accepted: env.To, Response: "250 recorded"}, nil
}

func (c *recording) Close() error { return nil }

// A host plugs its own transport into the Sender: here a recording one,
// registered under the transport kind its mailboxes name. Every other
// kind would need its own entry (mailbox.TransportSMTP: smtp.New(...)).
func ExampleSender_recordingTransport() {
	ctx := context.Background()
	rec := &recorder{sent: make(chan sentMessage, 1)}

	cat := memory.NewCatalog()
	_ = cat.PutMailbox(ctx, &mailbox.Mailbox{
		ID: "desk", Description: "Service desk (recorded)", Kind: mailbox.Outbound, Enabled: true,
		Outbound: &mailbox.OutboundSettings{
			Transport: "recorder", // no server, no credentials: the transport needs none
			From:      mailbox.Identity{Name: "Service Desk", Address: "desk@example.com"},
		},
	})
	s, err := outbound.New(outbound.Options{
		Outbox:    memory.NewOutbox(),
		Catalog:   cat,
		Transport: transport.Senders{"recorder": rec},
	})
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
	select {
	case got := <-rec.sent:
		m, _ := mail.ReadMessage(bytes.NewReader(got.raw))
		fmt.Println(got.mailbox, got.env.From, "->", got.env.To)
		fmt.Println(m.Header.Get("Subject"))
		fmt.Println(m.Header.Get("Auto-Submitted"))
	case <-time.After(10 * time.Second):
		fmt.Println("nothing sent")
	}
	// Output:
	// desk desk@example.com -> [ana@customer.example]
	// Your request was opened [#REQ-123]
	// auto-generated
}

// The Sender's Probe is the "test connection" of whatever transport the
// mailbox uses; here the SMTP default against an in-process server.
func ExampleSender_Probe() {
	srv, _ := mailtest.NewSMTPServer(mailtest.SMTPOptions{})
	defer srv.Close()
	s, _ := outbound.New(outbound.Options{Outbox: memory.NewOutbox(), Catalog: memory.NewCatalog()})
	defer s.Stop(context.Background())
	m := exampleMailbox("desk", srv)
	fmt.Println(s.Validate(m))
	rep, err := s.Probe(context.Background(), m)
	fmt.Println(rep.Kind, rep.Fact("greeting") != "", err)
	// Output:
	// <nil>
	// smtp true <nil>
}
