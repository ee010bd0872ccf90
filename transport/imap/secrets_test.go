package imap_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/imap"
)

func leakForms(user string, secrets ...string) []string {
	var out []string
	for _, s := range secrets {
		for _, blob := range []string{s, "\x00" + user + "\x00" + s, "user=" + user + "\x01auth=Bearer " + s + "\x01\x01"} {
			out = append(out, base64.StdEncoding.EncodeToString([]byte(blob)), base64.RawStdEncoding.EncodeToString([]byte(blob)))
		}
		out = append(out, s)
	}
	return out
}

func everyForm(v any) string {
	j, _ := json.Marshal(v)
	return fmt.Sprintf("%s|%v|%+v|%#v|%q|", v, v, v, v, v) + string(j)
}

// A server that quotes the credentials in its refusal: neither the error
// (Dial's and Probe's) nor the Debug trace holds the password (sent as a
// literal when it is not ASCII), the PLAIN blob or the token.
func TestEchoedCredentialsNeverInErrorsOrTrace(t *testing.T) {
	const user, tok = "alice", "ya29.imap-token-0123"
	for _, tc := range []struct {
		name string
		pw   string
		mech mailbox.AuthMechanism
	}{
		{"login-literal", "pässwörd-9", mailbox.AuthLogin},
		{"login-quoted", `quo"ted\pw`, mailbox.AuthLogin},
		{"plain", "pässwörd-9", mailbox.AuthPlain},
		{"xoauth2", "", mailbox.AuthXOAUTH2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, nil)
			srv.AddUser(user, tc.pw)
			srv.SetToken(user, tok)
			srv.SetLoginEcho(true)
			m := inbound(srv.Host(), srv.Port())
			m.Inbound.Credentials = mailbox.Credentials{Username: user, Password: mailbox.NewSecret(tc.pw), Mechanism: tc.mech}
			if tc.mech == mailbox.AuthXOAUTH2 {
				m.Inbound.Credentials = mailbox.Credentials{Username: user, OAuth2: &tokens{tok: tok, next: tok}}
			}
			var trace lockedBuffer
			c := &imap.Config{Timeout: 5 * time.Second, Debug: &trace}
			_, dialErr := imap.Dial(context.Background(), c, m)
			rep, probeErr := imap.Probe(context.Background(), c, m)
			out := trace.String()
			for _, err := range []error{dialErr, probeErr} {
				if !errors.Is(err, transport.ErrAuth) {
					t.Fatalf("want an auth error, got %v", err)
				}
				out += everyForm(err)
				for e := err; e != nil; e = errors.Unwrap(e) {
					out += e.Error()
				}
				var te *transport.Error
				if errors.As(err, &te) {
					out += te.Message + te.Hint + everyForm(te)
				}
			}
			out += everyForm(rep)
			if !strings.Contains(out, "Authentication failed: ") || !strings.Contains(out, transport.Redacted) {
				t.Fatalf("the refusal is not quoted:\n%s", out)
			}
			if _, failed := srv.Logins(); failed < 2 {
				t.Fatalf("the server refused %d logins", failed)
			}
			secrets := []string{tok}
			if tc.pw != "" {
				secrets = append(secrets, tc.pw, `quo\"ted\\pw`)
			}
			for _, leak := range leakForms(user, secrets...) {
				if strings.Contains(out, leak) {
					t.Fatalf("leaks %q:\n%s", leak, out)
				}
			}
		})
	}
}

