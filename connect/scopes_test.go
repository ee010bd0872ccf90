package connect_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/connect"
	"github.com/correio-dev/correio/mailtest"
)

// TestStartScopesPerConnect: a connect may ask for other scopes than the
// flow's (a Graph mailbox beside IMAP ones): the authorization request,
// the granted token and the device request carry them.
func TestStartScopesPerConnect(t *testing.T) {
	e := newEnv(t, mailtest.OAuthOptions{AutoApprove: account, DeviceInterval: time.Second})
	ctx := context.Background()
	st, err := e.flow.Start(ctx, connect.StartOptions{Mailbox: "graph-box", Binding: "b", Scopes: connect.MicrosoftGraphScopes()})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(st.URL)
	if got := u.Query().Get("scope"); got != strings.Join(connect.MicrosoftGraphScopes(), " ") {
		t.Fatalf("scope %q", got)
	}
	g, err := e.flow.Finish(ctx, follow(t, st.URL), "b")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(g.Token.Scopes, connect.MicrosoftGraphMailSend) || slices.Contains(g.Token.Scopes, connect.MicrosoftIMAP) {
		t.Fatalf("granted scopes %v", g.Token.Scopes)
	}
	if g.Claims.Account() != account {
		t.Fatalf("the per-connect scopes kept openid: claims %+v", g.Claims)
	}
	_, scopes, ok := e.srv.CheckAccessToken(g.Token.AccessToken.Reveal())
	if !ok || !slices.Contains(scopes, connect.MicrosoftGraphMailReadWrite) {
		t.Fatalf("access token scopes %v", scopes)
	}

	d, err := e.flow.StartDevice(ctx, "graph-box", connect.MicrosoftGraphScopes()...)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Scopes, connect.MicrosoftGraphScopes()) {
		t.Fatalf("device scopes %v", d.Scopes)
	}
	dg, err := e.flow.PollDevice(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(dg.Token.Scopes, connect.MicrosoftGraphMailReadWrite) {
		t.Fatalf("device grant scopes %v", dg.Token.Scopes)
	}
}
