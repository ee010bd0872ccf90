package inbound_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store/memory"
)

type printHandler struct{}

func (printHandler) HandleMessage(_ context.Context, d *inbound.Delivery) error {
	fmt.Println("handed:", d.Message.Subject)
	return nil
}

// Mail pushed to the library: a mailbox of kind push, an Ingester over the
// Poller, and the signed webhook an MTA pipe (cmd/correio-pipe) or a relay
// posts the raw message to.
func ExampleIngester() {
	ctx := context.Background()
	cat := memory.NewCatalog()
	_ = cat.PutMailbox(ctx, &mailbox.Mailbox{ID: "support", Description: "support", Kind: mailbox.Inbound, Enabled: true,
		Address: "support@desk.example", Inbound: &mailbox.InboundSettings{Transport: mailbox.TransportPush}})
	p, _ := inbound.New(inbound.Options{Store: memory.NewInboundStore(), Handler: printHandler{}, Catalog: cat})
	g := inbound.NewIngester(p, inbound.IngestOptions{})

	raw := "From: c@example.com\r\nSubject: printer on fire\r\nMessage-ID: <1@example.com>\r\n\r\nhelp\r\n"
	res, err := g.Ingest(ctx, "support", strings.NewReader(raw))
	fmt.Println(res.Outcome, err)
	res, _ = g.Ingest(ctx, "support", strings.NewReader(raw))
	fmt.Println(res.Outcome)

	wh, _ := inbound.NewWebhook(g, inbound.WebhookOptions{Secret: mailbox.NewSecret("a shared secret of 32 bytes.....")})
	req := httptest.NewRequest(http.MethodPost, "/push?recipient=support@desk.example", strings.NewReader(raw))
	w := httptest.NewRecorder()
	wh.ServeHTTP(w, req) // unsigned
	fmt.Println(w.Code)
	// Output:
	// handed: printer on fire
	// handled <nil>
	// duplicate
	// 400
}