// The trace hides a password sent as a (synchronising or LITERAL+)
// literal and what follows it on the command line, and keeps the rest.
func TestDebugTraceHidesCredentialLiterals(t *testing.T) {
	srv := newServer(t, nil)
	srv.AddUser("bob", "mötörhead-pw")
	m := inbound(srv.Host(), srv.Port())
	m.Inbound.Credentials = mailbox.Credentials{Username: "bob", Password: mailbox.NewSecret("mötörhead-pw"), Mechanism: mailbox.AuthLogin}
	var trace lockedBuffer
	s, err := imap.Dial(context.Background(), &imap.Config{Timeout: 5 * time.Second, Debug: &trace}, m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Select(context.Background(), "INBOX"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	out := trace.String()
	if strings.Contains(out, "mötörhead") || strings.Contains(out, "m\xc3\xb6t") {
		t.Fatalf("trace leaks the literal password:\n%s", out)
	}
	if !strings.Contains(out, "LOGIN "+transport.Redacted) || !strings.Contains(out, "SELECT") || !strings.Contains(out, "LOGOUT") {
		t.Fatalf("trace lost its content:\n%s", out)
	}
}

type emptyTokens struct{}

func (emptyTokens) Token(context.Context) (mailbox.Secret, error) { return mailbox.Secret{}, nil }

func TestNothingSentWithAnEmptyToken(t *testing.T) {
	srv := newServer(t, nil)
	srv.SetToken("alice", "")
	m := inbound(srv.Host(), srv.Port())
	m.Inbound.Credentials = mailbox.Credentials{Username: "alice", OAuth2: emptyTokens{}}
	var trace lockedBuffer
	_, err := imap.Dial(context.Background(), &imap.Config{Timeout: 5 * time.Second, Debug: &trace}, m)
	if !errors.Is(err, transport.ErrNoToken) || transport.ClassOf(err) != transport.Auth {
		t.Fatalf("empty token: %v", err)
	}
	if strings.Contains(trace.String(), "AUTHENTICATE") {
		t.Fatalf("AUTHENTICATE sent with an empty token:\n%s", trace.String())
	}
	if ok, failed := srv.Logins(); ok+failed != 0 {
		t.Fatalf("logins %d/%d", ok, failed)
	}
}

// A server limited to TLS 1.0/1.1 is a TLS refusal (implicit TLS and
// STARTTLS), not a temporary failure.
func TestOldTLSIsClassTLS(t *testing.T) {
	srvCfg, pool := selfSigned(t)
	for _, sec := range []mailbox.Security{mailbox.SecurityTLS, mailbox.SecuritySTARTTLS} {
		for _, max := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
			t.Run(string(sec)+"-"+tls.VersionName(max), func(t *testing.T) {
				sc := srvCfg.Clone()
				sc.MinVersion, sc.MaxVersion = tls.VersionTLS10, max
				srv := newServer(t, &mailtest.IMAPOptions{TLSConfig: sc, ImplicitTLS: sec == mailbox.SecurityTLS})
				m := inbound(srv.Host(), srv.Port())
				m.Inbound.Server.Security, m.Inbound.Server.AllowPlaintext = sec, false
				c := &imap.Config{Timeout: 5 * time.Second, TLSConfig: &tls.Config{RootCAs: pool}}
				_, dialErr := imap.Dial(context.Background(), c, m)
				_, probeErr := imap.Probe(context.Background(), c, m)
				for _, err := range []error{dialErr, probeErr} {
					if transport.ClassOf(err) != transport.TLS || transport.Retryable(err) {
						t.Fatalf("class %v: %v", transport.ClassOf(err), err)
					}
				}
				if ok, failed := srv.Logins(); ok+failed != 0 {
					t.Fatal("logged in over old TLS")
				}
			})
		}
	}
}

// A static token the server refused is not retried empty: the second
// attempt is refused by the token source itself, with a typed error, and
// never reaches the server.
func TestStaticTokenRefusedOnce(t *testing.T) {
	srv := newServer(t, nil)
	srv.SetToken("alice", "the-good-token")
	caller := &oauth2.Token{AccessToken: "a-revoked-token"}
	m := inbound(srv.Host(), srv.Port())
	m.Inbound.Credentials = mailbox.Credentials{Username: "alice", OAuth2: &transport.OAuth2Tokens{Source: oauth2.StaticTokenSource(caller)}}
	var trace lockedBuffer
	_, err := imap.Dial(context.Background(), &imap.Config{Timeout: 5 * time.Second, Debug: &trace}, m)
	if !errors.Is(err, transport.ErrNoToken) || transport.ClassOf(err) != transport.Auth {
		t.Fatalf("refused static token: %v", err)
	}
	if n := strings.Count(trace.String(), "AUTHENTICATE XOAUTH2"); n != 1 {
		t.Fatalf("%d AUTHENTICATE commands, want 1:\n%s", n, trace.String())
	}
	if caller.AccessToken != "a-revoked-token" {
		t.Fatal("the caller's token was blanked")
	}
}
