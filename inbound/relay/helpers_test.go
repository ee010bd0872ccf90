package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/inbound/relay"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
)

// recorder is the host's Handler: the Message-IDs handed off, in order.
type recorder struct {
	mu     sync.Mutex
	handed []string
}

func (r *recorder) HandleMessage(_ context.Context, d *inbound.Delivery) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handed = append(r.handed, d.Message.MessageID)
	return nil
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.handed...)
}

// flakyStore fails every Commit while down is set (the host's database is
// unavailable): a temporary failure.
type flakyStore struct {
	store.Inbound
	down atomic.Bool
}

var errDown = errors.New("database unavailable")

func (s *flakyStore) Commit(ctx context.Context, r store.InboundRecord) error {
	if s.down.Load() {
		return errDown
	}
	return s.Inbound.Commit(ctx, r)
}

type env struct {
	g   *inbound.Ingester
	rec *recorder
	st  *flakyStore
}

// newEnv returns an Ingester over two pushed mailboxes, desk
// (support@acme.test) and sales (sales@acme.test).
func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	cat := memory.NewCatalog()
	for _, m := range []struct{ id, addr string }{{"desk", "support@acme.test"}, {"sales", "sales@acme.test"}} {
		if err := cat.PutMailbox(ctx, &mailbox.Mailbox{ID: mailbox.ID(m.id), Description: m.id, Kind: mailbox.Inbound, Enabled: true,
			Address: m.addr, Inbound: &mailbox.InboundSettings{Transport: mailbox.TransportPush, MaxMessageSize: 4 << 10}}); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{rec: &recorder{}, st: &flakyStore{Inbound: memory.NewInboundStore()}}
	p, err := inbound.New(inbound.Options{Store: e.st, Handler: e.rec, Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	e.g = inbound.NewIngester(p, inbound.IngestOptions{})
	return e
}

func rawMessage(id, to string) string {
	return "From: Ana <ana@customer.test>\r\nTo: " + to + "\r\nSubject: help " + id + "\r\nMessage-ID: <" + id + ">\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\nMy printer is on fire.\r\n"
}

type answer struct {
	code int
	body string
	hdr  http.Header
	res  relay.Response
}

func serve(t *testing.T, h http.Handler, req *http.Request) answer {
	t.Helper()
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	a := answer{code: rr.Code, body: rr.Body.String(), hdr: rr.Header()}
	if a.code == http.StatusOK && rr.Header().Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(rr.Body.Bytes(), &a.res); err != nil {
			t.Fatalf("200 body %q: %v", a.body, err)
		}
	}
	return a
}

func (a answer) outcomes() string {
	s := ""
	for _, r := range a.res.Results {
		s += fmt.Sprintf("%s ", r.Outcome)
	}
	return s
}

func post(url, ctype string, body []byte) *http.Request {
	req := httptest.NewRequest(http.MethodPost, url, io.NopCloser(bytes.NewReader(body)))
	req.Header.Set("Content-Type", ctype)
	return req
}

// fixedClock returns a fake clock stopped at t.
func fixedClock(t time.Time) *clock.Fake { return clock.NewFake(t) }
