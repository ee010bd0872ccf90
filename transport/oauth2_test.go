package transport_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

func TestOAuth2StaticTokenAfterInvalidate(t *testing.T) {
	ctx := context.Background()
	caller := &oauth2.Token{AccessToken: "static-access-token", RefreshToken: "static-refresh"}
	src := &transport.OAuth2Tokens{Source: oauth2.StaticTokenSource(caller)}
	tok, err := src.Token(ctx)
	if err != nil || tok.Reveal() != "static-access-token" {
		t.Fatalf("first token: %q %v", tok.Reveal(), err)
	}
	src.InvalidateToken()
	if caller.AccessToken != "static-access-token" {
		t.Fatalf("InvalidateToken blanked the caller's token: %q", caller.AccessToken)
	}
	for i := range 3 { // and stays so, every time
		tok, err = src.Token(ctx)
		if err == nil || !tok.IsZero() {
			t.Fatalf("call %d after invalidation: token %q, err %v", i, tok.Reveal(), err)
		}
		if !errors.Is(err, transport.ErrNoToken) || !errors.Is(err, transport.ErrAuth) || transport.ClassOf(err) != transport.Auth {
			t.Fatalf("call %d: untyped error %v", i, err)
		}
		if strings.Contains(err.Error(), "static-access-token") {
			t.Fatalf("error leaks the token: %v", err)
		}
	}
	// A source that gives a new token recovers.
	next := &oauth2.Token{AccessToken: "next-token"}
	src.Source = oauth2.StaticTokenSource(next)
	if tok, err = src.Token(ctx); err != nil || tok.Reveal() != "next-token" {
		t.Fatalf("new token: %q %v", tok.Reveal(), err)
	}
}

type emptySource struct{}

func (emptySource) Token() (*oauth2.Token, error) { return &oauth2.Token{}, nil }

type nilTokenSource struct{}

func (nilTokenSource) Token(context.Context) (mailbox.Secret, error) { return mailbox.Secret{}, nil }

type failingSource struct{}

func (failingSource) Token(context.Context) (mailbox.Secret, error) {
	return mailbox.Secret{}, errors.New("vault sealed")
}

func TestOAuth2NeverAnEmptyToken(t *testing.T) {
	ctx := context.Background()
	for name, src := range map[string]*transport.OAuth2Tokens{
		"empty source": {Source: emptySource{}},
		"nothing":      {},
		"no refresh":   transport.NewOAuth2Tokens(&oauth2.Config{}, &oauth2.Token{}),
	} {
		tok, err := src.Token(ctx)
		if err == nil || !tok.IsZero() || !errors.Is(err, transport.ErrNoToken) || transport.ClassOf(err) != transport.Auth {
			t.Errorf("%s: token %q, err %v", name, tok.Reveal(), err)
		}
	}
	for name, src := range map[string]mailbox.TokenSource{"nil": nil, "empty": nilTokenSource{}, "failing": failingSource{}} {
		tok, err := transport.AccessToken(ctx, src)
		if err == nil || !tok.IsZero() || !errors.Is(err, transport.ErrNoToken) || transport.ClassOf(err) != transport.Auth {
			t.Errorf("AccessToken(%s): token %q, err %v", name, tok.Reveal(), err)
		}
	}
	if tok, err := transport.AccessToken(ctx, &transport.OAuth2Tokens{Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "ok"})}); err != nil || tok.Reveal() != "ok" {
		t.Errorf("AccessToken: %q %v", tok.Reveal(), err)
	}
}

func TestOAuth2TokensNeverPrint(t *testing.T) {
	const at, rt, cs = "ACCESS-tok-123", "REFRESH-tok-456", "CLIENT-secret-789"
	cfg := &oauth2.Config{ClientID: "id", ClientSecret: cs, Endpoint: oauth2.Endpoint{TokenURL: "http://127.0.0.1:1/token"}}
	srcs := []*transport.OAuth2Tokens{
		transport.NewOAuth2Tokens(cfg, &oauth2.Token{AccessToken: at, RefreshToken: rt}),
		{Config: cfg, Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: at, RefreshToken: rt})},
	}
	for i, o := range srcs {
		_, _ = o.Token(context.Background()) // fill the cache
		var out []string
		for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x", "%d"} {
			out = append(out, fmt.Sprintf(verb, o))
			// Nested in a struct and in mailbox credentials.
			out = append(out, fmt.Sprintf(verb, struct{ T *transport.OAuth2Tokens }{o}))
			out = append(out, fmt.Sprintf(verb, mailbox.Credentials{Username: "u", OAuth2: o}))
		}
		j, err := json.Marshal(map[string]any{"t": o, "c": mailbox.Credentials{OAuth2: o}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(j))
		var b strings.Builder
		slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "tokens", o)
		slog.New(slog.NewTextHandler(&b, nil)).Info("x", "tokens", o)
		out = append(out, b.String())
		for _, s := range out {
			for _, secret := range []string{at, rt, cs} {
				if strings.Contains(s, secret) {
					t.Errorf("source %d prints %s: %s", i, secret, s)
				}
			}
		}
		if !strings.Contains(out[0], transport.Redacted) {
			t.Errorf("source %d: %q", i, out[0])
		}
	}
}
