package transport_test

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/oauth2"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// A server that quotes the AUTH data in its refusal: the Redactor of the
// connection removes the password and the base64 PLAIN blob from the reply
// before it is kept.
func ExampleRedactor() {
	r := transport.NewRedactor("alice", mailbox.NewSecret("hunter2!"))
	reply := "535 5.7.8 AUTH PLAIN AGFsaWNlAGh1bnRlcjIh refused for alice (password hunter2!)"
	fmt.Println(r.Redact(reply))
	err := r.RedactError(&transport.Error{Class: transport.Auth, Protocol: "smtp", Op: "auth", Message: reply})
	fmt.Println(errors.Is(err, transport.ErrAuth), err)
	// Output:
	// 535 5.7.8 AUTH PLAIN [REDACTED] refused for alice (password [REDACTED])
	// true smtp auth: auth 535 5.7.8 AUTH PLAIN [REDACTED] refused for alice (password [REDACTED])
}

// A token source that cannot give a usable token says so with a typed
// error: here a static token the server refused.
func ExampleAccessToken() {
	src := &transport.OAuth2Tokens{Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "at-1"})}
	tok, err := transport.AccessToken(context.Background(), src)
	fmt.Println(tok, err)
	src.InvalidateToken() // what a transport does when the server refuses the token
	_, err = transport.AccessToken(context.Background(), src)
	fmt.Println(errors.Is(err, transport.ErrNoToken), transport.ClassOf(err))
	fmt.Println(src)
	// Output:
	// [REDACTED] <nil>
	// true auth
	// transport.OAuth2Tokens([REDACTED])
}
