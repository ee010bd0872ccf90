package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store/memory"
)

const secret = "pipe-test-secret-0123456789"

// host is a correio host: a Poller's Ingester behind the push webhook,
// with a Handler that records what it was handed (or fails).
type host struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []string // Message-IDs handed
	fail error
}

func (h *host) HandleMessage(_ context.Context, d *inbound.Delivery) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail != nil {
		return h.fail
	}
	h.got = append(h.got, d.Message.MessageID)
	return nil
}

func (h *host) handed() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.got...)
}

func newHost(t *testing.T) *host {
	t.Helper()
	cat := memory.NewCatalog()
	m := &mailbox.Mailbox{ID: "support", Description: "support", Kind: mailbox.Inbound, Enabled: true, Address: "support@desk.example",
		Inbound: &mailbox.InboundSettings{Transport: mailbox.TransportPush}}
	if err := cat.PutMailbox(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	h := &host{}
	p, err := inbound.New(inbound.Options{Store: memory.NewInboundStore(), Handler: h, Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	wh, err := inbound.NewWebhook(inbound.NewIngester(p, inbound.IngestOptions{}), inbound.WebhookOptions{Secret: mailbox.NewSecret(secret)})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(wh)
	t.Cleanup(h.srv.Close)
	return h
}

func pipe(t *testing.T, stdin []byte, args ...string) (int, string) {
	t.Helper()
	var stderr bytes.Buffer
	env := func(k string) string {
		if k == "CORREIO_PIPE_SECRET" {
			return secret
		}
		return ""
	}
	code := run(context.Background(), args, bytes.NewReader(stdin), &stderr, env, http.DefaultClient)
	return code, stderr.String()
}

func msg(id string) []byte {
	return []byte("From: Customer <c@example.com>\r\nTo: support@desk.example\r\nSubject: help\r\nMessage-ID: <" + id + ">\r\n\r\nPlease help.\r\n")
}

func TestExitCodes(t *testing.T) {
	h := newHost(t)
	url := h.srv.URL + "/correio/push"

	if code, errText := pipe(t, msg("a@c"), "-url", url, "support@desk.example"); code != exOK {
		t.Fatalf("delivery: exit %d: %s", code, errText)
	}
	if got := h.handed(); len(got) != 1 || got[0] != "a@c" {
		t.Fatalf("handed %v", got)
	}
	// The MTA retries after a lost answer: the duplicate is taken (0) and
	// not handed again.
	if code, _ := pipe(t, msg("a@c"), "-url", url, "support@desk.example"); code != exOK || len(h.handed()) != 1 {
		t.Fatalf("duplicate: exit %d, handed %v", code, h.handed())
	}
	// By mailbox ID, with the secret from a file.
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"-url", url, "-secret-file", file, "-mailbox", "support"}, bytes.NewReader(msg("b@c")), &stderr,
		func(string) string { return "" }, http.DefaultClient); code != exOK || len(h.handed()) != 2 {
		t.Fatalf("by mailbox: exit %d (%s), handed %v", code, stderr.String(), h.handed())
	}

	for _, c := range []struct {
		name  string
		stdin []byte
		args  []string
		want  int
	}{
		{"unknown recipient", msg("c@c"), []string{"-url", url, "nobody@desk.example"}, exNoUser},
		{"empty input", nil, []string{"-url", url, "support@desk.example"}, exDataErr},
		{"too large", msg("d@c"), []string{"-url", url, "-max-size", "20", "support@desk.example"}, exDataErr},
		{"no url", msg("e@c"), []string{"support@desk.example"}, exUsage},
		{"no recipient", msg("e@c"), []string{"-url", url}, exUsage},
		{"bad flag", msg("e@c"), []string{"-nope"}, exUsage},
	} {
		if code, errText := pipe(t, c.stdin, c.args...); code != c.want {
			t.Errorf("%s: exit %d (%s), want %d", c.name, code, errText, c.want)
		}
	}

	// The host's handler is down: 75, the MTA keeps the message; once it
	// is back the retry is handed.
	h.mu.Lock()
	h.fail = errors.New("database unavailable")
	h.mu.Unlock()
	if code, _ := pipe(t, msg("f@c"), "-url", url, "support@desk.example"); code != exTempFail {
		t.Fatalf("handler down: exit %d", code)
	}
	h.mu.Lock()
	h.fail = nil
	h.mu.Unlock()
	if code, _ := pipe(t, msg("f@c"), "-url", url, "support@desk.example"); code != exOK || len(h.handed()) != 3 {
		t.Fatalf("retry: exit %d, handed %v", code, h.handed())
	}

	// A wrong secret defers (75) and hands nothing.
	var se bytes.Buffer
	code := run(context.Background(), []string{"-url", url, "support@desk.example"}, bytes.NewReader(msg("g@c")), &se,
		func(string) string { return "a-different-secret-0123456789" }, http.DefaultClient)
	if code != exTempFail || !strings.Contains(se.String(), "signature") || len(h.handed()) != 3 {
		t.Fatalf("wrong secret: exit %d (%s)", code, se.String())
	}

	// The host is down: 75.
	h.srv.Close()
	if code, _ := pipe(t, msg("h@c"), "-url", url, "support@desk.example"); code != exTempFail {
		t.Fatalf("host down: exit %d", code)
	}
}

// TestLargeMessageSpooled: a message above the in-memory spool size goes
// through whole.
func TestLargeMessageSpooled(t *testing.T) {
	h := newHost(t)
	big := append(msg("big@c"), bytes.Repeat([]byte("line of body text\r\n"), 120_000)...) // ~2.2 MiB
	if code, errText := pipe(t, big, "-url", h.srv.URL, "-spool-dir", t.TempDir(), "support@desk.example"); code != exOK {
		t.Fatalf("exit %d: %s", code, errText)
	}
	if got := h.handed(); len(got) != 1 || got[0] != "big@c" {
		t.Fatalf("handed %v", got)
	}
}
