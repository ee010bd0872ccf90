package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
)

// TestBrowserChecksInPortuguese drives the checks on save in Portuguese:
// a port typed in the host field, an overlong description and contract
// name, and an email step with a bad address and an overlong title, each
// error once, translated, beside its field.
func TestBrowserChecksInPortuguese(t *testing.T) {
	ctx := newBrowser(t)
	e := newTestEnv(t, nil)
	srv := httptest.NewServer(e.app)
	t.Cleanup(srv.Close)
	shots := t.TempDir()
	u, do, text := pageSteps(t, ctx, srv.URL)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	do("an outbound mailbox with the port in the host",
		chromedp.Navigate(u("/mailboxes/new?lang=pt-BR&kind=outbound")),
		chromedp.SetValue(css("#f-description"), strings.Repeat("Caixa de saída ", 14)), // 210 characters
		chromedp.SendKeys(css("#f-outbound-server-host"), "smtp.acme.com.br:587"),
		chromedp.SendKeys(css("#f-outbound-credentials-username"), "mailer"),
		chromedp.SendKeys(css("#f-outbound-credentials-password"), "pw"),
		chromedp.SendKeys(css("#f-outbound-from-address"), "suporte@acme.com.br"),
		chromedp.Click(css("#save")),
		chromedp.WaitVisible(css("#f-outbound-server-host-err")),
	)
	if got, want := text("#f-outbound-server-host-err"), tr(langPT, "err.host_port"); got != want {
		t.Errorf("host error %q, want %q", got, want)
	}
	if got, want := text("#f-description-err"), tr(langPT, "err.too_long", maxDescription); got != want {
		t.Errorf("description error %q, want %q", got, want)
	}
	if got := text("#error-summary"); !strings.Contains(got, "Saída · Servidor") && !strings.Contains(got, tr(langPT, "err.host_port")) {
		t.Errorf("summary %q", got)
	}
	screenshot(t, ctx, shots, "host-port-pt")
	if n := len(e.cat.Mailboxes()); n != 0 {
		t.Fatalf("%d mailboxes saved", n)
	}

	do("a contract name too long",
		chromedp.Navigate(u("/contracts/new?lang=pt-BR")),
		chromedp.SetValue(css("#f-name"), strings.Repeat("Contrato ", 15)),
		chromedp.Click(css("#save")),
		chromedp.WaitVisible(css("#f-name-err")),
	)
	if got, want := text("#f-name-err"), tr(langPT, "err.too_long", maxContractName); got != want {
		t.Errorf("contract name error %q, want %q", got, want)
	}

	do("an email step with a bad address and a long title",
		chromedp.Navigate(u("/workflow?lang=pt-BR")),
		chromedp.SetValue(css("#f-addresses"), "fin@cliente.com.br\nnão é endereço"),
		chromedp.SetValue(css("#f-title"), strings.Repeat("Impressora travada ", 11)),
		chromedp.Click(css(`button[value="save"]`)),
		chromedp.WaitVisible(css("#step-not-saved")),
	)
	if got, want := text("#f-addresses-err"), tr(langPT, "err.bad_address_lines", "não é endereço"); got != want {
		t.Errorf("addresses error %q, want %q", got, want)
	}
	if got, want := text("#f-title-err"), tr(langPT, "err.too_long", maxTitle); got != want {
		t.Errorf("title error %q, want %q", got, want)
	}
	body := text("body")
	if n := strings.Count(body, tr(langPT, "err.too_long", maxTitle)); n != 1 {
		t.Errorf("the title error is shown %d times", n)
	}
	if !strings.Contains(body, tr(langPT, "wf.notsaved")) || strings.Contains(body, "Too long") || strings.Contains(body, "Not an e-mail") || strings.Contains(body, "addr-spec") {
		t.Errorf("no notice, or English or raw text on the page:\n%s", body)
	}
	screenshot(t, ctx, shots, "workflow-checks-pt")
	if e.app.savedStep(context.Background()) != nil {
		t.Fatal("the refused step was saved")
	}

	// The same in English, for an inbound mailbox.
	do("an inbound mailbox with a URL in the host",
		chromedp.Navigate(u("/mailboxes/new?lang=en&kind=inbound")),
		chromedp.SendKeys(css("#f-description"), "Support inbox"),
		chromedp.SendKeys(css("#f-inbound-server-host"), "imaps://imap.acme.com.br"),
		chromedp.SendKeys(css("#f-inbound-credentials-username"), "support"),
		chromedp.SendKeys(css("#f-inbound-credentials-password"), "pw"),
		chromedp.Click(css("#save")),
		chromedp.WaitVisible(css("#f-inbound-server-host-err")),
	)
	if got, want := text("#f-inbound-server-host-err"), tr(langEN, "err.host_url"); got != want {
		t.Errorf("host error %q, want %q", got, want)
	}
	screenshot(t, ctx, shots, "host-url-en")
}

