package main

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/correio-dev/correio/mailtest"
)

// TestBrowserConnectMicrosoft drives the connect flow in Chromium against
// the local authorization server: an OAuth2 mailbox is saved without a
// password, the banner asks to connect it, the button leads to the
// provider's login form, and the provider's redirect back stores the grant;
// when the engines later report reauth_required the banner asks again, in
// Portuguese too.
func TestBrowserConnectMicrosoft(t *testing.T) {
	ctx := newBrowser(t)
	e := newOAuthEnv(t, mailtest.OAuthOptions{Users: map[string]string{oauthAccount: "correct horse"}})
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
	if got := text("#reauth-banner"); !strings.Contains(got, "Contoso support") || !strings.Contains(got, "not connected yet") {
		t.Fatalf("banner %q", got)
	}
	screenshot(t, ctx, shots, "oauth-banner")

	do("connect it: the provider's login form",
		chromedp.Click(css(`#reauth-banner button[id$="-microsoft"]`)),
		chromedp.WaitVisible(css("#login-accept")),
	)
	if got := text("h1"); !strings.Contains(got, oauthClientID) {
		t.Fatalf("not on the provider's sign-in page: %q", got)
	}
	do("sign in with a wrong password",
		chromedp.SetValue(css("#login-name"), oauthAccount),
		chromedp.SendKeys(css("#login-password"), "wrong"),
		chromedp.Click(css("#login-accept")),
		chromedp.WaitVisible(css("#login-error")),
	)
	do("sign in",
		chromedp.SetValue(css("#login-name"), oauthAccount),
		chromedp.SendKeys(css("#login-password"), "correct horse"),
		chromedp.Click(css("#login-accept")),
		chromedp.WaitVisible(css(".flash")),
	)
	if got := text(".flash"); got != "The mailbox is connected." {
		t.Fatalf("flash %q", got)
	}
	if got := text("#mailboxes"); !strings.Contains(got, "Connected as "+oauthAccount) {
		t.Fatalf("list %q", got)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#reauth-banner").length`)); err != nil || n != 0 {
		t.Fatalf("banner still shown after connecting (%d, %v)", n, err)
	}
	m := e.mailbox("Contoso support")
	g, err := e.st.Tokens().GetToken(context.Background(), m.ID)
	if err != nil || g.Account != oauthAccount || g.RefreshToken.IsZero() {
		t.Fatalf("grant %+v %v", g, err)
	}
	screenshot(t, ctx, shots, "oauth-connected")

	// The edit form shows the method and the connect buttons.
	do("open the mailbox", chromedp.Navigate(u("/mailboxes/"+string(m.ID)+"?lang=en")), chromedp.WaitVisible(css("#connect-buttons")))
	if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("auth-oauth2").checked`)); err != nil || !ok {
		t.Fatalf("the form does not show the OAuth2 method (%v)", err)
	}
	if got := text("#connect-buttons"); !strings.Contains(got, "Connect Microsoft 365") || !strings.Contains(got, "Connect Google") {
		t.Fatalf("connect buttons %q", got)
	}

	// The grant is revoked; the engines say so; the banner is back.
	e.auth.RevokeGrant(oauthAccount)
	e.eng.set(m.ID, "reauth_required")
	do("the list in Portuguese", chromedp.Navigate(u("/mailboxes?lang=pt-BR")), chromedp.WaitVisible(css("#reauth-banner")))
	got := text("#reauth-banner")
	if !strings.Contains(got, "o provedor recusou a autorização salva") || !strings.Contains(got, "Conectar Microsoft 365") || !strings.Contains(got, "Conectar Google") {
		t.Fatalf("banner in Portuguese %q", got)
	}
	screenshot(t, ctx, shots, "oauth-reauth-pt")
}
