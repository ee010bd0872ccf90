package mailtest_test

import (
	"context"
	"fmt"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/correio-dev/correio/mailtest"
)

// A local authorization server stands in for login.microsoftonline.com:
// here an app-only token with the client credentials grant, checked the
// way a test API server checks the bearer token it is given.
func ExampleNewOAuthServer() {
	srv, err := mailtest.NewOAuthServer(mailtest.OAuthOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	srv.AddClient(mailtest.OAuthClient{ID: "app", Secret: "secret"})

	cfg := clientcredentials.Config{ClientID: "app", ClientSecret: "secret",
		TokenURL: srv.TokenURL(srv.Tenant), Scopes: []string{"https://graph.microsoft.com/.default"}}
	tok, err := cfg.Token(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	who, scopes, ok := srv.CheckAccessToken(tok.AccessToken)
	fmt.Println(who, scopes, ok)
	// Output: app:app [https://graph.microsoft.com/.default] true
}
