package message

import (
	"strings"
	"testing"
)

const dsn = "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n" +
	"To: helpdesk@example.com\r\n" +
	"Subject: Undelivered Mail Returned to Sender\r\n" +
	"Auto-Submitted: auto-replied\r\n" +
	"Content-Type: multipart/report; report-type=delivery-status; boundary=\"R\"\r\n" +
	"\r\n" +
	"--R\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not be delivered.\r\n" +
	"--R\r\nContent-Type: message/delivery-status\r\n\r\n" +
	"Reporting-MTA: dns; mx.example.net\r\nArrival-Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n" +
	"Final-Recipient: rfc822; <gone@example.org>\r\nOriginal-Recipient: rfc822;gone@example.org\r\nAction: failed\r\nStatus: 5.0.0\r\n" +
	"Remote-MTA: dns; mail.example.org\r\nDiagnostic-Code: smtp; 550 5.1.1 <gone@example.org>: Recipient\r\n address rejected: User unknown\r\n\r\n" +
	"Final-Recipient: rfc822; full@example.org\r\nAction: delayed\r\nStatus: 4.2.2\r\n\r\n" +
	"--R\r\nContent-Type: text/rfc822-headers\r\n\r\n" +
	"From: helpdesk@example.com\r\nMessage-ID: <sent-42@example.com>\r\nSubject: Your ticket\r\n\r\n" +
	"--R--\r\n"

func TestDeliveryStatusReport(t *testing.T) {
	m := mustParse(t, dsn, Options{})
	if m.ReportType != "delivery-status" || m.Report == nil {
		t.Fatalf("report type %q, report %v", m.ReportType, m.Report)
	}
	if got := m.Report.Fields.Get("Reporting-MTA"); got != "dns; mx.example.net" {
		t.Errorf("Reporting-MTA %q", got)
	}
	rs := m.Report.Recipients
	if len(rs) != 2 {
		t.Fatalf("%d recipients", len(rs))
	}
	r := rs[0]
	if r.FinalRecipient != "gone@example.org" || r.OriginalRecipient != "gone@example.org" || r.Action != "failed" ||
		r.Status != "5.0.0" || r.RemoteMTA != "mail.example.org" ||
		r.DiagnosticCode != "550 5.1.1 <gone@example.org>: Recipient address rejected: User unknown" {
		t.Errorf("recipient 1 = %+v", r)
	}
	c := Classify(m, ClassifyOptions{})
	if c.Kind != KindBounce || c.AutoAnswerAllowed {
		t.Fatalf("kind %s allowed %v signals %v", c.Kind, c.AutoAnswerAllowed, c.Signals)
	}
	b := c.Bounce
	if b.Format != "rfc3464" || !b.Permanent || b.Status != "5.1.1" || b.OriginalMessageID != "sent-42@example.com" {
		t.Errorf("bounce = %+v", b)
	}
	if len(b.Recipients) != 2 || b.Recipients[0].ReplyCode != "550" || !b.Recipients[0].Permanent ||
		b.Recipients[1].Permanent || b.Recipients[1].Status != "4.2.2" {
		t.Errorf("recipients = %+v", b.Recipients)
	}
}

