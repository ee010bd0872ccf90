package relay_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/correio-dev/correio/inbound/relay"
	"github.com/correio-dev/correio/mailbox"
)

// postmarkJSON is a Postmark inbound webhook document shaped as the
// "Inbound webhook" page's example, with RawEmail (present when "Include
// raw email content in JSON payload" is checked).
func postmarkJSON(raw, rcpt string, withRaw bool) []byte {
	m := map[string]any{
		"FromName": "Ana", "MessageStream": "inbound", "From": "ana@customer.test",
		"FromFull": map[string]string{"Email": "ana@customer.test", "Name": "Ana", "MailboxHash": ""},
		"To":       rcpt, "ToFull": []map[string]string{{"Email": rcpt, "Name": "", "MailboxHash": ""}},
		"Cc": "", "CcFull": []any{}, "Bcc": "", "BccFull": []any{},
		"OriginalRecipient": rcpt, "Subject": "help", "MessageID": "73e6d360-66eb-11e1-8e72-a8904824019b",
		"ReplyTo": "", "MailboxHash": "", "Date": "Mon, 2 Mar 2026 10:00:00 +0000",
		"TextBody": "My printer is on fire.", "HtmlBody": "", "StrippedTextReply": "", "Tag": "",
		"Headers": []map[string]string{{"Name": "X-Spam-Status", "Value": "No"}}, "Attachments": []any{},
	}
	if withRaw {
		m["RawEmail"] = raw
	}
	b, _ := json.Marshal(m)
	return b
}

func postmarkReq(body []byte, user, pass string) *http.Request {
	req := post("/inbound/postmark", "application/json", body)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	return req
}

// TestPostmark: basic credentials guard the handler (401, which Postmark
// retries); RawEmail is handed once, a replay is a duplicate; a document
// without RawEmail, malformed JSON, an oversize body and an unknown
// recipient get 403, which stops Postmark's retries; a store failure 503.
func TestPostmark(t *testing.T) {
	e := newEnv(t)
	h, err := relay.NewPostmark(relay.PostmarkOptions{Common: relay.Common{Ingester: e.g, MaxBodySize: 12 << 10}, Username: "postmark", Password: mailbox.NewSecret("pm-pass-123")})
	if err != nil {
		t.Fatal(err)
	}
	body := postmarkJSON(rawMessage("pm1@customer.test", "support@acme.test"), "support@acme.test", true)
	if a := serve(t, h, postmarkReq(body, "", "")); a.code != http.StatusUnauthorized {
		t.Fatalf("no credentials: %d", a.code)
	}
	if a := serve(t, h, postmarkReq(body, "postmark", "nope")); a.code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", a.code)
	}
	e.st.down.Store(true)
	if a := serve(t, h, postmarkReq(body, "postmark", "pm-pass-123")); a.code != http.StatusServiceUnavailable {
		t.Fatalf("store down: %d %q", a.code, a.body)
	}
	e.st.down.Store(false)
	if a := serve(t, h, postmarkReq(body, "postmark", "pm-pass-123")); a.code != http.StatusOK || a.outcomes() != "handled " {
		t.Fatalf("taken: %d %q", a.code, a.body)
	}
	if a := serve(t, h, postmarkReq(body, "postmark", "pm-pass-123")); a.code != http.StatusOK || a.outcomes() != "duplicate " {
		t.Fatalf("replay: %d %q", a.code, a.body)
	}
	for _, c := range []struct {
		name string
		body []byte
		want string
	}{
		{"no RawEmail", postmarkJSON(rawMessage("pm2@customer.test", "support@acme.test"), "support@acme.test", false), "Include raw email content"},
		{"malformed", []byte(`{"RawEmail": 42`), "not a Postmark"},
		{"oversize", postmarkJSON(rawMessage("pm3@customer.test", "support@acme.test")+strings.Repeat("w", 16<<10), "support@acme.test", true), "larger"},
		{"unknown recipient", postmarkJSON(rawMessage("pm4@customer.test", "nobody@acme.test"), "nobody@acme.test", true), "no pushed mailbox"},
	} {
		if a := serve(t, h, postmarkReq(c.body, "postmark", "pm-pass-123")); a.code != http.StatusForbidden || !strings.Contains(a.body, c.want) {
			t.Errorf("%s: %d %q, want 403 %q", c.name, a.code, a.body, c.want)
		}
	}
	// Twice to the Handler (the store failed after the first), once
	// recorded: Delivery.Key lets the host tell.
	if got := e.rec.got(); len(got) != 2 || got[0] != "pm1@customer.test" || got[1] != got[0] {
		t.Fatalf("handed %v", got)
	}
}