// TestBrowserPagesAndDeleteInPortuguese follows the pagination links of
// the mailbox list and of a contract's sent mail, and deletes a mailbox
// through its confirmation, in Portuguese.
func TestBrowserPagesAndDeleteInPortuguese(t *testing.T) {
	ctx := newBrowser(t)
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var log MessageLog
	for i := range 3 {
		log.Sent = append(log.Sent, SentItem{At: t0.Add(time.Duration(i) * time.Minute), Contract: "ct-acme",
			Subject: fmt.Sprintf("Pedido %d", i), State: "sent", To: []string{"bia@cliente.com.br"}})
	}
	e := newTestEnv(t, nil)
	e.app.engine = logEngine{Engine: e.app.engine, log: log}
	e.app.pageSize = 2
	for i, d := range []string{"Caixa A", "Caixa B", "Caixa C"} {
		m := &mailbox.Mailbox{ID: mailbox.ID(fmt.Sprintf("mb-%d", i)), Description: d, Kind: mailbox.Inbound, Enabled: true,
			Inbound: &mailbox.InboundSettings{Server: mailbox.Server{Host: "imap.acme.com.br"},
				Credentials: mailbox.Credentials{Username: "u", Password: mailbox.NewSecret("pw")}}}
		if err := e.cat.PutMailbox(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.cat.PutContract(context.Background(), &contract.Contract{ID: "ct-acme", Name: "ACME"}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.app)
	t.Cleanup(srv.Close)
	shots := t.TempDir()
	u, do, text := pageSteps(t, ctx, srv.URL)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	do("the mailboxes, page 1", chromedp.Navigate(u("/mailboxes?lang=pt-BR")), chromedp.WaitVisible(css("#mailboxes")))
	if got := text("#mailboxes tbody"); !strings.Contains(got, "Caixa B") || strings.Contains(got, "Caixa C") {
		t.Fatalf("page 1: %q", got)
	}
	if got := text(".pager"); !strings.Contains(got, "Página 1 de 2 (3 no total)") || !strings.Contains(got, "Próxima") {
		t.Fatalf("pager %q", got)
	}
	do("Próxima", chromedp.Click(css(".pager a.next")), chromedp.WaitVisible(css(`tr[data-mailbox="mb-2"]`)))
	screenshot(t, ctx, shots, "mailboxes-page2-pt")
	do("Anterior", chromedp.Click(css(".pager a.prev")), chromedp.WaitVisible(css(`tr[data-mailbox="mb-0"]`)))

	// Delete asks first: Cancelar keeps the mailbox, Excluir removes it.
	do("delete Caixa A: the confirmation",
		chromedp.Click(css(`tr[data-mailbox="mb-0"] a.delete`)),
		chromedp.WaitVisible(css("#confirm")),
	)
	if got := text("#confirm"); !strings.Contains(got, "Excluir Caixa A? Não é possível desfazer.") || !strings.Contains(got, "Cancelar") {
		t.Fatalf("confirmation %q", got)
	}
	screenshot(t, ctx, shots, "confirm-delete-pt")
	do("Cancelar", chromedp.Click(css("#confirm-cancel")), chromedp.WaitVisible(css("#mailboxes")))
	if _, ok := e.cat.Mailbox("mb-0"); !ok {
		t.Fatal("deleted by Cancelar")
	}
	do("Excluir",
		chromedp.Click(css(`tr[data-mailbox="mb-0"] a.delete`)),
		chromedp.WaitVisible(css("#confirm")),
		chromedp.Click(css("#confirm-delete")),
		chromedp.WaitVisible(css("p.flash")),
	)
	if _, ok := e.cat.Mailbox("mb-0"); ok {
		t.Fatal("not deleted once confirmed")
	}
	if got := text("p.flash"); got != tr(langPT, "common.deleted") {
		t.Errorf("flash %q", got)
	}

	// A contract's sent mail: the overview's first page, then its own view.
	do("the messages", chromedp.Navigate(u("/messages?lang=pt-BR")), chromedp.WaitVisible(css(`section[data-contract="ct-acme"] table.sent`)))
	if got := text(`section[data-contract="ct-acme"] table.sent`); !strings.Contains(got, "Pedido 2") || strings.Contains(got, "Pedido 0") {
		t.Fatalf("overview: %q", got)
	}
	do("the next sent page",
		chromedp.Click(css(`section[data-contract="ct-acme"] nav[aria-label="Páginas das mensagens enviadas"] a.next`)),
		chromedp.WaitVisible(css("#all-contracts")),
	)
	if got := text(`section[data-contract="ct-acme"] table.sent`); !strings.Contains(got, "Pedido 0") || strings.Contains(got, "Pedido 2") {
		t.Fatalf("sent page 2: %q", got)
	}
	screenshot(t, ctx, shots, "messages-contract-page2-pt")
	do("back to all contracts", chromedp.Click(css("#all-contracts")), chromedp.WaitVisible(css("#quarantine")))
}

// TestBrowserEmailStepSurvivesRestart sets the email step up in the
// browser (the specific mailbox, users, a group, other addresses), saves
// it, restarts the command on the same SQLite file and finds it as saved.
func TestBrowserEmailStepSurvivesRestart(t *testing.T) {
	ctx := newBrowser(t)
	t.Setenv("HELPDESK_SECRET_KEY", "")
	db := filepath.Join(t.TempDir(), "h.db")
	base, stop := startRun(t, "-db", db)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.PostForm(base+"/mailboxes/new", outboundForm())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("mailbox: %s", res.Status)
	}
	shots := t.TempDir()
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	u, do, text := pageSteps(t, ctx, base)
	do("set the step up",
		chromedp.Navigate(u("/workflow?lang=pt-BR")),
		chromedp.WaitVisible(css("#workflow-form")),
		chromedp.Click(css("#choice-specific")),
	)
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#f-mailbox-id option[value^='mb-']").value`))
	if err != nil || id == "" {
		t.Fatalf("no outbound mailbox offered: %v", err)
	}
	do("choose and save",
		chromedp.SetValue(css("#f-mailbox-id"), id),
		chromedp.Click(css(`input[name="users"][value="bruno"]`)),
		chromedp.Click(css(`input[name="groups"][value="approvers"]`)),
		chromedp.SetValue(css("#f-addresses"), "financeiro@cliente.com.br"),
		chromedp.SetValue(css("#f-name"), "Aviso ao cliente"),
		chromedp.Click(css(`button[value="save"]`)),
		chromedp.WaitVisible(css("p.flash")),
	)
	if got := text("p.flash"); got != tr(langPT, "common.saved") {
		t.Fatalf("flash %q", got)
	}
	stop()

	base, stop = startRun(t, "-db", db)
	defer stop()
	u, do, _ = pageSteps(t, ctx, base)
	do("after the restart", chromedp.Navigate(u("/workflow?lang=pt-BR")), chromedp.WaitVisible(css("#workflow-form")))
	got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`({
		choice: document.querySelector("input[name=choice]:checked").value,
		mailbox: document.querySelector("#f-mailbox-id").value,
		users: Array.from(document.querySelectorAll("input[name=users]:checked")).map(e => e.value).join(","),
		groups: Array.from(document.querySelectorAll("input[name=groups]:checked")).map(e => e.value).join(","),
		addresses: document.querySelector("#f-addresses").value,
		name: document.querySelector("#f-name").value,
	})`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"choice": "specific", "mailbox": id, "users": "ana,bruno", "groups": "approvers",
		"addresses": "financeiro@cliente.com.br", "name": "Aviso ao cliente"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("after the restart, %s = %q, want %q", k, got[k], v)
		}
	}
	screenshot(t, ctx, shots, "workflow-restored-pt")
}
