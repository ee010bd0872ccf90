package inbound_test

import (
	"context"
	"testing"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/message"
	"github.com/correio-dev/correio/store/memory"
)

// TestDeliveryFromAuthenticated checks that Options.Parse.Auth reaches the
// Delivery: the receiving server's trusted result authenticates the From
// domain, a result forged under another authserv-id does not.
func TestDeliveryFromAuthenticated(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("desk", "pw-desk")
	srv.Append("desk", "INBOX", []byte("Authentication-Results: mx.helpdesk.example; dmarc=pass header.from=example.org\r\n"+
		"From: ana@example.org\r\nSubject: real\r\nMessage-ID: <a1@example.org>\r\n\r\nhello\r\n"))
	srv.Append("desk", "INBOX", []byte("Authentication-Results: mx.attacker.example; dmarc=pass header.from=bank.example\r\n"+
		"From: ceo@bank.example\r\nSubject: forged\r\nMessage-ID: <a2@example.org>\r\n\r\npay now\r\n"))
	m := mb("desk", "desk", srv.Host(), srv.Port())
	rec := newRecorder()
	got := map[string]*inbound.Delivery{}
	rec.hook = func(d *inbound.Delivery) error {
		rec.mu.Lock()
		got[d.Message.MessageID] = d
		rec.mu.Unlock()
		return nil
	}
	o := fastOptions(memory.NewInboundStore(), rec)
	o.Parse.Auth = &message.AuthOptions{TrustedAuthServIDs: []string{"mx.helpdesk.example"}}
	cat := memory.NewCatalog()
	if err := cat.PutMailbox(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	o.Catalog = cat
	start(t, o, m)
	eventually(t, "2 handed", func() bool { return rec.count("desk") == 2 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if d := got["a1@example.org"]; !d.FromAuthenticated || d.Auth == nil || d.Auth.Method != message.AuthDMARC {
		t.Errorf("trusted result: authenticated %v auth %+v", d.FromAuthenticated, d.Auth)
	}
	if d := got["a2@example.org"]; d.FromAuthenticated || d.Auth == nil || d.Auth.Untrusted != 1 {
		t.Errorf("forged result: authenticated %v auth %+v", d.FromAuthenticated, d.Auth)
	}
}
