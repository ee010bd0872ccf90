package mailstack_test

import (
	"context"
	"os"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/correio-dev/correio/internal/mailstack"
)

// xoauth2 is the XOAUTH2 SASL mechanism (one initial response).
type xoauth2 struct{ user, token string }

func (x xoauth2) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}
func (x xoauth2) Next([]byte) ([]byte, error) { return []byte{}, nil }

func TestStackXOAUTH2(t *testing.T) {
	if err := mailstack.Available(); err != nil && os.Getenv("CORREIO_SKIP_MAILSTACK") == "1" {
		t.Skip("SKIPPING the real-server tier because CORREIO_SKIP_MAILSTACK=1")
	}
	ts, err := mailstack.StartTokenServer()
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := mailstack.Start(ctx, mailstack.Options{OAuth2IntrospectionURL: ts.IntrospectionURL(),
		Users: []mailstack.User{{Address: "oauth@acme.test", Password: "unused-password"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Log(s.Logs())
		}
		s.Close()
	}()
	login := func(token string) error {
		c, err := imapsClient(t, s, s.TLSConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.Authenticate(xoauth2{"oauth@acme.test", token})
	}
	good := ts.Issue("oauth@acme.test", time.Hour)
	if err := login(good); err != nil {
		t.Fatalf("valid bearer token refused: %v", err)
	}
	if err := login(ts.Issue("oauth@acme.test", -time.Minute)); err == nil {
		t.Fatal("expired bearer token accepted")
	}
	if err := login("at-made-up"); err == nil {
		t.Fatal("unknown bearer token accepted")
	}
	// Submission authenticates through Dovecot, so XOAUTH2 works there too.
	c, err := gomail.NewClient(mailstack.Host, gomail.WithPort(s.SubmissionPort), gomail.WithTLSPolicy(gomail.TLSMandatory),
		gomail.WithTLSConfig(s.TLSConfig()), gomail.WithSMTPAuth(gomail.SMTPAuthXOAUTH2), gomail.WithUsername("oauth@acme.test"),
		gomail.WithPassword(good), gomail.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DialWithContext(ctx); err != nil {
		t.Fatalf("SMTP XOAUTH2: %v", err)
	}
	_ = c.Close()
	ts.ExpireAll()
	if err := login(good); err == nil {
		t.Fatal("token still accepted after expiry")
	}
}
