package integration_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/internal/mailstack"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/pop3"
)

// pipeHost is a correio host taking pushed mail through the webhook.
type pipeHost struct {
	mu       sync.Mutex
	handed   []string
	attempts int
	fail     error
}

func (h *pipeHost) HandleMessage(_ context.Context, d *inbound.Delivery) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempts++
	if h.fail != nil {
		return h.fail
	}
	h.handed = append(h.handed, d.Message.MessageID)
	return nil
}

func (h *pipeHost) state() (handed []string, attempts int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.handed...), h.attempts
}

// TestPostfixPipe: the real Postfix delivers mail for push.test to
// cmd/correio-pipe, which posts it to the host's signed webhook. Mail is
// handed once; while the host's handler fails the pipe exits 75 and
// Postfix keeps the message and delivers it after a flush; an unknown
// recipient exits 67 and Postfix bounces it to the sender (read back
// over Dovecot's POP3).
func TestPostfixPipe(t *testing.T) {
	if err := mailstack.Available(); err != nil {
		stack(t) // skips or fails as the tier says
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root, as the real-server tier does")
	}
	dir, err := os.MkdirTemp("", "correio-pipe-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "correio-pipe")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/correio-dev/correio/cmd/correio-pipe").CombinedOutput(); err != nil {
		t.Fatalf("building the pipe command: %v\n%s", err, out)
	}
	const secret = "integration-pipe-secret-0123456789"
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	cat := memory.NewCatalog()
	if err := cat.PutMailbox(ctx, &mailbox.Mailbox{ID: "pushdesk", Description: "pushed", Kind: mailbox.Inbound, Enabled: true,
		Address: "support@push.test", Inbound: &mailbox.InboundSettings{Transport: mailbox.TransportPush}}); err != nil {
		t.Fatal(err)
	}
	host := &pipeHost{}
	p, err := inbound.New(inbound.Options{Store: memory.NewInboundStore(), Handler: host, Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	wh, err := inbound.NewWebhook(inbound.NewIngester(p, inbound.IngestOptions{}), inbound.WebhookOptions{Secret: mailbox.NewSecret(secret)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(wh)
	t.Cleanup(srv.Close)

	const sender = "ana@example.test"
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	s, err := mailstack.Start(sctx, mailstack.Options{Domains: []string{"example.test"}, Users: []mailstack.User{{Address: sender, Password: pass(sender)}},
		Pipe: &mailstack.Pipe{Domain: "push.test", Argv: []string{bin, "-url", srv.URL + "/push", "-secret-file", secretFile, "-timeout", "20s", "${original_recipient}"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	t.Cleanup(func() {
		if t.Failed() {
			logs := s.Logs()
			if len(logs) > 16<<10 {
				logs = logs[len(logs)-16<<10:]
			}
			t.Log("server logs (tail):\n" + logs)
		}
	})

	sendAs(t, s, customerMail{From: sender, To: "support@push.test", Subject: "piped", MessageID: "pipe-1@customer.test"})
	eventually(t, "the piped message handed", func() bool { h, _ := host.state(); return len(h) == 1 })
	if h, _ := host.state(); h[0] != "pipe-1@customer.test" {
		t.Fatalf("handed %v", h)
	}

	// The host's handler is down: the pipe exits 75, Postfix defers.
	host.mu.Lock()
	host.fail = errors.New("database unavailable")
	host.mu.Unlock()
	sendAs(t, s, customerMail{From: sender, To: "support+42@push.test", Subject: "deferred", MessageID: "pipe-2@customer.test"})
	eventually(t, "a delivery attempt while the handler is down", func() bool { _, a := host.state(); return a >= 2 })
	time.Sleep(300 * time.Millisecond)
	if h, _ := host.state(); len(h) != 1 {
		t.Fatalf("handed while failing: %v", h)
	}
	host.mu.Lock()
	host.fail = nil
	host.mu.Unlock()
	eventually(t, "the deferred message handed after a flush", func() bool {
		if h, _ := host.state(); len(h) == 2 {
			return true
		}
		_ = s.FlushPostfix()
		time.Sleep(200 * time.Millisecond)
		return false
	})
	if h, _ := host.state(); h[1] != "pipe-2@customer.test" {
		t.Fatalf("handed %v", h)
	}

	// No such pushed mailbox: 67, bounced to the sender.
	sendAs(t, s, customerMail{From: sender, To: "nobody@push.test", Subject: "nobody", MessageID: "pipe-3@customer.test"})
	src := pop3.NewSource(&pop3.Config{TLSConfig: s.TLSConfig(), Timeout: 10 * time.Second})
	box := popBox(s, sender, s.POP3SPort, mailbox.SecurityTLS, mailbox.PostKeep)
	eventually(t, "the bounce in the sender's maildrop", func() bool {
		sess, items := popList(t, src, box)
		found := false
		_ = sess.Fetch(ctx, items, func(sp *transport.Spool) {
			defer sp.Close()
			b := make([]byte, min(sp.Size(), 64<<10))
			_, _ = sp.ReadAt(b, 0)
			found = found || (strings.Contains(string(b), "nobody@push.test") && strings.Contains(string(b), "Undelivered"))
		})
		return found
	})
	if h, _ := host.state(); len(h) != 2 {
		t.Fatalf("the unknown recipient was handed: %v", h)
	}
}
