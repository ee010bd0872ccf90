package message_test

import (
	"fmt"
	"strings"

	"github.com/correio-dev/correio/message"
)

func ExampleExtractReply() {
	body := "Obrigado, já funcionou.\n\n" +
		"Enviado do meu iPhone\n\n" +
		"Em 3 de mar. de 2026, às 10:15, Central de Serviços <central@example.com.br> escreveu:\n\n" +
		"> Olá Ana,\n> reinicie o roteador e nos diga se resolveu.\n"
	r := message.ExtractReply(body)
	fmt.Printf("%q\n", r.Text)
	fmt.Printf("%q\n", r.Signature)
	fmt.Println(r.Confidence, r.By)
	// Output:
	// "Obrigado, já funcionou."
	// "Enviado do meu iPhone"
	// high attribution
}

func ExampleReplyMarkerFor() {
	// The outbound side puts the marker at the top of what it sends ...
	sent := message.ReplyMarkerFor("pt-BR") + "\n\nOlá Ana, seu chamado 42 foi aberto."
	// ... and the customer's client quotes it under any attribution line.
	reply := "Pode fechar, obrigado!\n\nOn Tue, 3 Mar 2026 at 10:15 Desk <desk@example.com> wrote:\n> " +
		strings.ReplaceAll(sent, "\n", "\n> ")
	r := message.ExtractReply(reply)
	fmt.Println(r.Text, "|", r.Confidence, r.By)
	// Output: Pode fechar, obrigado! | high marker
}

func ExampleExtractReplyHTML() {
	html := `<div dir="ltr">Works now, thanks!</div><br>` +
		`<div class="gmail_quote"><div class="gmail_attr">On Tue, Mar 3, 2026 at 10:15 AM Desk &lt;desk@example.com&gt; wrote:</div>` +
		`<blockquote class="gmail_quote">Please restart the router.</blockquote></div>`
	r := message.ExtractReplyHTML(html)
	fmt.Println(r.Text, "|", r.Confidence, r.By)
	// Output: Works now, thanks! | high html-quote
}

func ExampleMessage_SafeHTML() {
	raw := "From: ana@example.com\r\nSubject: screenshot\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/related; boundary=r\r\n\r\n" +
		"--r\r\nContent-Type: text/html\r\n\r\n" +
		`<p onclick="steal()">See <img src="cid:shot@ana"> and <img src="https://tracker.example/p.gif" alt="logo"></p><script>steal()</script>` + "\r\n" +
		// Outlook: an inline image with a Content-ID and no Content-Disposition.
		"--r\r\nContent-Type: image/png\r\nContent-ID: <shot@ana>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n" +
		"--r--\r\n"
	m, _ := message.ParseBytes([]byte(raw), message.Options{})
	safe := m.SafeHTML(message.HTMLOptions{
		BlockRemoteImages: true,
		// The host serves inline parts itself, e.g. by Content-ID.
		PartURL: func(p *message.Part) string { return "/messages/123/cid/" + p.ContentID },
	})
	fmt.Println(safe.HTML)
	fmt.Println("remote images blocked:", safe.RemoteImagesBlocked, "inline:", len(safe.Inline))
	// Output:
	// <p>See <img src="/messages/123/cid/shot@ana"/> and [logo]</p>
	// remote images blocked: 1 inline: 1
}

func ExampleMessage_PlainText() {
	raw := "From: ana@example.com\r\nSubject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		"<p>Olá,</p><p>a impressora <b>parou</b>.</p>\r\n"
	m, _ := message.ParseBytes([]byte(raw), message.Options{})
	fmt.Println(m.PlainText())
	// Output:
	// Olá,
	//
	// a impressora *parou*.
}
