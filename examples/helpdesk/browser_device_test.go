package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/correio-dev/correio/mailtest"
)

// TestBrowserDeviceConnect drives the device-code connect in Chromium: the
// mailbox form's "Connect with a code" button shows the code and the
// verification address; the person approves it at the provider (here the
// local server, as a person at another device would); the page, polling,
// turns to "connected" and the grant is stored.
func TestBrowserDeviceConnect(t *testing.T) {
	ctx := newBrowser(t)
	e := newOAuthEnv(t, mailtest.OAuthOptions{DeviceInterval: time.Second})
	t.Cleanup(e.app.oauth.stopDevices)
	u, do, text := pageSteps(t, ctx, e.srv.URL)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	shots := t.TempDir()

	do("save an inbound mailbox that signs in with OAuth2",
		chromedp.Navigate(u("/mailboxes/new?lang=en")),
		chromedp.Click(css("#kind-inbound")),
		chromedp.SendKeys(css("#f-description"), "Contoso support"),
		chromedp.SendKeys(css("#f-address"), oauthAccount),
		chromedp.SendKeys(css("#f-inbound-server-host"), "outlook.office365.com"),
		chromedp.SendKeys(css("#f-inbound-credentials-username"), oauthAccount),
		chromedp.Click(css("#auth-oauth2")),
		chromedp.Click(css("#save")),
		chromedp.WaitVisible(css("#reauth-banner")),
	)
	m := e.mailbox("Contoso support")
	do("open it and connect with a code, in Portuguese",
		chromedp.Navigate(u("/mailboxes/"+string(m.ID)+"?lang=pt-BR")),
		chromedp.WaitVisible(css("#form-device-microsoft")),
		chromedp.Click(css("#form-device-microsoft")),
		chromedp.WaitVisible(css("#device-code")),
	)
	code := strings.TrimSpace(text("#device-code"))
	if got := text("#device"); !strings.Contains(got, "Em qualquer dispositivo, abra") || !strings.Contains(got, "/organizations/oauth2/v2.0/devicelogin") ||
		!strings.Contains(got, "Aguardando o login") {
		t.Fatalf("device page %q", got)
	}
	screenshot(t, ctx, shots, "device-code-pt")
	if !e.auth.ApproveDevice(code, oauthAccount) {
		t.Fatalf("the provider does not know the code %q shown", code)
	}
	do("the page turns to connected", chromedp.WaitVisible(css(`#device[data-state="connected"]`)))
	if got := text("#device-status"); got != "A caixa está conectada." {
		t.Fatalf("status %q", got)
	}
	g, err := e.st.Tokens().GetToken(context.Background(), m.ID)
	if err != nil || g.Account != oauthAccount || g.RefreshToken.IsZero() {
		t.Fatalf("grant %+v %v", g, err)
	}
	do("the list no longer asks to connect",
		chromedp.Click(css("#device-back")),
		chromedp.WaitVisible(css("#mailboxes")),
	)
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#reauth-banner").length`)); err != nil || n != 0 {
		t.Fatalf("banner still shown after the device connect (%d, %v)", n, err)
	}
	screenshot(t, ctx, shots, "device-connected")
}