func TestClassify(t *testing.T) {
	own := ClassifyOptions{OwnAddresses: []string{"Helpdesk@Example.com"}}
	tests := []struct {
		name    string
		raw     string
		opts    ClassifyOptions
		kind    Kind
		allowed bool
		hard    bool
	}{
		{"person", "From: alice@example.org\nSubject: printer broken\n\nIt does not print.\n", own, KindNormal, true, false},
		{"dsn with auto-submitted is a bounce", dsn, own, KindBounce, false, true},
		{"rfc3834", "From: bob@example.org\nAuto-Submitted: auto-replied\nSubject: Re: hi\n\nAway.\n", own, KindAutoReply, false, false},
		{"auto-submitted no", "From: bob@example.org\nAuto-Submitted: no\nSubject: hi\n\nHello.\n", own, KindNormal, true, false},
		{"x-autoreply", "From: bob@example.org\nX-Autoreply: yes\nSubject: hi\n\nAway.\n", own, KindAutoReply, false, false},
		// [MS-OXCMAIL] 2.1.3.2.20: X-Auto-Response-Suppress asks not to be
		// answered; ordinary Outlook mail carries it too.
		{"exchange suppress alone", "From: bob@example.org\nX-Auto-Response-Suppress: All\nSubject: hi\n\nPlease help.\n", own, KindNormal, false, false},
		{"precedence auto_reply", "From: bob@example.org\nPrecedence: auto_reply\nSubject: hi\n\nx\n", own, KindAutoReply, false, false},
		{"out of office subject", "From: bob@example.org\nSubject: Out of Office: back Monday\n\nx\n", own, KindAutoReply, false, false},
		{"list", "From: news@example.org\nList-Id: <news.example.org>\nSubject: News\n\nx\n", own, KindList, false, false},
		{"bulk", "From: news@example.org\nPrecedence: bulk\nSubject: News\n\nx\n", own, KindList, false, false},
		{"loop by header", "From: alice@example.org\nX-Correio-Loop: 1\nSubject: x\n\nx\n", own, KindLoop, false, false},
		{"loop by custom header", "From: alice@example.org\nX-Our-Loop: 1\nSubject: x\n\nx\n", ClassifyOptions{LoopHeader: "X-Our-Loop"}, KindLoop, false, false},
		{"loop by own address", "From: helpdesk@example.com\nSubject: x\n\nx\n", own, KindLoop, false, false},
		{"loop beats auto-reply", "From: helpdesk@example.com\nAuto-Submitted: auto-replied\nSubject: x\n\nx\n", own, KindLoop, false, false},
		{"exim non-dsn", "From: Mail Delivery System <Mailer-Daemon@mx.example.net>\nX-Failed-Recipients: gone@example.org\n" +
			"Auto-Submitted: auto-replied\nSubject: Mail delivery failed: returning message to sender\n\n" +
			"This message was created automatically by mail delivery software.\n\nA message that you sent could not be delivered to one or more of its\n" +
			"recipients. This is a permanent error. The following address(es) failed:\n\n  gone@example.org\n" +
			"    host mx.example.org [192.0.2.1]: 550 5.1.1 <gone@example.org>: User unknown\n\n" +
			"------ This is a copy of the message, including all the headers. ------\n\nMessage-ID: <sent-7@example.com>\nSubject: x\n\nhi\n",
			own, KindBounce, false, true},
		{"qmail soft", "From: MAILER-DAEMON@mx.example.net\nSubject: failure notice\n\nHi. This is the qmail-send program at mx.example.net.\n" +
			"I'm afraid I wasn't able to deliver your message to the following addresses.\nThis is a permanent error; I've given up. Sorry it didn't work out.\n\n" +
			"<full@example.org>:\n452 4.2.2 Mailbox full\n", own, KindBounce, false, false},
		{"person writing about a failed delivery", "From: alice@example.org\nSubject: my mail to bob was not delivered\n\n" +
			"Hi, I sent a mail to bob@example.org yesterday but got an error. Can you check?\n", own, KindNormal, true, false},
		{"delay warning", strings.Replace(strings.Replace(dsn, "Action: failed", "Action: delayed", 1), "Status: 5.0.0", "Status: 4.4.7", 1), own, KindDeliveryReport, false, false},
		{"feedback report", "From: abuse@isp.example\nContent-Type: multipart/report; report-type=feedback-report; boundary=F\n\n--F\n" +
			"Content-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: x/1\nVersion: 1\n\n--F--\n", own, KindFeedback, false, false},
		{"read receipt", "From: bob@example.org\nContent-Type: multipart/report; report-type=disposition-notification; boundary=F\n\n--F\n" +
			"Content-Type: message/disposition-notification\n\nFinal-Recipient: rfc822; bob@example.org\nDisposition: manual-action/MDN-sent-manually; displayed\n\n--F--\n",
			own, KindAutoReply, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.raw, Options{})
			c := Classify(m, tt.opts)
			if c.Kind != tt.kind || c.AutoAnswerAllowed != tt.allowed {
				t.Fatalf("kind %s allowed %v, want %s %v (signals %v)", c.Kind, c.AutoAnswerAllowed, tt.kind, tt.allowed, c.Signals)
			}
			if c.Kind == KindBounce && c.Bounce.Permanent != tt.hard {
				t.Errorf("permanent %v, want %v (%+v)", c.Bounce.Permanent, tt.hard, c.Bounce)
			}
		})
	}
}

func TestClassifyHeuristicDetails(t *testing.T) {
	raw := "From: Mail Delivery System <Mailer-Daemon@mx.example.net>\nX-Failed-Recipients: gone@example.org\n" +
		"Subject: Mail delivery failed\n\nA message that you sent could not be delivered.\n\n  gone@example.org\n" +
		"    host mx.example.org [192.0.2.1]: 550 5.1.1 <gone@example.org>: User unknown\n\n" +
		"------ This is a copy of the message, including all the headers. ------\n\nMessage-ID: <sent-7@example.com>\nSubject: x\n\nhi\n"
	c := Classify(mustParse(t, raw, Options{}), ClassifyOptions{})
	b := c.Bounce
	if b == nil || b.OriginalMessageID != "sent-7@example.com" || b.Status != "5.1.1" || len(b.Recipients) != 1 ||
		b.Recipients[0].Address != "gone@example.org" || b.Recipients[0].ReplyCode != "550" {
		t.Fatalf("bounce = %+v", b)
	}
	if Classify(nil, ClassifyOptions{}).Kind != KindNormal {
		t.Error("nil message")
	}
}

// A plain-text failure notice is a bounce when the mail system sent it; the
// same text forwarded by a person is that person's message to us.
func TestBounceNeedsAHeaderSign(t *testing.T) {
	body := "This is the mail system at host mx.example.net.\r\n\r\n" +
		"I'm sorry to have to inform you that your message could not\r\nbe delivered to one or more recipients.\r\n\r\n" +
		"<nobody@customer.example>: host mx.customer.example said: 550 5.1.1\r\n    <nobody@customer.example>: Recipient address rejected: User unknown\r\n"
	fromDaemon := "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\nTo: desk@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\n" + body
	forwarded := "From: Ana <ana@example.com>\r\nTo: desk@example.com\r\nSubject: Fwd: my mail to the supplier\r\n\r\nI got this, can you help?\r\n\r\n" + body
	c := Classify(mustParse(t, fromDaemon, Options{}), ClassifyOptions{})
	if c.Kind != KindBounce || c.Bounce == nil || len(c.Bounce.Recipients) == 0 || c.Bounce.Recipients[0].Status != "5.1.1" {
		t.Fatalf("daemon notice: kind %v bounce %+v", c.Kind, c.Bounce)
	}
	c = Classify(mustParse(t, forwarded, Options{}), ClassifyOptions{})
	if c.Kind != KindNormal || !c.AutoAnswerAllowed {
		t.Fatalf("forwarded by a person: kind %v signals %v", c.Kind, c.Signals)
	}
}
