package imap_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport/imap"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The protocol trace is for troubleshooting: it never shows a password, a
// SASL response or an OAuth2 token, in clear or base64.
func TestDebugTraceRedactsCredentials(t *testing.T) {
	srv := newServer(t, nil)
	srv.SetToken("alice", "tok-9f8e7d")
	for _, tc := range []struct {
		name   string
		creds  mailbox.Credentials
		secret string
	}{
		{"login", mailbox.Credentials{Username: "alice", Password: mailbox.NewSecret("secret"), Mechanism: mailbox.AuthLogin}, "secret"},
		{"plain", mailbox.Credentials{Username: "alice", Password: mailbox.NewSecret("secret"), Mechanism: mailbox.AuthPlain}, "secret"},
		{"xoauth2", mailbox.Credentials{Username: "alice", OAuth2: &tokens{tok: "tok-9f8e7d"}}, "tok-9f8e7d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var trace lockedBuffer
			m := inbound(srv.Host(), srv.Port())
			m.Inbound.Credentials = tc.creds
			s, err := imap.Dial(context.Background(), &imap.Config{Timeout: 5 * time.Second, Debug: &trace}, m)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Select(context.Background(), "INBOX"); err != nil {
				t.Fatal(err)
			}
			s.Close()
			out := trace.String()
			plain := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00" + tc.secret))
			xo := base64.StdEncoding.EncodeToString([]byte("user=alice\x01auth=Bearer " + tc.secret + "\x01\x01"))
			for _, leak := range []string{tc.secret, plain, xo} {
				if strings.Contains(out, leak) {
					t.Fatalf("trace leaks %q:\n%s", leak, out)
				}
			}
			if !strings.Contains(out, "[REDACTED]") || !strings.Contains(out, "SELECT") {
				t.Fatalf("trace lost its content:\n%s", out)
			}
		})
	}
}
