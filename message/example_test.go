package message_test

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/correio-dev/correio/message"
)

func ExampleParse() {
	raw := "From: =?iso-8859-1?Q?Andr=E9?= <andre@example.org>\r\n" +
		"Subject: =?utf-8?Q?Printer_=C3=A0_l'=C3=A9tage?=\r\n" +
		"Message-ID: <q1@example.org>\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n" +
		"\r\n" +
		"--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nIl ne marche plus, voir la pi\xe8ce jointe.\r\n" +
		"--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"../log.txt\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\nZXJyb3IgNDI=\r\n" +
		"--b--\r\n"
	// The poller spools each message; any io.ReaderAt works (*os.File too).
	r := strings.NewReader(raw)
	m, err := message.Parse(r, r.Size(), message.Options{})
	if err != nil {
		fmt.Println("unreadable:", err)
		return
	}
	fmt.Println(m.From[0].Name, "|", m.Subject, "|", m.MessageID)
	fmt.Println(m.Text)
	for _, p := range m.Parts {
		rc, _ := p.Open() // decoded on the fly from the raw message
		body, _ := io.ReadAll(rc)
		rc.Close()
		fmt.Printf("%s %q %s\n", p.ContentType, p.Filename, body)
	}
	// Output:
	// André | Printer à l'étage | q1@example.org
	// Il ne marche plus, voir la pièce jointe.
	// text/plain "log.txt" error 42
}

func ExampleClassify() {
	raw := "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n" +
		"Subject: Undelivered Mail Returned to Sender\r\n" +
		"Auto-Submitted: auto-replied\r\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=R\r\n\r\n" +
		"--R\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n" +
		"--R\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n" +
		"Final-Recipient: rfc822; gone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n" +
		"Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n" +
		"--R\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <sent-42@helpdesk.example.com>\r\n\r\n" +
		"--R--\r\n"
	m, err := message.ParseBytes([]byte(raw), message.Options{})
	if err != nil {
		fmt.Println("unreadable:", err)
		return
	}
	c := message.Classify(m, message.ClassifyOptions{OwnAddresses: []string{"helpdesk@example.com"}})
	fmt.Println(c.Kind, "auto-answer allowed:", c.AutoAnswerAllowed)
	fmt.Println("hard:", c.Bounce.Permanent, "original:", c.Bounce.OriginalMessageID)
	for _, r := range c.Bounce.Recipients {
		fmt.Println(r.Address, r.Action, r.Status, r.ReplyCode)
	}
	// Output:
	// bounce auto-answer allowed: false
	// hard: true original: sent-42@helpdesk.example.com
	// gone@example.org failed 5.1.1 550
}

func ExampleClassify_autoReply() {
	// A Lotus Domino out-of-office notice (no Auto-Submitted) and a TMDA
	// challenge: neither may be answered automatically, and the challenge
	// is not a bounce.
	for _, raw := range []string{
		"From: Carla <carla@example.org>\r\nSubject: AUTO: Carla is out of the office (returning 05/01/2026)\r\n\r\nBack in May.\r\n",
		"From: pat@example.net\r\nSubject: Please confirm your message\r\nAuto-Submitted: auto-replied\r\n" +
			"X-Delivery-Agent: TMDA/1.1.12 (Macallan)\r\n\r\n" +
			"This message was created automatically by mail delivery software (TMDA).\r\n" +
			"Your message is being held until you confirm it.\r\n",
		"From: dora@example.org\r\nSubject: Printer\r\nX-Auto-Response-Suppress: All\r\n\r\nIt is broken.\r\n",
	} {
		m, err := message.ParseBytes([]byte(raw), message.Options{})
		if err != nil {
			fmt.Println("unreadable:", err)
			continue
		}
		c := message.Classify(m, message.ClassifyOptions{})
		fmt.Println(c.Kind, "auto-answer allowed:", c.AutoAnswerAllowed, "bounce:", c.Bounce != nil)
	}
	// Output:
	// auto-reply auto-answer allowed: false bounce: false
	// challenge auto-answer allowed: false bounce: false
	// normal auto-answer allowed: false bounce: false
}

func ExampleCleanHeaderText() {
	// Raw header values (Header.Fields) may hold control characters;
	// decoded text (Subject, display names, DecodeHeaderText) never does.
	fmt.Printf("%q\n", message.CleanHeaderText("Invoice\r\nBcc: victim@example.net\x00"))
	fmt.Printf("%q\n", message.DecodeHeaderText("=?utf-8?q?Hello=0D=0AWorld?="))
	// Output:
	// "Invoice Bcc: victim@example.net"
	// "Hello World"
}

func ExampleAuthenticate() {
	raw := "Authentication-Results: mx.helpdesk.example; dkim=pass header.d=example.org;\r\n" +
		" dmarc=pass (p=reject) header.from=example.org\r\n" +
		"Authentication-Results: attacker.example; dmarc=pass header.from=bank.example\r\n" +
		"From: Ana <ana@example.org>\r\nSubject: Printer\r\n\r\nIt is broken.\r\n"
	// Trust only the authserv-id of our own receiving server; set DKIM to a
	// TXTResolver (a *net.Resolver will do) to verify signatures as well.
	opts := message.AuthOptions{TrustedAuthServIDs: []string{"mx.helpdesk.example"}}
	r := strings.NewReader(raw)
	m, err := message.ParseContext(context.Background(), r, r.Size(), message.Options{Auth: &opts})
	if err != nil {
		fmt.Println("unreadable:", err)
		return
	}
	a := m.Auth
	fmt.Println(a.FromDomain, "authenticated:", a.FromAuthenticated, "by", a.Method, "untrusted fields:", a.Untrusted)
	// Output:
	// example.org authenticated: true by dmarc untrusted fields: 1
}

func ExampleDecodeDamage() {
	raw := "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
		"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=log.txt\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\nZXJy#b3IgNDI=\r\n--b--\r\n"
	m, err := message.ParseBytes([]byte(raw), message.Options{})
	if err != nil {
		fmt.Println("unreadable:", err)
		return
	}
	rc, _ := m.Parts[0].Open()
	body, _ := io.ReadAll(rc)
	rc.Close()
	fmt.Printf("%s (%d damaged spot skipped)\n", body, message.DecodeDamage(rc))
	// Output:
	// error 42 (1 damaged spot skipped)
}
