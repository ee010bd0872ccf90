package mailtest_test

import (
	"crypto/tls"
	"encoding/base64"
	"net/smtp"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/correio-dev/correio/mailtest"
)

func TestSMTPEchoAuth(t *testing.T) {
	ca, err := mailtest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, mailtest.SMTPOptions{Security: mailtest.SMTPStartTLS, CA: ca, Users: map[string]string{"u": "right-pw"},
		Faults: mailtest.SMTPFaults{EchoAuth: true}})
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(ca.ClientConfig("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	// Even the right password is refused, and quoted back.
	err = c.Auth(smtp.PlainAuth("", "u", "right-pw", "127.0.0.1"))
	blob := base64.StdEncoding.EncodeToString([]byte("\x00u\x00right-pw"))
	if err == nil || !strings.HasPrefix(err.Error(), "535") || !strings.Contains(err.Error(), "5.7.8") || !strings.Contains(err.Error(), blob) || !strings.Contains(err.Error(), "right-pw") {
		t.Fatalf("AUTH: %v", err)
	}
	if total, failed := s.AuthAttempts(); total != 1 || failed != 1 {
		t.Fatalf("attempts %d/%d", total, failed)
	}
}

func TestSMTPMaxTLSVersion(t *testing.T) {
	ca, err := mailtest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, mailtest.SMTPOptions{Security: mailtest.SMTPImplicitTLS, CA: ca, MaxTLSVersion: tls.VersionTLS11})
	cfg := ca.ClientConfig("127.0.0.1")
	if _, err := tls.Dial("tcp", s.Addr(), cfg); err == nil {
		t.Fatal("a TLS 1.2 client was served by a TLS 1.1 server")
	}
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	conn, err := tls.Dial("tcp", s.Addr(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if v := conn.ConnectionState().Version; v != tls.VersionTLS11 {
		t.Fatalf("version %x", v)
	}
}

func TestIMAPLoginEcho(t *testing.T) {
	srv, err := mailtest.NewIMAPServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.AddUser("alice", "pw-1234")
	srv.SetLoginEcho(true)
	c, err := imapclient.DialInsecure(srv.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Login("alice", "pw-1234").Wait()
	if err == nil || !strings.Contains(err.Error(), "pw-1234") || !strings.Contains(err.Error(), "AUTHENTICATIONFAILED") {
		t.Fatalf("LOGIN: %v", err)
	}
	srv.SetLoginEcho(false)
	if err := c.Login("alice", "pw-1234").Wait(); err != nil {
		t.Fatalf("LOGIN after the echo fault: %v", err)
	}
	if ok, failed := srv.Logins(); ok != 1 || failed != 1 {
		t.Fatalf("logins %d/%d", ok, failed)
	}
}
