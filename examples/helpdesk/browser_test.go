package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
)

// chromiumPath finds the browser the test drives.
func chromiumPath() string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// newBrowser starts a headless Chromium for t, or fails with an install
// hint (skips, loudly, with CORREIO_SKIP_BROWSER=1).
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("CORREIO_SKIP_BROWSER") == "1" {
			t.Skip("SKIPPING the browser test: chromium is not installed and CORREIO_SKIP_BROWSER=1")
		}
		t.Fatal("chromium not found: install it with `apt-get install -y chromium` (or run scripts/ci-deps.sh); " +
			"set CORREIO_SKIP_BROWSER=1 to skip this test")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	return bctx
}

// screenshot saves a full-page screenshot in the test's temp dir and a
// copy in /tmp/helpdesk-<name>.png to look at.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	// Quality 100 gives a PNG; lower qualities give a JPEG.
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(os.TempDir(), "helpdesk-"+name+".png"), png, 0o644); err != nil {
		t.Logf("copy of screenshot: %v", err)
	}
}

// mailServers are the in-process servers the mailboxes of the browser
// test point at.
type mailServers struct {
	imap *mailtest.IMAPServer
	smtp *mailtest.SMTPServer
}

func newMailServers(t *testing.T) *mailServers {
	t.Helper()
	im, err := mailtest.NewIMAPServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { im.Close() })
	im.AddUser("support", "imap-password")
	sm, err := mailtest.NewSMTPServer(mailtest.SMTPOptions{Users: map[string]string{"mailer": "smtp-password"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sm.Close() })
	return &mailServers{imap: im, smtp: sm}
}

// newEngineEnv is the helpdesk with the real engines over a SQLite store.
func newEngineEnv(t *testing.T) *testEnv {
	t.Helper()
	e := newTestEnv(t, nil)
	eng, err := startEngines(context.Background(), e.cat, e.app.dir, nil, engineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	e.app.engine = eng
	return e
}

// reloadUntil reloads the page until sel's text contains want (the engines
// work in the background); the test's context bounds the wait.
func reloadUntil(t *testing.T, ctx context.Context, sel, want string) string {
	t.Helper()
	var last string
	for ctx.Err() == nil {
		if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitReady(chromedp.CSS("body"))); err != nil {
			t.Fatalf("reload: %v", err)
		}
		last, _ = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.AtLeast(0)))
		if strings.Contains(last, want) {
			return last
		}
		_ = chromedp.Do(ctx, chromedp.Sleep(100*time.Millisecond))
	}
	t.Fatalf("%s never showed %q; last: %q", sel, want, last)
	return ""
}

