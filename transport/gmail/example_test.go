package gmail_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/gmail"
)

// A Workspace mailbox read and sent through the Gmail API with a service
// account's domain-wide delegation, against the in-process Gmail server.
// In production BaseURL, TokenURL and RootCAs stay empty.
func Example() {
	srv := mailtest.NewGmailServer()
	defer srv.Close()
	srv.AddUser("support@example.com")
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	srv.AddServiceAccount("correio@project.iam.gserviceaccount.com", &key.PublicKey, gmail.ScopeModify, gmail.ScopeSend)
	srv.Deliver("support@example.com", []byte("From: c@example.net\r\nTo: support@example.com\r\nSubject: help\r\nMessage-ID: <1@example.net>\r\n\r\nhi\r\n"))

	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	cfg := &gmail.Config{BaseURL: srv.URL, RootCAs: pool, CreateLabels: true, ServiceAccount: &gmail.ServiceAccount{
		Email:      "correio@project.iam.gserviceaccount.com",
		PrivateKey: mailbox.NewSecret(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))),
		TokenURL:   srv.TokenURL()}}
	sources := transport.Sources{mailbox.TransportGmail: gmail.NewSource(cfg)}
	senders := transport.Senders{mailbox.TransportGmail: gmail.NewSender(cfg)}

	in := &mailbox.Mailbox{ID: "support", Description: "Support", Kind: mailbox.Inbound, Enabled: true, Address: "support@example.com",
		Inbound: &mailbox.InboundSettings{Transport: mailbox.TransportGmail, PostAction: mailbox.PostMove, MoveTo: "Handled"}}
	ctx := context.Background()
	rep, err := sources.Check(ctx, in)
	fmt.Println(rep.Fact("auth"), rep.Fact("label"), rep.Fact("messages"), err)

	s, _ := sources.Open(ctx, in)
	from, _, _ := s.Resume(ctx, "", false)
	items, _ := s.List(ctx, from)
	s.Fetch(ctx, items, func(sp *transport.Spool) {
		fmt.Println("fetched", sp.Size(), "bytes")
		sp.Close()
	})
	s.Apply(ctx, transport.Action{Kind: mailbox.PostMove, Folder: "Handled"}, []string{items[0].ID})
	moved, _ := srv.Count("support@example.com", "Handled")
	fmt.Println("labelled Handled:", moved)

	out := &mailbox.Mailbox{ID: "support-out", Description: "Support", Kind: mailbox.Outbound, Enabled: true, Address: "support@example.com",
		Outbound: &mailbox.OutboundSettings{Transport: mailbox.TransportGmail, From: mailbox.Identity{Address: "support@example.com"}}}
	o, _ := senders.Open(ctx, out)
	defer o.Close()
	reply := []byte("From: support@example.com\r\nTo: c@example.net\r\nSubject: Re: help\r\nMessage-ID: <r1@example.com>\r\nIn-Reply-To: <1@example.net>\r\n\r\non it\r\n")
	res, err := o.Send(ctx, transport.Envelope{From: "support@example.com", To: []string{"c@example.net"}}, bytes.NewReader(reply))
	fmt.Println(res.Accepted, err, bytes.Equal(srv.Sent()[0].Raw, reply))
	// Output:
	// service account INBOX 1 <nil>
	// fetched 96 bytes
	// labelled Handled: 1
	// [c@example.net] <nil> true
}

// The Pub/Sub push endpoint a host mounts: with Config.Watch set, each
// session keeps a users.watch on its mailbox, and a push whose OIDC token
// verifies wakes the mailbox's session.
func ExampleSource_PushHandler() {
	src := gmail.NewSource(&gmail.Config{Watch: &gmail.Watch{TopicName: "projects/my-project/topics/gmail"}})
	mux := http.NewServeMux()
	mux.Handle("POST /gmail/push", src.PushHandler(gmail.PushConfig{
		Audience:       "https://desk.example.com/gmail/push",
		ServiceAccount: "pubsub-push@my-project.iam.gserviceaccount.com",
	}))
	// Without a valid token every push is refused.
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/gmail/push", nil))
	fmt.Println(rec.Code)
	// Output: 401
}
