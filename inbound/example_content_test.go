package inbound_test

import (
	"fmt"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/message"
)

func ExampleDelivery_ReplyText() {
	raw := "From: ana@example.com\r\nSubject: Re: [#REQ-42] VPN\r\nIn-Reply-To: <42@desk.example.com>\r\n\r\n" +
		"Resolvido, obrigado.\r\n\r\n" +
		"Em ter., 3 de mar. de 2026 às 10:15, Central <central@example.com> escreveu:\r\n" +
		"> " + message.ReplyMarkerFor("pt-BR") + "\r\n> Olá Ana, reinicie o cliente VPN.\r\n"
	m, _ := message.ParseBytes([]byte(raw), message.Options{})
	// In a Handler the poller fills the Delivery; here it is built by hand.
	d := &inbound.Delivery{Message: m}
	r := d.ReplyText()
	// Store r.Text as the ticket comment; keep r.Full for "show quoted text".
	fmt.Println(r.Text, "|", r.Confidence, r.By)
	fmt.Println(d.SafeHTML(message.HTMLOptions{}).HTML[:40])
	// Output:
	// Resolvido, obrigado. | high marker
	// <div style="white-space: pre-wrap">Resol
}