func TestBrowserFlow(t *testing.T) {
	ctx := newBrowser(t)
	ms := newMailServers(t)
	e := newEngineEnv(t)
	srv := httptest.NewServer(e.app)
	t.Cleanup(srv.Close)
	shots := t.TempDir()
	u, do, text := pageSteps(t, ctx, srv.URL)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	// An inbound mailbox, first without a description: the error shows
	// beside the field.
	do("open the new mailbox form",
		chromedp.Navigate(u("/mailboxes/new?lang=en")),
		chromedp.Click(css("#kind-inbound")),
	)
	// The script hides the other kind's fieldset.
	hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("fs-outbound").hidden && !document.getElementById("fs-inbound").hidden`))
	if err != nil || !hidden {
		t.Fatalf("outbound fieldset not hidden for an inbound mailbox (%v)", err)
	}
	// The in-process servers speak plaintext: the form needs the explicit
	// opt-in.
	fillInbound := []chromedp.Action[chromedp.Void]{
		chromedp.SendKeys(css("#f-inbound-server-host"), ms.imap.Host()),
		chromedp.SendKeys(css("#f-inbound-server-port"), strconv.Itoa(ms.imap.Port())),
		chromedp.SetValue(css("#f-inbound-server-security"), "plaintext"),
		chromedp.Click(css("#f-inbound-server-allow-plaintext")),
		chromedp.SendKeys(css("#f-inbound-credentials-username"), "support"),
		chromedp.SendKeys(css("#f-inbound-credentials-password"), "imap-password"),
	}
	do("fill the inbound form without a description", append(fillInbound,
		chromedp.SendKeys(css("#f-address"), "support@acme.example"),
		chromedp.Click(css("#save")),
		chromedp.WaitVisible(css("#f-description-err")),
	)...)
	if got := text("#f-description-err"); got != "This field is required." {
		t.Fatalf("description error %q", got)
	}
	if got := text("#error-summary"); !strings.Contains(got, "Description: This field is required.") {
		t.Fatalf("summary %q", got)
	}
	screenshot(t, ctx, shots, "mailbox-errors")
	// Test the connection: the IMAP probe logs in and reports the folder.
	do("test the inbound connection",
		chromedp.SendKeys(css("#f-description"), "Support inbox"),
		chromedp.SendKeys(css("#f-inbound-credentials-password"), "imap-password"),
		chromedp.Click(css("#test-connection")),
		chromedp.WaitVisible(css("#probe-result")),
	)
	if got := text("#probe-result"); !strings.Contains(got, "Connection test succeeded.") || !strings.Contains(got, "INBOX") {
		t.Fatalf("inbound probe: %q", got)
	}
	screenshot(t, ctx, shots, "probe-imap")
	do("save the inbound mailbox",
		chromedp.SendKeys(css("#f-inbound-credentials-password"), "imap-password"),
		chromedp.Click(css("#save")),
		chromedp.WaitVisible(css("#mailboxes")),
	)
	in := e.mailboxByDescription("Support inbox")
	if in.Kind != mailbox.Inbound || in.Inbound.Credentials.Password.Reveal() != "imap-password" {
		t.Fatalf("saved inbound %v", in)
	}

	// An outbound mailbox.
	do("create the outbound mailbox",
		chromedp.Click(css("#new-mailbox")),
		chromedp.WaitVisible(css("#kind-outbound")),
		chromedp.Click(css("#kind-outbound")),
		chromedp.SendKeys(css("#f-description"), "ACME outgoing"),
		chromedp.SendKeys(css("#f-outbound-server-host"), ms.smtp.Host()),
		chromedp.SendKeys(css("#f-outbound-server-port"), strconv.Itoa(ms.smtp.Port())),
		chromedp.SetValue(css("#f-outbound-server-security"), "plaintext"),
		chromedp.Click(css("#f-outbound-server-allow-plaintext")),
		chromedp.SendKeys(css("#f-outbound-credentials-username"), "mailer"),
		chromedp.SendKeys(css("#f-outbound-credentials-password"), "wrong-password"),
		chromedp.SendKeys(css("#f-outbound-from-name"), "ACME Support"),
		chromedp.SendKeys(css("#f-outbound-from-address"), "support@acme.example"),
		chromedp.Click(css("#test-connection")),
		chromedp.WaitVisible(css("#probe-result")),
	)
	// A wrong password: the probe's classified error and its hint.
	if got := text("#probe-result"); !strings.Contains(got, "Connection test failed.") || !strings.Contains(got, "auth") {
		t.Fatalf("outbound probe with a wrong password: %q", got)
	}
	screenshot(t, ctx, shots, "probe")
	do("save the outbound mailbox with the right password",
		chromedp.SendKeys(css("#f-outbound-credentials-password"), "smtp-password"),
		chromedp.Click(css("#save")),
		chromedp.WaitVisible(css("#mailboxes")),
	)
	out := e.mailboxByDescription("ACME outgoing")
	if got := text("#mailboxes"); !strings.Contains(got, "ACME outgoing") || !strings.Contains(got, "Support inbox") {
		t.Fatalf("mailbox list: %q", got)
	}

	// A contract bound to the outbound mailbox; the select offers only
	// outbound mailboxes.
	do("open the contract form", chromedp.Navigate(u("/contracts/new")), chromedp.WaitVisible(css("#f-outbound-mailbox")))
	offered, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#f-outbound-mailbox option")).map(o => o.value).filter(v => v)`))
	if err != nil || len(offered) != 1 || offered[0] != string(out.ID) {
		t.Fatalf("outbound mailboxes offered %q (%v), want only %s", offered, err, out.ID)
	}
	do("fill the contract",
		chromedp.SendKeys(css("#f-name"), "ACME Ltda"),
		chromedp.SetValue(css("#f-outbound-mailbox"), string(out.ID)),
		chromedp.Click(css(`input[name="inbound_mailboxes"][value="`+string(in.ID)+`"]`)),
	)
	screenshot(t, ctx, shots, "contract")
	do("save the contract", chromedp.Click(css("#save")), chromedp.WaitVisible(css("#contracts")))
	cs := e.cat.Contracts()
	if len(cs) != 1 || cs[0].OutboundMailbox != out.ID || len(cs[0].InboundMailboxes) != 1 {
		t.Fatalf("contracts %+v", cs)
	}
	ct := cs[0]

	// The email step with the Contract choice: the decision and its reason.
	do("send a test from the email step",
		chromedp.Navigate(u("/workflow")),
		chromedp.Click(css("#choice-contract")),
		chromedp.SetValue(css("#f-contract"), string(ct.ID)),
		chromedp.Click(css("#send-test")),
		chromedp.WaitVisible(css("#send-result")),
	)
	if got := text("#decision-rule"); got != "contract" {
		t.Fatalf("rule %q", got)
	}
	if got := text("#decision-mailbox"); got != "ACME outgoing" {
		t.Fatalf("mailbox %q", got)
	}
	if got := text("#queued-ids"); got == "" {
		t.Fatal("no queued message IDs shown")
	}
	screenshot(t, ctx, shots, "workflow")

	// The SMTP server receives it, and the customer answers.
	wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
	defer wcancel()
	msgs, err := ms.smtp.WaitMessages(wctx, 1)
	if err != nil || len(msgs) == 0 {
		t.Fatalf("SMTP server got nothing: %v", err)
	}
	if !strings.Contains(string(msgs[0].Data), "[#REQ-1001]") {
		t.Fatalf("sent message lacks the thread token:\n%s", msgs[0].Data)
	}
	reply := "From: Ana Souza <ana.souza@cliente.example>\r\nTo: support@acme.example\r\n" +
		"Subject: Re: Request 1001 opened [#REQ-1001]\r\nMessage-ID: <reply-1@cliente.example>\r\n\r\nStill jammed.\r\n"
	if _, err := ms.imap.Append("support", "INBOX", []byte(reply)); err != nil {
		t.Fatal(err)
	}

	// Both are listed under the contract on the Messages page: the message
	// sent, and the reply matched to request 1001.
	sec := `section[data-contract="` + string(ct.ID) + `"]`
	do("open the messages", chromedp.Navigate(u("/messages")), chromedp.WaitVisible(css(sec)))
	got := reloadUntil(t, wctx, sec+" table.sent", "sent")
	if !strings.Contains(got, "Request 1001 opened") || !strings.Contains(got, "ana.souza@cliente.example") {
		t.Fatalf("sent messages of the contract: %q", got)
	}
	got = reloadUntil(t, wctx, sec+" table.received", "Re: Request 1001")
	if !strings.Contains(got, "ana.souza@cliente.example") {
		t.Fatalf("received messages of the contract: %q", got)
	}
	if got := text(sec + " table.received td.thread"); got != "1001" {
		t.Fatalf("reply matched to request %q, want 1001", got)
	}
	screenshot(t, ctx, shots, "messages")

	// The same pages in Brazilian Portuguese.
	do("switch to pt-BR", chromedp.Click(css(`#lang-switch a[hreflang="pt-BR"]`)), chromedp.WaitVisible(css("h1")))
	if got := text("h1"); got != "Mensagens" {
		t.Fatalf("pt-BR title %q", got)
	}
	do("mailboxes in pt-BR", chromedp.Navigate(u("/mailboxes")), chromedp.WaitVisible(css("#mailboxes")))
	if got := text("#mailboxes"); !strings.Contains(got, "Entrada") || !strings.Contains(got, "Saída") || strings.Count(got, "Conectada") != 2 {
		t.Fatalf("pt-BR list (both mailboxes connected) %q", got)
	}
	screenshot(t, ctx, shots, "mailboxes-pt")
	do("an empty outbound form in pt-BR",
		chromedp.Click(css("#new-mailbox")),
		chromedp.WaitVisible(css("#kind-outbound")),
		chromedp.Click(css("#kind-outbound")),
		chromedp.Click(css("#save")),
		chromedp.WaitVisible(css("#f-description-err")),
	)
	if got := text("#f-description-err"); got != "Campo obrigatório." {
		t.Fatalf("pt-BR description error %q", got)
	}
	if got := text("#f-outbound-from-address-err"); got != "Campo obrigatório." {
		t.Fatalf("pt-BR sender address error %q", got)
	}
	screenshot(t, ctx, shots, "mailbox-errors-pt")
	t.Log("screenshots in", shots, fmt.Sprintf("and %s/helpdesk-*.png", os.TempDir()))
}

// pageSteps returns the browser tests' three helpers over the app at base:
// u (a URL of the app), do (run steps, failing the test with what) and text
// (an element's text; a page that is still being replaced after a click or
// a form post, "No node with given id", is read again).
func pageSteps(t *testing.T, ctx context.Context, base string) (u func(string) string, do func(string, ...chromedp.Action[chromedp.Void]), text func(string) string) {
	u = func(p string) string { return base + p }
	do = func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text = func(sel string) string {
		t.Helper()
		var err error
		for range 50 {
			var s string
			if s, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel))); err == nil {
				return strings.TrimSpace(s)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("text of %s: %v", sel, err)
		return ""
	}
	return u, do, text
}
