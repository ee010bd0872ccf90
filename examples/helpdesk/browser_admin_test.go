package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
)

// TestBrowserAdminActions drives the operations an administrator uses:
// a placeholder host refused beside its field, an email step error shown
// once beside its field in Portuguese, a paginated list, delete with its
// confirmation, retry now and cancel of queued mail, and a quarantined
// message released.
func TestBrowserAdminActions(t *testing.T) {
	ctx := newBrowser(t)
	ms := newMailServers(t)
	e, eng := newSQLEngineEnv(t)
	e.app.pageSize = 1
	srv := httptest.NewServer(e.app)
	t.Cleanup(srv.Close)
	shots := t.TempDir()
	u, do, text := pageSteps(t, ctx, srv.URL)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	// A placeholder host is refused beside the host field.
	do("an outbound mailbox on smtp.example.com",
		chromedp.Navigate(u("/mailboxes/new?lang=en&kind=outbound")),
		chromedp.SendKeys(css("#f-description"), "Copied from the docs"),
		chromedp.SendKeys(css("#f-outbound-server-host"), "smtp.example.com"),
		chromedp.SendKeys(css("#f-outbound-server-port"), "25"),
		chromedp.SendKeys(css("#f-outbound-from-address"), "support@acme.com.br"),
		chromedp.Click(css("#save")),
		chromedp.WaitVisible(css("#f-outbound-server-host-err")),
	)
	if got := text("#f-outbound-server-host-err"); !strings.Contains(got, "example host") {
		t.Fatalf("host error %q", got)
	}
	screenshot(t, ctx, shots, "placeholder-host")

	m := outMailbox(t, e, ms)
	if err := e.cat.SetSystemMailbox(context.Background(), m.ID); err != nil {
		t.Fatal(err)
	}
	// An email step with a broken subject template: once, beside the
	// subject, in Portuguese.
	do("a broken template",
		chromedp.Navigate(u("/workflow?lang=pt-BR")),
		chromedp.Click(css("#choice-system")),
		chromedp.SetValue(css("#f-subject"), "Pedido {{.Request"),
		chromedp.Click(css("#send-test")),
		chromedp.WaitVisible(css("#f-subject-err")),
	)
	if got := text("#f-subject-err"); !strings.HasPrefix(got, "Este modelo é inválido") {
		t.Fatalf("subject error %q", got)
	}
	body := text("body")
	if n := strings.Count(body, "Este modelo é inválido"); n != 1 || strings.Contains(body, "template:") {
		t.Fatalf("the error is shown %d times, or raw:\n%s", n, body)
	}
	screenshot(t, ctx, shots, "workflow-error-pt")

	// Two contracts, one per page: Next shows the second.
	for _, n := range []string{"Alpha", "Beta"} {
		if err := e.cat.PutContract(context.Background(), &contract.Contract{ID: contract.ID("ct-" + strings.ToLower(n)), Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	do("the contracts, page 1", chromedp.Navigate(u("/contracts?lang=en")), chromedp.WaitVisible(css("#contracts")))
	if got := text("#contracts tbody"); !strings.Contains(got, "Alpha") || strings.Contains(got, "Beta") {
		t.Fatalf("page 1: %q", got)
	}
	do("next page", chromedp.Click(css(".pager a.next")), chromedp.WaitVisible(css(`tr[data-contract="ct-beta"]`)))
	if got := text(".pager"); !strings.Contains(got, "Page 2 of 2") {
		t.Fatalf("pager %q", got)
	}
	// Delete asks first; Cancel keeps it, Delete removes it.
	do("delete Beta: the confirmation",
		chromedp.Click(css(`tr[data-contract="ct-beta"] a.delete`)),
		chromedp.WaitVisible(css("#confirm")),
	)
	if got := text("#confirm"); !strings.Contains(got, "Delete Beta? This cannot be undone.") {
		t.Fatalf("confirmation %q", got)
	}
	screenshot(t, ctx, shots, "confirm-delete")
	do("cancel", chromedp.Click(css("#confirm-cancel")), chromedp.WaitVisible(css("#contracts")))
	if _, ok := e.cat.Contract("ct-beta"); !ok {
		t.Fatal("deleted by Cancel")
	}
	do("delete for real",
		chromedp.Navigate(u("/contracts/ct-beta/delete")),
		chromedp.Click(css("#confirm-delete")),
		chromedp.WaitVisible(css("#contracts")),
	)
	if _, ok := e.cat.Contract("ct-beta"); ok {
		t.Fatal("not deleted once confirmed")
	}

	// Queued mail: retry now sends it, cancel keeps it from being sent.
	e.app.pageSize = 25
	deferred(t, eng, "ob-retry", m.ID, "Retry me")
	deferred(t, eng, "ob-cancel", m.ID, "Cancel me")
	do("retry now",
		chromedp.Navigate(u("/messages?lang=en")),
		chromedp.WaitVisible(css(`[data-outbox="ob-retry"] button.retry`)),
	)
	screenshot(t, ctx, shots, "queued-actions")
	do("click retry", chromedp.Click(css(`[data-outbox="ob-retry"] button.retry`)), chromedp.WaitVisible(css("p.flash")))
	if got := text("body"); !strings.Contains(got, "The message will be sent now.") {
		t.Fatalf("no notice after retry: %q", got)
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if got, err := ms.smtp.WaitMessages(wctx, 1); err != nil || !strings.Contains(string(got[0].Data), "Retry me") {
		t.Fatalf("retried message not sent: %v", err)
	}
	do("cancel sending",
		chromedp.Click(css(`[data-outbox="ob-cancel"] a.cancel`)),
		chromedp.WaitVisible(css("#confirm")),
		chromedp.Click(css("#confirm-delete")),
		chromedp.WaitVisible(css("#quarantine")),
	)
	// The confirmation posts a form: wait for its effect, not for a page.
	var rec *store.OutboxRecord
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if rec, _ = eng.outbox.Get(context.Background(), "ob-cancel"); rec != nil && rec.State == store.Dead {
			break
		}
	}
	if rec == nil || rec.State != store.Dead {
		t.Fatalf("cancelled record is %+v", rec)
	}

	// A quarantined message, released: handed to the helpdesk.
	raw := "From: Bia <bia@cliente.com.br>\r\nSubject: Held back\r\nMessage-ID: <h1@cliente.com.br>\r\n\r\nHi\r\n"
	in := &mailbox.Mailbox{ID: "mb-in", Description: "Support inbox", Kind: mailbox.Inbound,
		Inbound: &mailbox.InboundSettings{Server: mailbox.Server{Host: "imap.acme.com.br"},
			Credentials: mailbox.Credentials{Username: "support", Password: mailbox.NewSecret("pw")}}}
	if err := e.cat.PutMailbox(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if err := e.st.Inbound().Quarantine(context.Background(), store.QuarantineItem{Mailbox: in.ID, Folder: "INBOX", Key: "k1",
		UIDValidity: 1, UID: 1, Size: int64(len(raw)), Reason: "handler refused", At: time.Now()}, strings.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	do("release", chromedp.Navigate(u("/messages")), chromedp.WaitVisible(css("#quarantine button.release")),
		chromedp.Click(css("#quarantine button.release")), chromedp.WaitVisible(css("p.flash")))
	if got := text("body"); !strings.Contains(got, "The message was released") || !strings.Contains(got, "Held back") {
		t.Fatalf("release: %q", got)
	}
	if got := text("#quarantine"); !strings.Contains(got, tr(langEN, "messages.quarantine.empty")) {
		t.Fatalf("quarantine after release: %q", got)
	}
	screenshot(t, ctx, shots, "released")
}
