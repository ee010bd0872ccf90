package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/inbound/relay"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store/memory"
)

type printHandler struct{}

func (printHandler) HandleMessage(_ context.Context, d *inbound.Delivery) error {
	fmt.Println("handed:", d.Message.Subject)
	return nil
}

// exampleIngester is a host with one pushed mailbox, support@desk.example.
func exampleIngester() *inbound.Ingester {
	ctx := context.Background()
	cat := memory.NewCatalog()
	_ = cat.PutMailbox(ctx, &mailbox.Mailbox{ID: "support", Description: "support", Kind: mailbox.Inbound, Enabled: true,
		Address: "support@desk.example", Inbound: &mailbox.InboundSettings{Transport: mailbox.TransportPush}})
	p, _ := inbound.New(inbound.Options{Store: memory.NewInboundStore(), Handler: printHandler{}, Catalog: cat})
	return inbound.NewIngester(p, inbound.IngestOptions{})
}

// Mounting the relays next to each other on the host's mux; each one
// needs the secrets its provider's console shows.
func Example() {
	g := exampleIngester()
	ses, err := relay.NewSES(relay.SESOptions{Common: relay.Common{Ingester: g},
		Topics: []string{"arn:aws:sns:eu-west-1:123456789012:inbound-mail"}})
	if err != nil {
		log.Fatal(err)
	}
	mailgun, err := relay.NewMailgun(relay.MailgunOptions{Common: relay.Common{Ingester: g},
		SigningKey: mailbox.NewSecret("the HTTP webhook signing key")})
	if err != nil {
		log.Fatal(err)
	}
	sendgrid, err := relay.NewSendGrid(relay.SendGridOptions{Common: relay.Common{Ingester: g},
		Username: "sendgrid", Password: mailbox.NewSecret("a long random password")})
	if err != nil {
		log.Fatal(err)
	}
	postmark, err := relay.NewPostmark(relay.PostmarkOptions{Common: relay.Common{Ingester: g, Mailbox: "support"},
		Username: "postmark", Password: mailbox.NewSecret("another long random password")})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /inbound/ses", ses)
	mux.Handle("POST /inbound/mailgun/mime", mailgun) // the route's forward() URL ends in "mime"
	mux.Handle("POST /inbound/sendgrid", sendgrid)
	mux.Handle("POST /inbound/postmark", postmark)
	fmt.Println("mounted")
	// Output: mounted
}

// A Mailgun route forwarding raw MIME: the request is signed with the
// webhook signing key; a replay of its token hands nothing twice.
func ExampleNewMailgun() {
	key := "key-example-signing"
	h, _ := relay.NewMailgun(relay.MailgunOptions{Common: relay.Common{Ingester: exampleIngester()}, SigningKey: mailbox.NewSecret(key)})

	ts := strconv.FormatInt(time.Now().Unix(), 10)
	token := "0d7e57fa4fc5bbe5fbd29b3a1c1fcb3e0d7e57fa4fc5bbe5fb"
	form := url.Values{"recipient": {"support@desk.example"}, "timestamp": {ts}, "token": {token},
		"signature": {relay.MailgunSignature([]byte(key), ts, token)},
		"body-mime": {"From: c@example.com\r\nSubject: printer on fire\r\nMessage-ID: <1@example.com>\r\n\r\nhelp\r\n"}}
	for range 2 {
		req := httptest.NewRequest(http.MethodPost, "/inbound/mailgun/mime", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		fmt.Println(w.Code)
	}
	// Output:
	// handed: printer on fire
	// 200
	// 200
}

// Postmark inbound with "Include raw email content in JSON payload"
// checked, behind the basic credentials of the webhook URL.
func ExampleNewPostmark() {
	h, _ := relay.NewPostmark(relay.PostmarkOptions{Common: relay.Common{Ingester: exampleIngester()},
		Username: "postmark", Password: mailbox.NewSecret("a long random password")})
	doc, _ := json.Marshal(map[string]any{"OriginalRecipient": "support@desk.example",
		"RawEmail": "From: c@example.com\r\nSubject: invoice\r\nMessage-ID: <2@example.com>\r\n\r\nattached\r\n"})
	req := httptest.NewRequest(http.MethodPost, "/inbound/postmark", strings.NewReader(string(doc)))
	req.SetBasicAuth("postmark", "a long random password")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	var res relay.Response
	_ = json.Unmarshal(w.Body.Bytes(), &res)
	fmt.Println(w.Code, res.Results[0].Outcome)
	// Output:
	// handed: invoice
	// 200 handled
}
