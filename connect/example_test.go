package connect_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/correio-dev/correio/connect"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/store/memory"
)

// A host connects a Microsoft 365 mailbox: it sends the browser to the
// provider, finishes the connect on the callback, stores the grant, and
// gives the mailbox a token source over it. The local authorization server
// of mailtest stands in for login.microsoftonline.com.
func ExampleFlow() {
	srv, _ := mailtest.NewOAuthServer(mailtest.OAuthOptions{AutoApprove: "ana@contoso.example"})
	defer srv.Close()
	srv.AddClient(mailtest.OAuthClient{ID: "app", Secret: "s", RedirectURIs: []string{"http://127.0.0.1:9/cb"}})

	flow := &connect.Flow{
		Provider:     connect.MicrosoftAt(srv.URL, "organizations"), // connect.Microsoft("organizations") in production
		ClientID:     "app",
		ClientSecret: mailbox.NewSecret("s"),
		RedirectURL:  "http://127.0.0.1:9/cb",
		Scopes:       connect.MicrosoftIMAPSMTPScopes(),
	}
	ctx := context.Background()
	binding := connect.NewBinding() // kept in the browser's cookie or session
	start, _ := flow.Start(ctx, connect.StartOptions{Mailbox: "support", Binding: binding})

	// The browser goes to start.URL and comes back to the callback.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, _ := noFollow.Get(start.URL)
	resp.Body.Close()
	callback, _ := url.Parse(resp.Header.Get("Location"))

	grant, err := flow.Finish(ctx, callback.Query(), binding)
	if err != nil {
		fmt.Println(err)
		return
	}
	tokens := memory.NewTokens() // or a SQL store's Tokens()
	_ = tokens.PutToken(ctx, grant.Mailbox, grant.Token)

	src := flow.TokenSource(tokens, "support") // mailbox.Credentials.OAuth2
	tok, err := src.Token(ctx)
	fmt.Println(grant.Token.Account, !tok.IsZero(), err)
	fmt.Println(src)
	// Output:
	// ana@contoso.example true <nil>
	// connect.TokenSource([REDACTED])
}

// A host without a browser callback (a CLI, a server set up over SSH)
// connects a mailbox with the device code flow: it shows the code, and
// PollDevice waits until the person approved it on another device.
func ExampleFlow_StartDevice() {
	srv, _ := mailtest.NewOAuthServer(mailtest.OAuthOptions{DeviceInterval: time.Second})
	defer srv.Close()
	srv.AddClient(mailtest.OAuthClient{ID: "cli"}) // a public client: no secret

	flow := &connect.Flow{
		Provider: connect.MicrosoftAt(srv.URL, "organizations"),
		ClientID: "cli",
		Scopes:   []string{connect.ScopeOfflineAccess, connect.MicrosoftIMAP},
	}
	ctx := context.Background()
	d, err := flow.StartDevice(ctx, "support")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("open", strings.HasSuffix(d.VerificationURI, "/devicelogin"), "and enter a code of", len(d.UserCode), "letters")
	srv.ApproveDevice(d.UserCode, "ana@contoso.example") // the person signs in elsewhere

	grant, err := flow.PollDevice(ctx, d)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(grant.Mailbox, !grant.Token.RefreshToken.IsZero())
	// Output:
	// open true and enter a code of 8 letters
	// support true
}
