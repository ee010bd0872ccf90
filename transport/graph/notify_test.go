package graph_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/sqlite"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/graph"
	"github.com/correio-dev/correio/transport/internal/resttest"
	"github.com/correio-dev/correio/transport/transporttest"
)

// notifyHost is the host's side of change notifications: a TLS server
// that mounts the Source's handler, trusted by the Graph test server.
type notifyHost struct {
	srv    *mailtest.GraphServer
	host   *httptest.Server
	proxy  *handlerProxy
	src    *graph.Source
	store  graph.SubscriptionStore
	notify *graph.NotifyConfig
}

// handlerProxy lets the host server start before the Source exists (the
// notification URL is the server's address).
type handlerProxy struct {
	mu sync.Mutex
	h  http.Handler
}

func (p *handlerProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	h := p.h
	p.mu.Unlock()
	if h == nil {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	h.ServeHTTP(w, r)
}

// restart replaces the Source by a new one over the same store and URLs
// (a restarted host), loading the stored subscriptions.
func (nh *notifyHost) restart(t *testing.T) {
	t.Helper()
	cfg := config(t, nh.srv, transport.Net{})
	n := *nh.notify
	cfg.Notify = &n
	nh.src = graph.NewSource(cfg)
	if err := nh.src.LoadSubscriptions(context.Background()); err != nil {
		t.Fatal(err)
	}
	nh.proxy.mu.Lock()
	nh.proxy.h = nh.src.NotificationHandler()
	nh.proxy.mu.Unlock()
}

// post sends a notification body to the host's URL as Graph would.
func (nh *notifyHost) post(t *testing.T, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, nh.host.URL+"/graph/notify", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := nh.host.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func newNotifyHost(t *testing.T, srv *mailtest.GraphServer, st graph.SubscriptionStore, opts ...func(*graph.NotifyConfig)) *notifyHost {
	t.Helper()
	proxy := &handlerProxy{}
	host := httptest.NewTLSServer(proxy)
	t.Cleanup(host.Close)
	srv.TrustNotificationCert(host.Certificate())
	if st == nil {
		st = graph.NewMemorySubscriptions()
	}
	cfg := config(t, srv, transport.Net{})
	cfg.Notify = &graph.NotifyConfig{NotificationURL: host.URL + "/graph/notify", LifecycleURL: host.URL + "/graph/lifecycle",
		Key: mailbox.NewSecret("0123456789abcdef-test-key"), Store: st}
	for _, o := range opts {
		o(cfg.Notify)
	}
	src := graph.NewSource(cfg)
	proxy.mu.Lock()
	proxy.h = src.NotificationHandler()
	proxy.mu.Unlock()
	return &notifyHost{srv: srv, host: host, proxy: proxy, src: src, store: st, notify: cfg.Notify}
}

// safeBuffer is a bytes.Buffer safe for concurrent writes (log output).
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// waitFor polls cond with a generous bound (never a speed assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNotificationsWakeTheEngine: with change notifications on and both
// the poll interval and the push renewal an hour away, only a
// notification can make the engine read new mail. The subscription
// follows the reference (resource, changeType, both URLs validated,
// expiration within the maximum), a restarted engine reuses the stored
// subscription instead of creating another, "missed" makes it sync,
// "subscriptionRemoved" makes it create a new one, and
// "reauthorizationRequired" renews it.
func TestNotificationsWakeTheEngine(t *testing.T) {
	srv := newServer(t)
	nh := newNotifyHost(t, srv, nil)
	m := inboundMailbox()
	m.Inbound.PollInterval = time.Hour
	catalog := memory.NewCatalog()
	if err := catalog.PutMailbox(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	st := memory.NewInboundStore()
	var handed resttest.Handed
	count := handed.Messages
	start := func() (stop func()) {
		return resttest.Start(t, inbound.Options{Store: st, Catalog: catalog, IdleRenew: time.Hour,
			Source: transport.Sources{mailbox.TransportGraph: nh.src}}, &handed)
	}
	stop := start()
	waitFor(t, "the subscription", func() bool { return len(srv.Subscriptions()) == 1 })
	// Graph has it once its POST returns; the handler knows it a moment
	// later (a notification before that is refused and counted, and
	// polling stays the fallback).
	waitFor(t, "the subscription stored", func() bool {
		_, ok, _ := nh.store.Subscription(context.Background(), m.ID)
		return ok
	})
	sub := srv.Subscriptions()[0]
	if sub.Resource != "/users/desk@example.com/mailFolders('inbox')/messages" || sub.ChangeType != "created" ||
		sub.NotificationURL != nh.host.URL+"/graph/notify" || sub.LifecycleURL != nh.host.URL+"/graph/lifecycle" {
		t.Fatalf("subscription %+v", sub)
	}
	if d := time.Until(sub.Expires); d > graph.MaxSubscriptionLifetime || d < graph.DefaultSubscriptionLifetime-time.Hour {
		t.Fatalf("expires in %v", d)
	}
	if st := nh.src.NotifyStats(); st.Validations != 2 {
		t.Fatalf("validations %d, want 2 (notification and lifecycle URLs)", st.Validations)
	}
	if strings.Contains(sub.ClientState, "0123456789abcdef") || len(sub.ClientState) == 0 || len(sub.ClientState) > 128 {
		t.Fatalf("clientState %q", sub.ClientState)
	}
	// New mail: woken by the notification.
	if _, err := srv.Deliver(desk, "inbox", transporttest.Message("push", 1, 300)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first message", func() bool { return count() == 1 })
	if nh.src.NotifyStats().Accepted == 0 {
		t.Fatal("no notification accepted")
	}
	stop()

	// Restarted (a new Source over the same store): the stored
	// subscription is known to the handler at once and reused.
	nh.restart(t)
	before := nh.src.NotifyStats()
	if code := nh.post(t, `{"value":[{"subscriptionId":"`+sub.ID+`","clientState":"`+sub.ClientState+`","changeType":"created"}]}`); code != http.StatusAccepted {
		t.Fatalf("a notification after the restart: %d", code)
	}
	if st := nh.src.NotifyStats(); st.Accepted != before.Accepted+1 || st.Refused != before.Refused {
		t.Fatalf("after the restart, before any session: %+v, want it accepted", st)
	}
	stop = start()
	if _, err := srv.Deliver(desk, "inbox", transporttest.Message("push", 2, 300)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second message", func() bool { return count() == 2 })
	if subs := srv.Subscriptions(); len(subs) != 1 || subs[0].ID != sub.ID {
		t.Fatalf("after a restart: %+v, want the one subscription %s", subs, sub.ID)
	}

	// Missed notifications: the lifecycle event makes it sync.
	srv.SetNotificationsPaused(true)
	if _, err := srv.Deliver(desk, "inbox", transporttest.Message("push", 3, 300)); err != nil {
		t.Fatal(err)
	}
	srv.SetNotificationsPaused(false)
	if code, err := srv.SendLifecycle(context.Background(), sub.ID, graph.LifecycleMissed); err != nil || code != http.StatusAccepted {
		t.Fatalf("missed: %d %v", code, err)
	}
	waitFor(t, "the missed message", func() bool { return count() == 3 })

	// Reauthorisation: renewed with PATCH.
	reqs := len(srv.Requests())
	if code, err := srv.SendLifecycle(context.Background(), sub.ID, graph.LifecycleReauthorizationRequired); err != nil || code != http.StatusAccepted {
		t.Fatalf("reauthorizationRequired: %d %v", code, err)
	}
	waitFor(t, "the renewal", func() bool {
		for _, r := range srv.Requests()[reqs:] {
			if r == "PATCH /v1.0/subscriptions/"+sub.ID {
				return true
			}
		}
		return false
	})

	// Removed: created again, stored, and new mail still wakes it.
	if code, err := srv.SendLifecycle(context.Background(), sub.ID, graph.LifecycleSubscriptionRemoved); err != nil || code != http.StatusAccepted {
		t.Fatalf("subscriptionRemoved: %d %v", code, err)
	}
	waitFor(t, "a new subscription", func() bool { s := srv.Subscriptions(); return len(s) == 1 && s[0].ID != sub.ID })
	stored, ok, err := nh.store.Subscription(context.Background(), m.ID)
	if err != nil || !ok || stored.ID != srv.Subscriptions()[0].ID {
		t.Fatalf("stored %+v %v %v, want %s", stored, ok, err, srv.Subscriptions()[0].ID)
	}
	if _, err := srv.Deliver(desk, "inbox", transporttest.Message("push", 4, 300)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the fourth message", func() bool { return count() == 4 })
	stop()
	if _, twice := handed.Count(); twice {
		t.Fatalf("a message handed more than once: %v", &handed)
	}

	// Unsubscribe deletes it on Graph and in the store.
	if err := nh.src.Unsubscribe(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if s := srv.Subscriptions(); len(s) != 0 {
		t.Fatalf("after Unsubscribe: %+v", s)
	}
	if _, ok, _ := nh.store.Subscription(context.Background(), m.ID); ok {
		t.Fatal("the store still has the subscription")
	}
}

// TestNotificationHandlerRefuses: the handler answers the validation
// handshake as documented and trusts no notification it cannot
// authenticate: unknown subscription ids and wrong clientState values
// wake nobody; wrong methods, content types and oversized bodies are
// refused.
func TestNotificationHandlerRefuses(t *testing.T) {
	srv := newServer(t)
	var logBuf safeBuffer
	nh := newNotifyHost(t, srv, nil, func(c *graph.NotifyConfig) { c.Logger = slog.New(slog.NewTextHandler(&logBuf, nil)) })
	ctx := context.Background()
	// A "test connection" creates no subscription.
	rep, err := nh.src.Check(ctx, inboundMailbox())
	if err != nil || rep.Fact("notifications") != "configured" || len(srv.Subscriptions()) != 0 {
		t.Fatalf("Check: %v %+v, subscriptions %+v", err, rep.Facts, srv.Subscriptions())
	}
	s, err := nh.src.Open(ctx, inboundMailbox())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if !s.Push() {
		t.Fatal("no push with a subscription")
	}
	sub := srv.Subscriptions()[0]
	h := nh.src.NotificationHandler()
	post := func(target, ctype, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := post("/graph/notify?validationToken=a%20b%3Cc%3E", "text/plain; charset=utf-8", "")
	if rec.Code != 200 || rec.Body.String() != "a b<c>" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("validation: %d %q %q", rec.Code, rec.Body.String(), rec.Header().Get("Content-Type"))
	}
	// waitNotified reports whether Wait returned before d: short for the
	// refusals (nothing else can end the Wait: no fallback or renewal is
	// due for hours), generous for the accepted one.
	waitNotified := func(d time.Duration) bool {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		_ = s.Wait(ctx, nil)
		return ctx.Err() == nil
	}
	for _, c := range []struct{ name, body string }{
		{"unknown subscription", `{"value":[{"subscriptionId":"00000000-0000-0000-0000-000000000000","clientState":"` + sub.ClientState + `","changeType":"created"}]}`},
		{"wrong clientState", `{"value":[{"subscriptionId":"` + sub.ID + `","clientState":"guess","changeType":"created"}]}`},
		{"no clientState", `{"value":[{"subscriptionId":"` + sub.ID + `","changeType":"created"}]}`},
	} {
		before := nh.src.NotifyStats().Refused
		if rec := post("/graph/notify", "application/json", c.body); rec.Code != http.StatusAccepted {
			t.Fatalf("%s: %d", c.name, rec.Code)
		}
		if nh.src.NotifyStats().Refused != before+1 {
			t.Fatalf("%s: not counted as refused", c.name)
		}
		if waitNotified(300 * time.Millisecond) {
			t.Fatalf("%s woke the session", c.name)
		}
	}
	good := `{"value":[{"subscriptionId":"` + sub.ID + `","clientState":"` + sub.ClientState + `","changeType":"created","resource":"Users/x/Messages/y"}]}`
	if rec := post("/graph/notify", "application/json; charset=utf-8", good); rec.Code != http.StatusAccepted {
		t.Fatalf("good: %d", rec.Code)
	}
	if !waitNotified(20 * time.Second) {
		t.Fatal("an authentic notification did not wake the session")
	}
	if rec := post("/graph/notify", "text/plain", good); rec.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain notification: %d", rec.Code)
	}
	if rec := post("/graph/notify", "application/json", "{"); rec.Code != http.StatusBadRequest {
		t.Fatalf("broken JSON: %d", rec.Code)
	}
	big := `{"value":[],"pad":"` + strings.Repeat("x", graph.DefaultMaxNotificationBody) + `"}`
	if rec := post("/graph/notify", "application/json", big); rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized: %d", rec.Code)
	}
	if l := logBuf.String(); !strings.Contains(l, "refused") || strings.Contains(l, sub.ClientState) || strings.Contains(l, "guess") {
		t.Fatalf("the log should name the refusals and no clientState:\n%s", l)
	}
	req := httptest.NewRequest(http.MethodGet, "/graph/notify?validationToken=x", nil)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", rec.Code)
	}
}

// TestSubscriptionRenewal: a stored subscription with less than half its
// lifetime left is renewed (PATCH) when a session opens; one Graph no
// longer has (expired) is created again; a notification URL that fails
// the validation handshake leaves the mailbox polling.
func TestSubscriptionRenewal(t *testing.T) {
	srv := newServer(t)
	nh := newNotifyHost(t, srv, nil)
	ctx := context.Background()
	m := inboundMailbox()
	open := func() transport.Session {
		t.Helper()
		s, err := nh.src.Open(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	_ = s.Close(ctx)
	sub, _, _ := nh.store.Subscription(ctx, m.ID)
	sub.Expires = time.Now().Add(time.Hour) // well under half of the lifetime left
	if err := nh.store.PutSubscription(ctx, sub); err != nil {
		t.Fatal(err)
	}
	before := len(srv.Requests())
	s = open()
	_ = s.Close(ctx)
	var patched bool
	for _, r := range srv.Requests()[before:] {
		patched = patched || r == "PATCH /v1.0/subscriptions/"+sub.ID
	}
	renewed, _, _ := nh.store.Subscription(ctx, m.ID)
	if !patched || renewed.ID != sub.ID || time.Until(renewed.Expires) < graph.DefaultSubscriptionLifetime-time.Hour {
		t.Fatalf("renewal: patched %v, stored %+v", patched, renewed)
	}
	// Expired on Graph: the renewal's 404 makes a new one.
	srv.ExpireSubscription(sub.ID)
	renewed.Expires = time.Now().Add(time.Hour)
	_ = nh.store.PutSubscription(ctx, renewed)
	s = open()
	if !s.Push() {
		t.Fatal("no subscription after re-creating it")
	}
	_ = s.Close(ctx)
	subs := srv.Subscriptions()
	if len(subs) != 1 || subs[0].ID == sub.ID {
		t.Fatalf("after expiry: %+v", subs)
	}

	// A host whose endpoint fails validation: polling, no subscription.
	bad := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte("not the token"))
	}))
	defer bad.Close()
	srv2 := newServer(t)
	srv2.TrustNotificationCert(bad.Certificate())
	cfg := config(t, srv2, transport.Net{})
	cfg.Notify = &graph.NotifyConfig{NotificationURL: bad.URL + "/n", Key: mailbox.NewSecret("0123456789abcdef-test-key"), Store: graph.NewMemorySubscriptions()}
	s2, err := graph.NewSource(cfg).Open(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close(ctx)
	if s2.Push() || len(srv2.Subscriptions()) != 0 {
		t.Fatalf("push %v with a failed validation, subscriptions %+v", s2.Push(), srv2.Subscriptions())
	}
}

// TestFileSubscriptions: the durable stores (the file store, and
// StateSubscriptions over SQLite's transport state) keep records across
// instances, replace and delete them.
func TestFileSubscriptions(t *testing.T) {
	dir := t.TempDir()
	a, err := graph.NewFileSubscriptions(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := graph.NewFileSubscriptions(dir)
	testSubscriptionStore(t, a, b)

	path := filepath.Join(t.TempDir(), "correio.db")
	db1, err := sqlite.Open(context.Background(), path, sqlite.Options{CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db1.Close()
	db2, err := sqlite.Open(context.Background(), path, sqlite.Options{CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	testSubscriptionStore(t, graph.StateSubscriptions(db1.TransportState()), graph.StateSubscriptions(db2.TransportState()))
}

// testSubscriptionStore checks two handles a and b of one store.
func testSubscriptionStore(t *testing.T, a, b graph.SubscriptionStore) {
	t.Helper()
	ctx := context.Background()
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	if err := a.PutSubscription(ctx, graph.Subscription{Mailbox: "m1", ID: "s1", Resource: "/users/a/messages", Nonce: "n1", Expires: exp}); err != nil {
		t.Fatal(err)
	}
	_ = a.PutSubscription(ctx, graph.Subscription{Mailbox: "m2", ID: "s2", Nonce: "n2", Expires: exp})
	_ = a.PutSubscription(ctx, graph.Subscription{Mailbox: "m1", ID: "s3", Nonce: "n3", Expires: exp})
	got, ok, err := b.Subscription(ctx, "m1")
	if err != nil || !ok || got.ID != "s3" || !got.Expires.Equal(exp) {
		t.Fatalf("m1: %+v %v %v", got, ok, err)
	}
	all, _ := b.Subscriptions(ctx)
	if len(all) != 2 {
		t.Fatalf("all: %+v", all)
	}
	if err := b.DeleteSubscription(ctx, "m1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := a.Subscription(ctx, "m1"); ok {
		t.Fatal("m1 still there")
	}
	if err := b.DeleteSubscription(ctx, "nope"); err != nil {
		t.Fatal(err)
	}
}

// TestNotifyFallback: a subscribed session still returns from Wait after
// NotifyConfig.FallbackInterval without any notification (lost ones are
// caught up by the delta query), and a lifecycle event that arrived while
// no session was open is acted on by the next Open.
func TestNotifyFallback(t *testing.T) {
	srv := newServer(t)
	nh := newNotifyHost(t, srv, nil, func(c *graph.NotifyConfig) { c.FallbackInterval = 100 * time.Millisecond })
	src := nh.src
	ctx := context.Background()
	s, err := src.Open(ctx, inboundMailbox())
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := s.Wait(wctx, nil); err != nil || wctx.Err() != nil {
		t.Fatalf("Wait: %v, ctx %v: the fallback did not end it", err, wctx.Err())
	}
	sub := srv.Subscriptions()[0]
	_ = s.Close(ctx)
	// Reauthorisation requested while no session is open: the next Open
	// renews.
	if code, err := srv.SendLifecycle(ctx, sub.ID, graph.LifecycleReauthorizationRequired); err != nil || code != http.StatusAccepted {
		t.Fatalf("lifecycle: %d %v", code, err)
	}
	before := len(srv.Requests())
	s, err = src.Open(ctx, inboundMailbox())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if countPrefix(srv.Requests()[before:], "PATCH /v1.0/subscriptions/"+sub.ID, "") != 1 {
		t.Fatalf("no renewal at Open after reauthorizationRequired: %v", srv.Requests()[before:])
	}
}

// TestSubscriptionKeyChange: a stored subscription made under another
// NotifyConfig.Key (its clientState would never match again) is deleted
// on Graph and made anew, not reused.
func TestSubscriptionKeyChange(t *testing.T) {
	srv := newServer(t)
	nh := newNotifyHost(t, srv, nil)
	ctx := context.Background()
	s, err := nh.src.Open(ctx, inboundMailbox())
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close(ctx)
	old := srv.Subscriptions()[0]
	nh2 := newNotifyHost(t, srv, nh.store, func(c *graph.NotifyConfig) {
		c.NotificationURL, c.LifecycleURL = old.NotificationURL, old.LifecycleURL
		c.Key = mailbox.NewSecret("another key, also long enough")
	})
	s, err = nh2.src.Open(ctx, inboundMailbox())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	subs := srv.Subscriptions()
	if len(subs) != 1 || subs[0].ID == old.ID || subs[0].ClientState == old.ClientState || !s.Push() {
		t.Fatalf("after a key change: %+v (old %s)", subs, old.ID)
	}
	if st, _, _ := nh.store.Subscription(ctx, "desk"); st.ID != subs[0].ID {
		t.Fatalf("stored %s, want %s", st.ID, subs[0].ID)
	}
}

// The stores' transport state serves StateSubscriptions.
var (
	_ graph.StateStore = (*memory.TransportState)(nil)
	_ graph.StateStore = store.TransportState(nil)
)
