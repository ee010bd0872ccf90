package mailtest_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailtest"
)

func newServer(t *testing.T, opts mailtest.SMTPOptions) *mailtest.SMTPServer {
	t.Helper()
	s, err := mailtest.NewSMTPServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSMTPServerStartTLSAndAuth(t *testing.T) {
	ca, err := mailtest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, mailtest.SMTPOptions{Security: mailtest.SMTPStartTLS, CA: ca, Users: map[string]string{"u": "p"}})
	dial := func() *smtp.Client {
		c, err := smtp.Dial(s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if ok, _ := c.Extension("STARTTLS"); !ok {
			t.Fatal("STARTTLS not offered")
		}
		if err := c.StartTLS(ca.ClientConfig("127.0.0.1")); err != nil {
			t.Fatal(err)
		}
		return c
	}
	if err := dial().Auth(smtp.PlainAuth("", "u", "wrong", "127.0.0.1")); err == nil || !strings.Contains(err.Error(), "535") {
		t.Fatalf("wrong password: %v", err)
	}
	c := dial()
	if err := c.Mail("a@example.com"); err == nil || !strings.HasPrefix(err.Error(), "530") {
		t.Fatalf("MAIL without AUTH: %v", err)
	}
	if err := c.Auth(smtp.PlainAuth("", "u", "p", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if total, failed := s.AuthAttempts(); total != 2 || failed != 1 {
		t.Fatalf("auth attempts %d/%d", total, failed)
	}
}

func TestSMTPServerWrongCAAndImplicitTLS(t *testing.T) {
	s := newServer(t, mailtest.SMTPOptions{Security: mailtest.SMTPImplicitTLS})
	other, _ := mailtest.NewCA()
	if _, err := tls.Dial("tcp", s.Addr(), other.ClientConfig("127.0.0.1")); err == nil {
		t.Fatal("certificate of the default CA trusted by another CA")
	}
	ca, _ := mailtest.DefaultCA()
	conn, err := tls.Dial("tcp", s.Addr(), ca.ClientConfig("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 64)
	n, _ := conn.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "220 ") {
		t.Fatalf("greeting %q", buf[:n])
	}
}

func TestSMTPServerBlackholeHoldsUntilClose(t *testing.T) {
	s, err := mailtest.NewSMTPServer(mailtest.SMTPOptions{Faults: mailtest.SMTPFaults{Blackhole: true}})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for s.Stalled() == 0 {
		time.Sleep(time.Millisecond)
	}
	_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := conn.Read(make([]byte, 1)); n != 0 || !errors.Is(err, errTimeout(err)) {
		t.Fatalf("blackhole answered: %d %v", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open after Close")
	}
	if s.Stalled() != 0 {
		t.Fatal("held connections left")
	}
}

func errTimeout(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	return errors.New("not a timeout")
}

func TestSMTPServerWaitMessagesHonoursContext(t *testing.T) {
	s := newServer(t, mailtest.SMTPOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.WaitMessages(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if err := smtp.SendMail(s.Addr(), nil, "a@example.com", []string{"b@example.org"}, []byte("Subject: x\r\n\r\ny\r\n")); err != nil {
		t.Fatal(err)
	}
	got, err := s.WaitMessages(context.Background(), 1)
	if err != nil || len(got) != 1 || got[0].From != "a@example.com" || got[0].TLS {
		t.Fatalf("%+v %v", got, err)
	}
}
