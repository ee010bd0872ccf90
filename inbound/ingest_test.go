package inbound_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store/memory"
)

// pushedBox is an inbound mailbox of kind push: no server, no credentials.
func pushedBox(id, addr string) *mailbox.Mailbox {
	return &mailbox.Mailbox{ID: mailbox.ID(id), Description: id, Kind: mailbox.Inbound, Enabled: true, Address: addr,
		Inbound: &mailbox.InboundSettings{Transport: mailbox.TransportPush, MaxMessageSize: 4 << 10}}
}

type pushEnv struct {
	st  *memory.InboundStore
	rec *recorder
	g   *inbound.Ingester
	cat *memory.Catalog
}

func newPushEnv(t *testing.T) *pushEnv {
	t.Helper()
	ctx := context.Background()
	cat := memory.NewCatalog()
	for _, m := range []*mailbox.Mailbox{pushedBox("mx", "support@helpdesk.example"), pushedBox("other", "sales@helpdesk.example")} {
		if err := cat.PutMailbox(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	off := pushedBox("off", "off@helpdesk.example")
	off.Enabled = false
	if err := cat.PutMailbox(ctx, off); err != nil {
		t.Fatal(err)
	}
	if err := cat.PutContract(ctx, &contract.Contract{ID: "acme", Name: "ACME", InboundMailboxes: []mailbox.ID{"mx"}}); err != nil {
		t.Fatal(err)
	}
	st := memory.NewInboundStore()
	rec := newRecorder()
	o := fastOptions(st, rec)
	o.Catalog = cat
	p, err := inbound.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &pushEnv{st: st, rec: rec, g: inbound.NewIngester(p, inbound.IngestOptions{SpoolMemory: 1 << 10, SpoolDir: t.TempDir()}), cat: cat}
}

func TestIngest(t *testing.T) {
	e := newPushEnv(t)
	ctx := context.Background()
	raw := rawMsg("support", 1)
	res, err := e.g.Ingest(ctx, "mx", bytes.NewReader(raw))
	if err != nil || res.Outcome != inbound.IngestHandled || res.Key == "" || res.Contract != "acme" {
		t.Fatalf("first push: %+v %v", res, err)
	}
	d := e.rec.last["mx"]
	if d == nil || d.Key != res.Key || d.Message.Subject != "Problem 1" || d.MailboxContract != "acme" || d.Contract != "acme" {
		t.Fatalf("delivery %+v", d)
	}
	if got := e.rec.raw["mx/support-1@example.com"]; !bytes.Equal(got, raw) {
		t.Fatalf("raw handed %q", got)
	}
	// The same message again: refused by key, nothing handed.
	again, err := e.g.Ingest(ctx, "mx", bytes.NewReader(raw))
	if err != nil || again.Outcome != inbound.IngestDuplicate || again.Key != res.Key || e.rec.count("mx") != 1 {
		t.Fatalf("second push: %+v %v (handed %d)", again, err, e.rec.count("mx"))
	}
	// Another mailbox has its own keys.
	if r, err := e.g.Ingest(ctx, "other", bytes.NewReader(raw)); err != nil || r.Outcome != inbound.IngestHandled {
		t.Fatalf("other mailbox: %+v %v", r, err)
	}

	// Too large for the mailbox (4 KiB): quarantined unread, and a
	// duplicate when pushed again.
	big := append(rawMsg("support", 2), bytes.Repeat([]byte("x"), 8<<10)...)
	q, err := e.g.Ingest(ctx, "mx", bytes.NewReader(big))
	if err != nil || q.Outcome != inbound.IngestQuarantined || !strings.Contains(q.Reason, "limit") {
		t.Fatalf("too large: %+v %v", q, err)
	}
	if q2, err := e.g.Ingest(ctx, "mx", bytes.NewReader(big)); err != nil || q2.Outcome != inbound.IngestDuplicate {
		t.Fatalf("too large again: %+v %v", q2, err)
	}
	// Unusable input: quarantined with its bytes.
	u, err := e.g.Ingest(ctx, "mx", strings.NewReader(""))
	if err != nil || u.Outcome != inbound.IngestQuarantined {
		t.Fatalf("empty message: %+v %v", u, err)
	}
	if n := len(e.st.Quarantined("mx")); n != 2 {
		t.Fatalf("%d quarantined, want 2", n)
	}

	// The handler fails temporarily: an error, nothing recorded; the retry
	// hands it.
	e.rec.hook = func(*inbound.Delivery) error { return errors.New("database down") }
	raw3 := rawMsg("support", 3)
	if _, err := e.g.Ingest(ctx, "mx", bytes.NewReader(raw3)); err == nil || errors.Is(err, inbound.ErrNotPushed) {
		t.Fatalf("temporary failure: %v", err)
	}
	e.rec.hook = nil
	if r, err := e.g.Ingest(ctx, "mx", bytes.NewReader(raw3)); err != nil || r.Outcome != inbound.IngestHandled {
		t.Fatalf("retry: %+v %v", r, err)
	}
	// Refused for good: quarantined.
	e.rec.hook = func(*inbound.Delivery) error { return fmt.Errorf("spam: %w", inbound.ErrPermanent) }
	if r, err := e.g.Ingest(ctx, "mx", bytes.NewReader(rawMsg("support", 4))); err != nil || r.Outcome != inbound.IngestQuarantined {
		t.Fatalf("refused: %+v %v", r, err)
	}
	e.rec.hook = nil
	if dupes := e.rec.dupes(); len(dupes) != 0 {
		t.Fatalf("handed twice: %v", dupes)
	}

	for _, id := range []mailbox.ID{"nope", "off"} {
		if _, err := e.g.Ingest(ctx, id, bytes.NewReader(raw)); !errors.Is(err, inbound.ErrNotPushed) {
			t.Fatalf("%s: %v, want ErrNotPushed", id, err)
		}
	}
}

func TestIngestRecipient(t *testing.T) {
	e := newPushEnv(t)
	for addr, want := range map[string]mailbox.ID{
		"support@helpdesk.example": "mx", "<Support@Helpdesk.Example>": "mx", "support+ticket42@helpdesk.example": "mx", "sales@helpdesk.example": "other",
	} {
		if got, err := e.g.Recipient(addr); err != nil || got != want {
			t.Errorf("Recipient(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
	for _, addr := range []string{"", "nobody@helpdesk.example", "off@helpdesk.example"} {
		if _, err := e.g.Recipient(addr); !errors.Is(err, inbound.ErrNotPushed) {
			t.Errorf("Recipient(%q): %v", addr, err)
		}
	}
}

const testSecret = "0123456789abcdef-test-secret"

func signedRequest(t *testing.T, target string, body []byte, ts time.Time, secret string) *http.Request {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/push?"+target, bytes.NewReader(body))
	sig, err := inbound.PushSignature([]byte(secret), ts.Unix(), target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(inbound.HeaderPushTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(inbound.HeaderPushSignature, sig)
	return req
}

func TestWebhook(t *testing.T) {
	e := newPushEnv(t)
	if _, err := inbound.NewWebhook(e.g, inbound.WebhookOptions{Secret: mailbox.NewSecret("short")}); err == nil {
		t.Fatal("a short secret was accepted")
	}
	h, err := inbound.NewWebhook(e.g, inbound.WebhookOptions{Secret: mailbox.NewSecret(testSecret), MaxBodySize: 16 << 10, SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	raw := rawMsg("support", 7)
	serve := func(req *http.Request) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	decode := func(w *httptest.ResponseRecorder) inbound.IngestResult {
		var r inbound.IngestResult
		if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
			t.Fatalf("body %q: %v", w.Body.String(), err)
		}
		return r
	}

	w := serve(signedRequest(t, "mailbox=mx", raw, now, testSecret))
	if w.Code != http.StatusOK || decode(w).Outcome != inbound.IngestHandled || e.rec.count("mx") != 1 {
		t.Fatalf("signed push: %d %s", w.Code, w.Body)
	}
	// A replay within the tolerance is a duplicate by key.
	if w := serve(signedRequest(t, "mailbox=mx", raw, now, testSecret)); w.Code != http.StatusOK || decode(w).Outcome != inbound.IngestDuplicate || e.rec.count("mx") != 1 {
		t.Fatalf("replay: %d %s", w.Code, w.Body)
	}
	// By recipient.
	if w := serve(signedRequest(t, "recipient=sales@helpdesk.example", raw, now, testSecret)); w.Code != http.StatusOK || e.rec.count("other") != 1 {
		t.Fatalf("by recipient: %d %s", w.Code, w.Body)
	}

	other := rawMsg("support", 8)
	cases := []struct {
		name string
		req  func() *http.Request
		code int
	}{
		{"wrong secret", func() *http.Request { return signedRequest(t, "mailbox=mx", other, now, "another-secret-0123456789") }, http.StatusUnauthorized},
		{"stale", func() *http.Request {
			return signedRequest(t, "mailbox=mx", other, now.Add(-10*time.Minute), testSecret)
		}, http.StatusUnauthorized},
		{"future", func() *http.Request {
			return signedRequest(t, "mailbox=mx", other, now.Add(10*time.Minute), testSecret)
		}, http.StatusUnauthorized},
		{"retargeted", func() *http.Request {
			r := signedRequest(t, "mailbox=mx", other, now, testSecret)
			r.URL.RawQuery = "mailbox=other"
			return r
		}, http.StatusUnauthorized},
		{"body changed", func() *http.Request {
			r := signedRequest(t, "mailbox=mx", other, now, testSecret)
			r.Body = httpBody(append(other, 'x'))
			return r
		}, http.StatusUnauthorized},
		{"no signature", func() *http.Request {
			r := signedRequest(t, "mailbox=mx", other, now, testSecret)
			r.Header.Del(inbound.HeaderPushSignature)
			return r
		}, http.StatusUnauthorized},
		{"no timestamp", func() *http.Request {
			r := signedRequest(t, "mailbox=mx", other, now, testSecret)
			r.Header.Del(inbound.HeaderPushTimestamp)
			return r
		}, http.StatusBadRequest},
		{"empty", func() *http.Request { return signedRequest(t, "mailbox=mx", nil, now, testSecret) }, http.StatusBadRequest},
		{"no target", func() *http.Request { return signedRequest(t, "", other, now, testSecret) }, http.StatusBadRequest},
		{"unknown mailbox", func() *http.Request { return signedRequest(t, "mailbox=nope", other, now, testSecret) }, http.StatusNotFound},
		{"unknown recipient", func() *http.Request { return signedRequest(t, "recipient=x@y.example", other, now, testSecret) }, http.StatusNotFound},
		{"too large", func() *http.Request {
			return signedRequest(t, "mailbox=mx", append(other, bytes.Repeat([]byte("y"), 32<<10)...), now, testSecret)
		}, http.StatusRequestEntityTooLarge},
		{"GET", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/push?mailbox=mx", nil) }, http.StatusMethodNotAllowed},
	}
	for _, c := range cases {
		if w := serve(c.req()); w.Code != c.code {
			t.Errorf("%s: %d %s, want %d", c.name, w.Code, w.Body, c.code)
		}
	}
	if n := e.rec.count("mx"); n != 1 {
		t.Fatalf("refused requests handed mail: %d", n)
	}
	// The handler fails: 503 with Retry-After, then the retry is taken.
	e.rec.hook = func(*inbound.Delivery) error { return errors.New("db down") }
	if w := serve(signedRequest(t, "mailbox=mx", other, now, testSecret)); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("handler down: %d %v", w.Code, w.Header())
	}
	e.rec.hook = nil
	if w := serve(signedRequest(t, "mailbox=mx", other, now, testSecret)); w.Code != http.StatusOK || decode(w).Outcome != inbound.IngestHandled {
		t.Fatalf("retry: %d %s", w.Code, w.Body)
	}
}

type bodyReader struct{ *bytes.Reader }

func (bodyReader) Close() error { return nil }

func httpBody(b []byte) bodyReader { return bodyReader{bytes.NewReader(b)} }

// TestIngestConcurrent: the same message pushed many times at once is
// handed once.
func TestIngestConcurrent(t *testing.T) {
	e := newPushEnv(t)
	raw := rawMsg("support", 9)
	var wg sync.WaitGroup
	outcomes := make(chan inbound.IngestOutcome, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.g.Ingest(context.Background(), "mx", bytes.NewReader(raw))
			if err != nil {
				t.Error(err)
			}
			outcomes <- r.Outcome
		}()
	}
	wg.Wait()
	close(outcomes)
	handled := 0
	for o := range outcomes {
		if o == inbound.IngestHandled {
			handled++
		}
	}
	if handled != 1 || e.rec.count("mx") != 1 {
		t.Fatalf("handled %d times (handler %d)", handled, e.rec.count("mx"))
	}
}
