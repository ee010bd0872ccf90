package inbound_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport/imap"
)

func newServer(t testing.TB) *mailtest.IMAPServer {
	t.Helper()
	s, err := mailtest.NewIMAPServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newProxy(t testing.TB, target string) *mailtest.Proxy {
	t.Helper()
	p, err := mailtest.NewProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// mb returns an inbound mailbox for user on host:port (plaintext, loopback).
func mb(id, user, host string, port int) *mailbox.Mailbox {
	return &mailbox.Mailbox{ID: mailbox.ID(id), Description: id, Kind: mailbox.Inbound, Enabled: true,
		Address: user + "@helpdesk.example",
		Inbound: &mailbox.InboundSettings{
			Server:      mailbox.Server{Host: host, Port: port, Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			Credentials: mailbox.Credentials{Username: user, Password: mailbox.NewSecret("pw-" + user)},
		}}
}

func rawMsg(user string, i int) []byte {
	return []byte(fmt.Sprintf("From: Customer %d <customer%d@example.com>\r\nTo: %s@helpdesk.example\r\nSubject: Problem %d\r\nMessage-ID: <%s-%d@example.com>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease help with issue %d.\r\n", i%7, i%7, user, i, user, i, i))
}

// recorder is a Handler that records every hand-off and checks
// exactly-once per mailbox.
type recorder struct {
	mu    sync.Mutex
	seen  map[string]int // mailbox/key -> count
	per   map[mailbox.ID]int
	last  map[mailbox.ID]*inbound.Delivery
	raw   map[string][]byte
	calls int
	hook  func(d *inbound.Delivery) error
}

func newRecorder() *recorder {
	return &recorder{seen: map[string]int{}, per: map[mailbox.ID]int{}, last: map[mailbox.ID]*inbound.Delivery{}, raw: map[string][]byte{}}
}

func (r *recorder) HandleMessage(ctx context.Context, d *inbound.Delivery) error {
	if r.hook != nil {
		if err := r.hook(d); err != nil {
			return err
		}
	}
	b, err := io.ReadAll(d.Raw())
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.seen[string(d.Mailbox.ID)+"/"+d.Key]++
	r.per[d.Mailbox.ID]++
	r.last[d.Mailbox.ID] = d
	r.raw[string(d.Mailbox.ID)+"/"+d.Message.MessageID] = b
	return nil
}

func (r *recorder) count(id mailbox.ID) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.per[id]
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

func (r *recorder) dupes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for k, n := range r.seen {
		if n > 1 {
			out = append(out, fmt.Sprintf("%s x%d", k, n))
		}
	}
	return out
}

// eventually waits for cond, failing after a generous bound. It asserts an
// outcome, not a speed.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func fastOptions(st store.Inbound, h inbound.Handler) inbound.Options {
	return inbound.Options{
		Store:            st,
		Handler:          h,
		Catalog:          memory.NewCatalog(),
		IMAP:             &imap.Config{Timeout: 500 * time.Millisecond},
		RetryBase:        5 * time.Millisecond,
		RetryMax:         40 * time.Millisecond,
		BreakerThreshold: 2,
		BatchSize:        7,
	}
}

// catalogWriter is the write side the tests put their mailboxes through.
type catalogWriter interface {
	engine.Catalog
	PutMailbox(ctx context.Context, m *mailbox.Mailbox) error
	DeleteMailbox(ctx context.Context, id mailbox.ID) error
}

type running struct {
	p      *inbound.Poller
	cat    catalogWriter
	cancel context.CancelFunc
	done   chan error
}

// start runs a Poller over o; mbs are put in o.Catalog (a new memory
// catalog when o.Catalog is nil) before it starts.
func start(t testing.TB, o inbound.Options, mbs ...*mailbox.Mailbox) *running {
	t.Helper()
	if o.Catalog == nil {
		o.Catalog = memory.NewCatalog()
	}
	cat, ok := o.Catalog.(catalogWriter)
	if !ok {
		t.Fatalf("catalog %T has no write side", o.Catalog)
	}
	for _, m := range mbs {
		if err := cat.PutMailbox(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	p, err := inbound.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{p: p, cat: cat, cancel: cancel, done: make(chan error, 1)}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	go func() {
		<-ctx.Done()
		r.done <- p.Stop(context.Background())
	}()
	t.Cleanup(r.stop)
	return r
}

// put adds or changes a mailbox in the catalog and applies it now.
func (r *running) put(t testing.TB, m *mailbox.Mailbox) {
	t.Helper()
	if err := r.cat.PutMailbox(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	r.p.Reload()
}

// del removes a mailbox from the catalog and applies it now.
func (r *running) del(t testing.TB, id mailbox.ID) {
	t.Helper()
	if err := r.cat.DeleteMailbox(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	r.p.Reload()
}

func (r *running) stop() {
	r.cancel()
	<-r.done
	r.done <- nil // later stops return at once
}

// health returns a mailbox's health (zero when unknown).
func (r *running) health(id mailbox.ID) engine.Health {
	h, _ := r.p.Health(context.Background(), id)
	return h
}

// putMailbox puts m in cat, failing the test on an error.
func putMailbox(t testing.TB, cat catalogWriter, m *mailbox.Mailbox) {
	t.Helper()
	if err := cat.PutMailbox(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

func mustHealthAll(t testing.TB, p *inbound.Poller) []engine.Health {
	t.Helper()
	hs, err := p.HealthAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
