package main

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
)

var deviceCodeRE = regexp.MustCompile(`<code id="device-code"[^>]*>([^<]+)</code>`)

// waitDevice reloads the device page until it leaves the pending state
// (a generous bound: the background poll runs at the server's interval).
func (e *oauthEnv) waitDevice(c *http.Client, id mailbox.ID, lang string) string {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, body := e.get(c, e.srv.URL+"/mailboxes/"+string(id)+"/device?lang="+lang)
		if !strings.Contains(body, `data-state="pending"`) || time.Now().After(deadline) {
			return body
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestDeviceConnect: the device-code connect shows the code and the
// verification address, polls in the background, and stores the grant
// once the person approves; the mailbox then signs in as that account.
func TestDeviceConnect(t *testing.T) {
	e := newOAuthEnv(t, mailtest.OAuthOptions{DeviceInterval: time.Second})
	t.Cleanup(e.app.oauth.stopDevices)
	ctx := context.Background()
	c := e.client()
	if resp, body := e.post(c, e.srv.URL+"/mailboxes/new?lang=en", oauthInboundForm()); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", resp.StatusCode, body)
	}
	m := e.mailbox("Contoso support")
	_, form := e.get(c, e.srv.URL+"/mailboxes/"+string(m.ID)+"?lang=en")
	if !strings.Contains(form, `id="form-device-microsoft"`) || !strings.Contains(form, "Connect with a code (no callback URL)") {
		t.Fatalf("the form offers no device connect:\n%s", form)
	}
	if resp, _ := e.post(c, e.srv.URL+"/mailboxes/"+string(m.ID)+"/device/google", url.Values{}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("device connect with Google (no Gmail scopes in its device flow): %d, want 404", resp.StatusCode)
	}
	resp, _ := e.post(c, e.srv.URL+"/mailboxes/"+string(m.ID)+"/device/microsoft", url.Values{})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/mailboxes/"+string(m.ID)+"/device" {
		t.Fatalf("device start: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page := e.get(c, e.srv.URL+"/mailboxes/"+string(m.ID)+"/device?lang=pt-BR")
	code := deviceCodeRE.FindStringSubmatch(page)
	if code == nil || !strings.Contains(page, "Em qualquer dispositivo, abra") ||
		!strings.Contains(page, html.EscapeString(e.auth.URL+"/organizations/oauth2/v2.0/devicelogin")) {
		t.Fatalf("device page:\n%s", page)
	}
	if _, err := e.st.Tokens().GetToken(ctx, m.ID); err == nil {
		t.Fatal("a grant before anyone approved")
	}
	if !e.auth.ApproveDevice(code[1], oauthAccount) {
		t.Fatalf("the server does not know the code %q", code[1])
	}
	if body := e.waitDevice(c, m.ID, "en"); !strings.Contains(body, `data-state="connected"`) || !strings.Contains(body, "The mailbox is connected.") {
		t.Fatalf("after approval:\n%s", body)
	}
	g, err := e.st.Tokens().GetToken(ctx, m.ID)
	if err != nil || g.Account != oauthAccount || g.RefreshToken.IsZero() || g.Provider != "microsoft" {
		t.Fatalf("grant %+v %v", g, err)
	}
	m = e.mailbox("Contoso support")
	tok, err := m.Inbound.Credentials.OAuth2.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if who, _, ok := e.auth.CheckAccessToken(tok.Reveal()); !ok || who != oauthAccount {
		t.Fatalf("token for %q", who)
	}
	if _, list := e.get(c, e.srv.URL+"/mailboxes?lang=en"); strings.Contains(list, `id="reauth-banner"`) {
		t.Fatal("the banner still asks to connect")
	}
}

// TestDeviceConnectExpires: a code nobody approves expires; the page says
// so in the page's language and nothing is stored.
func TestDeviceConnectExpires(t *testing.T) {
	e := newOAuthEnv(t, mailtest.OAuthOptions{DeviceInterval: time.Second, DeviceTTL: 3 * time.Second})
	t.Cleanup(e.app.oauth.stopDevices)
	c := e.client()
	if resp, body := e.post(c, e.srv.URL+"/mailboxes/new?lang=en", oauthInboundForm()); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", resp.StatusCode, body)
	}
	m := e.mailbox("Contoso support")
	e.post(c, e.srv.URL+"/mailboxes/"+string(m.ID)+"/device/microsoft", url.Values{})
	body := e.waitDevice(c, m.ID, "pt-BR")
	if !strings.Contains(body, `data-state="failed"`) || !strings.Contains(body, "O código expirou") {
		t.Fatalf("expired code:\n%s", body)
	}
	if _, err := e.st.Tokens().GetToken(context.Background(), m.ID); err == nil {
		t.Fatal("a grant from an expired code")
	}
	if resp, _ := e.get(c, e.srv.URL+"/mailboxes/nope/device"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("device page of an unknown mailbox: %d", resp.StatusCode)
	}
}
