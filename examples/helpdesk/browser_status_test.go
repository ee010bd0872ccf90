package main

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserStatusPage drives the Status page as an operator: a mailbox
// whose login is refused shows what to do, in Portuguese; Pause asks for
// confirmation, then Resume replaces Check now, and Resume brings it back.
func TestBrowserStatusPage(t *testing.T) {
	ctx := newBrowser(t)
	ms := newMailServers(t)
	e, eng := newSQLEngineEnv(t)
	srv := httptest.NewServer(e.app)
	t.Cleanup(srv.Close)
	shots := t.TempDir()
	u, do, text := pageSteps(t, ctx, srv.URL)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	m := inMailbox(t, e, ms, "wrong-password-123")
	eng.MailboxSaved(m)
	until(t, "auth_failed", func() bool { code, _ := getHealthz(t, e); return code == 503 })

	do("the status page in Portuguese",
		chromedp.Navigate(u("/status?lang=pt-BR")),
		chromedp.WaitVisible(css(`tr[data-status="mb-in"] .hint`)))
	if got := text(`tr[data-status="mb-in"] .hint`); !strings.HasPrefix(got, "O servidor recusou o login") {
		t.Fatalf("hint %q", got)
	}
	if got := text("#status-summary"); !strings.Contains(got, "1 caixa(s) precisam de uma pessoa") {
		t.Fatalf("summary %q", got)
	}
	if strings.Contains(text("body"), "wrong-password-123") {
		t.Fatal("the page shows the password")
	}
	screenshot(t, ctx, shots, "status-auth-failed-pt")

	do("pause, with its confirmation",
		chromedp.Click(css(`tr[data-status="mb-in"] a.pause`)),
		chromedp.WaitVisible(css("#confirm")),
		chromedp.Click(css("#confirm-delete")),
		chromedp.WaitVisible(css(`tr[data-status="mb-in"] button.resume`)))
	if got := text("body"); !strings.Contains(got, "pausada") {
		t.Fatalf("after pause: %q", got)
	}
	do("resume",
		chromedp.Click(css(`tr[data-status="mb-in"] button.resume`)),
		chromedp.WaitVisible(css(`tr[data-status="mb-in"] button.check`)))
	screenshot(t, ctx, shots, "status-resumed")
}
