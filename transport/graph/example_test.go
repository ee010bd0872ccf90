package graph_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/graph"
)

// A shared mailbox read and sent through Microsoft Graph with app-only
// access (client credentials), against the in-process Graph server. In
// production BaseURL, Authority and RootCAs stay empty.
func Example() {
	srv := mailtest.NewGraphServer()
	defer srv.Close()
	srv.AddUser("support@example.com")
	srv.AddClient("contoso-tenant-id", "app-client-id", "app-secret")
	srv.Deliver("support@example.com", "inbox", []byte("From: c@example.net\r\nTo: support@example.com\r\nSubject: help\r\nMessage-ID: <1@example.net>\r\n\r\nhi\r\n"))

	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	cfg := &graph.Config{BaseURL: srv.URL, RootCAs: pool, AppOnly: &graph.AppOnly{
		TenantID: "contoso-tenant-id", ClientID: "app-client-id", ClientSecret: mailbox.NewSecret("app-secret"), Authority: srv.URL}}
	sources := transport.Sources{mailbox.TransportGraph: graph.NewSource(cfg)}
	senders := transport.Senders{mailbox.TransportGraph: graph.NewSender(cfg)}

	in := &mailbox.Mailbox{ID: "support", Description: "Support", Kind: mailbox.Inbound, Enabled: true, Address: "support@example.com",
		Inbound: &mailbox.InboundSettings{Transport: mailbox.TransportGraph, PostAction: mailbox.PostMove, MoveTo: "Handled"}}
	ctx := context.Background()
	rep, err := sources.Check(ctx, in)
	fmt.Println(rep.Fact("auth"), rep.Fact("folder"), rep.Fact("messages"), err)

	s, _ := sources.Open(ctx, in)
	from, _, _ := s.Resume(ctx, "", false)
	items, _ := s.List(ctx, from)
	s.Fetch(ctx, items, func(sp *transport.Spool) {
		fmt.Println("fetched", sp.Size(), "bytes")
		sp.Close()
	})
	s.Apply(ctx, transport.Action{Kind: mailbox.PostMove, Folder: "Handled"}, []string{items[0].ID})
	moved, _ := srv.Count("support@example.com", "Handled")
	fmt.Println("moved:", moved)

	out := &mailbox.Mailbox{ID: "support-out", Description: "Support", Kind: mailbox.Outbound, Enabled: true, Address: "support@example.com",
		Outbound: &mailbox.OutboundSettings{Transport: mailbox.TransportGraph, From: mailbox.Identity{Address: "support@example.com"}}}
	o, _ := senders.Open(ctx, out)
	defer o.Close()
	reply := []byte("From: support@example.com\r\nTo: c@example.net\r\nSubject: Re: help\r\nMessage-ID: <r1@example.com>\r\nIn-Reply-To: <1@example.net>\r\n\r\non it\r\n")
	res, err := o.Send(ctx, transport.Envelope{From: "support@example.com", To: []string{"c@example.net"}}, bytes.NewReader(reply))
	fmt.Println(res.Accepted, err, bytes.Equal(srv.Sent()[0].Raw, reply))
	// Output:
	// app-only Inbox 1 <nil>
	// fetched 96 bytes
	// moved: 1
	// [c@example.net] <nil> true
}

// Change notifications: the host mounts the Source's handler at a public
// HTTPS URL; a session then returns from Wait as soon as Graph posts a
// notification for its mailbox, and reads the delta query as usual. Here
// the in-process Graph server plays Microsoft's part.
func ExampleSource_NotificationHandler() {
	srv := mailtest.NewGraphServer()
	defer srv.Close()
	srv.AddUser("support@example.com")
	srv.AddToken("tok", "support@example.com")

	var handler http.Handler
	host := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	defer host.Close()
	srv.TrustNotificationCert(host.Certificate()) // in production: a certificate Microsoft trusts

	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	src := graph.NewSource(&graph.Config{BaseURL: srv.URL, RootCAs: pool, Notify: &graph.NotifyConfig{
		NotificationURL: host.URL + "/graph/notify",
		Key:             mailbox.NewSecret("a key of at least sixteen bytes"),
		Store:           graph.NewMemorySubscriptions(), // graph.NewFileSubscriptions(dir) to survive restarts
	}})
	handler = src.NotificationHandler()

	m := &mailbox.Mailbox{ID: "support", Description: "Support", Kind: mailbox.Inbound, Enabled: true, Address: "support@example.com",
		Inbound: &mailbox.InboundSettings{Transport: mailbox.TransportGraph, Credentials: mailbox.Credentials{OAuth2: exampleToken("tok")}}}
	ctx := context.Background()
	s, err := src.Open(ctx, m)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close(ctx)
	fmt.Println("push:", s.Push(), "subscriptions:", len(srv.Subscriptions()))

	srv.Deliver("support@example.com", "inbox", []byte("From: c@example.net\r\nSubject: help\r\nMessage-ID: <2@example.net>\r\n\r\nhi\r\n"))
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	s.Wait(wctx, nil) // returns on the notification
	fmt.Println("woken before the timeout:", wctx.Err() == nil)
	// Output:
	// push: true subscriptions: 1
	// woken before the timeout: true
}

type exampleToken string

func (e exampleToken) Token(context.Context) (mailbox.Secret, error) {
	return mailbox.NewSecret(string(e)), nil
}
