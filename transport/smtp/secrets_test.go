package smtp_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/smtp"
)

// leakForms are the forms of the secrets a leak search looks for.
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

// everyForm renders v the ways a host may print or store it.
func everyForm(v any) string {
	j, _ := json.Marshal(v)
	return fmt.Sprintf("%s|%v|%+v|%#v|%q|", v, v, v, v, v) + string(j)
}

// A server that quotes the client's AUTH data in its refusal: the reply
// reaches the error (and Probe's) without the password, the PLAIN or LOGIN
// blob, or the token.
func TestEchoedCredentialsNeverInErrors(t *testing.T) {
	const user, pw, tok = "u@example.com", "hunter2-pässword", "ya29.token-abcdef"
	c := ca(t)
	s := startServer(t, mailtest.SMTPOptions{Security: mailtest.SMTPStartTLS, CA: c,
		Users: map[string]string{user: pw}, Tokens: map[string]string{user: tok}, Faults: mailtest.SMTPFaults{EchoAuth: true}})
	tr := newTransport(t, c, smtp.Options{})
	for _, mech := range []mailbox.AuthMechanism{mailbox.AuthPlain, mailbox.AuthLogin, mailbox.AuthXOAUTH2} {
		t.Run(string(mech), func(t *testing.T) {
			mb := box(s, mailbox.SecuritySTARTTLS)
			mb.ID = mailbox.ID("echo-" + mech)
			mb.Outbound.Credentials = mailbox.Credentials{Username: user, Password: mailbox.NewSecret(pw), Mechanism: mech}
			if mech == mailbox.AuthXOAUTH2 {
				mb.Outbound.Credentials = mailbox.Credentials{Username: user, Mechanism: mech, OAuth2: &tokens{toks: []string{tok}}}
			}
			_, sendErr := tr.Send(context.Background(), mb, env("a@example.org"), msg)
			rep, probeErr := tr.Probe(context.Background(), mb)
			for _, err := range []error{sendErr, probeErr} {
				if !errors.Is(err, transport.ErrAuth) {
					t.Fatalf("want an auth error, got %v", err)
				}
				var te *transport.Error
				if !errors.As(err, &te) {
					t.Fatal("not a *transport.Error")
				}
				out := everyForm(err) + everyForm(te) + te.Message + te.Hint + everyForm(rep)
				for e := error(te); e != nil; e = errors.Unwrap(e) {
					out += e.Error()
				}
				if !strings.Contains(out, "Authentication failed: AUTH "+string(strings.ToUpper(string(mech)))) || !strings.Contains(out, transport.Redacted) {
					t.Fatalf("the server's refusal is not quoted: %s", out)
				}
				for _, leak := range leakForms(user, pw, tok) {
					if strings.Contains(out, leak) {
						t.Fatalf("error leaks %q: %s", leak, out)
					}
				}
			}
		})
	}
	if total, failed := s.AuthAttempts(); total < 6 || failed != total {
		t.Fatalf("auth attempts %d, failed %d: the server did not refuse them all", total, failed)
	}
}

// emptyTokens always gives an empty token with a nil error (a broken
// source).
type emptyTokens struct{}

func (emptyTokens) Token(context.Context) (mailbox.Secret, error) { return mailbox.Secret{}, nil }

func TestNothingSentWithAnEmptyToken(t *testing.T) {
	c := ca(t)
	s := startServer(t, mailtest.SMTPOptions{Security: mailtest.SMTPStartTLS, CA: c, Tokens: map[string]string{"u@example.com": ""}})
	tr := newTransport(t, c, smtp.Options{})
	mb := box(s, mailbox.SecuritySTARTTLS)
	mb.Outbound.Credentials = mailbox.Credentials{Username: "u@example.com", OAuth2: emptyTokens{}}
	_, err := tr.Send(context.Background(), mb, env("a@example.org"), msg)
	if !errors.Is(err, transport.ErrNoToken) || transport.ClassOf(err) != transport.Auth {
		t.Fatalf("empty token: %v", err)
	}
	var te *transport.Error
	if !errors.As(err, &te) || te.Server == "" || te.Protocol != "smtp" {
		t.Fatalf("error without its server: %#v", te)
	}
	if total, _ := s.AuthAttempts(); total != 0 {
		t.Fatalf("%d AUTH sent with an empty token", total)
	}
}

// A server limited to TLS 1.0/1.1 is a TLS refusal on every path, not a
// lost connection to retry.
func TestOldTLSIsClassTLS(t *testing.T) {
	c := ca(t)
	for _, sec := range []mailtest.SMTPSecurity{mailtest.SMTPStartTLS, mailtest.SMTPImplicitTLS} {
		for _, max := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
			t.Run(fmt.Sprintf("%d-%s", sec, tls.VersionName(max)), func(t *testing.T) {
				s := startServer(t, mailtest.SMTPOptions{Security: sec, CA: c, MaxTLSVersion: max, Users: map[string]string{"u": "p"}})
				tr := newTransport(t, c, smtp.Options{})
				want := mailbox.SecuritySTARTTLS
				if sec == mailtest.SMTPImplicitTLS {
					want = mailbox.SecurityTLS
				}
				mb := box(s, want)
				mb.Outbound.Credentials = mailbox.Credentials{Username: "u", Password: mailbox.NewSecret("p")}
				_, sendErr := tr.Send(context.Background(), mb, env("a@example.org"), msg)
				_, probeErr := tr.Probe(context.Background(), mb)
				for _, err := range []error{sendErr, probeErr} {
					if transport.ClassOf(err) != transport.TLS || transport.Retryable(err) {
						t.Fatalf("class %v (retryable %v): %v", transport.ClassOf(err), transport.Retryable(err), err)
					}
				}
				if len(s.Messages()) != 0 {
					t.Fatal("a message went out over old TLS")
				}
			})
		}
	}
}

// A static token the server refused is not sent again empty: the retry is
// refused by the token source with a typed error before any AUTH.
func TestStaticTokenRefusedOnce(t *testing.T) {
	c := ca(t)
	s := startServer(t, mailtest.SMTPOptions{Security: mailtest.SMTPStartTLS, CA: c, Tokens: map[string]string{"u@example.com": "the-good-token"}})
	tr := newTransport(t, c, smtp.Options{})
	mb := box(s, mailbox.SecuritySTARTTLS)
	caller := &oauth2.Token{AccessToken: "a-revoked-token"}
	mb.Outbound.Credentials = mailbox.Credentials{Username: "u@example.com", OAuth2: &transport.OAuth2Tokens{Source: oauth2.StaticTokenSource(caller)}}
	_, err := tr.Send(context.Background(), mb, env("a@example.org"), msg)
	if !errors.Is(err, transport.ErrNoToken) || transport.ClassOf(err) != transport.Auth {
		t.Fatalf("refused static token: %v", err)
	}
	if total, failed := s.AuthAttempts(); total != 1 || failed != 1 {
		t.Fatalf("AUTH attempts %d (failed %d), want the one with the token", total, failed)
	}
	if caller.AccessToken != "a-revoked-token" {
		t.Fatal("the caller's token was blanked")
	}
}
