package inbound_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport"
)

func logCount(s *syncBuffer, sub string) int { return strings.Count(s.String(), sub) }

// events records the Poller's events.
type events struct {
	mu  sync.Mutex
	all []inbound.Event
}

func (e *events) add(ev inbound.Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
}

func (e *events) count(id mailbox.ID, s engine.State) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.all {
		if ev.Health.Mailbox == id && ev.Health.State == s {
			n++
		}
	}
	return n
}

// advance moves the fake clock to t0+at in steps of a minute, letting the
// Poller's goroutines park on the clock after each step (the worker's
// wait and the catalog refresh: want timers).
func advance(t *testing.T, clk *clock.Fake, t0 time.Time, at time.Duration, want int) {
	t.Helper()
	for clk.Now().Before(t0.Add(at)) {
		clk.Advance(time.Minute)
		eventually(t, "the poller parked on the clock", func() bool { return clk.Waiters() >= want })
	}
}

// A refused password puts the mailbox in auth_failed at once, with one
// event and one log line, and the server sees at most 3 retries in the
// first hour, then one an hour, never the reconnect backoff (which would
// have made ~25 logins in the first hour and locked the account). A fixed
// password (Reload with the changed mailbox) is tried at once.
func TestAuthFailedRetriesAFewTimesAnHour(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("desk", "pw-desk")
	srv.Append("desk", "INBOX", rawMsg("desk", 1))
	m := mb("desk", "desk", srv.Host(), srv.Port())
	m.Inbound.Credentials.Password = mailbox.NewSecret("wrong-secret")
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	var logs syncBuffer
	var evs events
	rec := newRecorder()
	o := fastOptions(memory.NewInboundStore(), rec)
	o.Clock = clk
	o.Refresh = 10 * time.Hour
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	o.OnEvent = evs.add
	r := start(t, o, m)
	eventually(t, "auth_failed", func() bool { return r.health("desk").State == engine.StateAuthFailed })
	eventually(t, "parked", func() bool { return clk.Waiters() >= 2 })
	failed := func() int { _, f := srv.Logins(); return f }
	if got := failed(); got != 1 {
		t.Fatalf("failed logins at once: %d, want 1", got)
	}
	h := r.health("desk")
	if !h.NeedsPerson() || !strings.Contains(h.Hint, "password") || strings.Contains(h.LastError, "wrong-secret") {
		t.Fatalf("health %+v", h)
	}
	advance(t, clk, t0, 59*time.Minute, 2)
	if got := failed(); got != 4 {
		t.Fatalf("failed logins in the first hour: %d, want 1 + 3 retries", got)
	}
	advance(t, clk, t0, 3*time.Hour+30*time.Minute, 2)
	if got := failed(); got != 6 {
		t.Fatalf("failed logins by 3h30: %d, want 6 (then one an hour)", got)
	}
	if n := evs.count("desk", engine.StateAuthFailed); n != 1 {
		t.Errorf("auth_failed events: %d, want 1 (not one per attempt)", n)
	}
	if n := evs.count("desk", engine.StateConnecting); n != 1 {
		t.Errorf("connecting events: %d, want only the first", n)
	}
	if n := logCount(&logs, "needs a person"); n != 1 {
		t.Errorf("log lines: %d, want 1:\n%s", n, logs.String())
	}
	if h := r.health("desk"); h.State != engine.StateAuthFailed || h.ConsecutiveFailures != 6 {
		t.Errorf("health after the retries: %s, %d failures", h.State, h.ConsecutiveFailures)
	}
	fixed := m.Clone()
	fixed.Inbound.Credentials.Password = mailbox.NewSecret("pw-desk")
	r.put(t, fixed)
	eventually(t, "handed after the fix", func() bool { return rec.count("desk") == 1 })
	eventually(t, "waiting", func() bool { h := r.health("desk"); return h.State == engine.StateWaiting && !h.NeedsPerson() })
	if got := failed(); got != 6 {
		t.Errorf("failed logins after the fix: %d", got)
	}
}

// CheckNow retries a mailbox in auth_failed at once (a person fixed the
// account at the provider), without waiting for the next scheduled retry.
func TestCheckNowRetriesAuthFailed(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("desk", "pw-desk")
	srv.Append("desk", "INBOX", rawMsg("desk", 1))
	m := mb("desk", "desk", srv.Host(), srv.Port())
	clk := clock.NewFake(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	rec := newRecorder()
	o := fastOptions(memory.NewInboundStore(), rec)
	o.Clock = clk
	o.Refresh = 10 * time.Hour
	srv.SetLoginRefused(true)
	r := start(t, o, m)
	eventually(t, "auth_failed", func() bool { return r.health("desk").State == engine.StateAuthFailed })
	srv.SetLoginRefused(false) // the account was unlocked at the provider
	if err := r.p.CheckNow(context.Background(), "desk"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "handed after CheckNow", func() bool { return rec.count("desk") == 1 })
	if err := r.p.CheckNow(context.Background(), "nobody"); !errorsIs(err, engine.ErrUnknownMailbox) {
		t.Errorf("unknown mailbox: %v", err)
	}
}

// A dead OAuth2 grant (the token endpoint answers invalid_grant, RFC 6749
// section 5.2) is reauth_required: it is not retried over hours, with one
// event and a hint, until CheckNow or a changed mailbox.
func TestReauthRequiredWaitsForAPerson(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("desk", "unused")
	var refreshes atomic.Int32
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		refreshes.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid_grant","error_description":"AADSTS70008: The refresh token has expired"}`)
	}))
	defer tokens.Close()
	m := mb("desk", "desk", srv.Host(), srv.Port())
	m.Inbound.Credentials.Password = mailbox.Secret{}
	m.Inbound.Credentials.Mechanism = mailbox.AuthXOAUTH2
	m.Inbound.Credentials.OAuth2 = transport.NewOAuth2Tokens(&oauth2.Config{ClientID: "c", Endpoint: oauth2.Endpoint{TokenURL: tokens.URL, AuthStyle: oauth2.AuthStyleInParams}},
		&oauth2.Token{RefreshToken: "rt-dead", Expiry: time.Unix(1, 0)})
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	var evs events
	o := fastOptions(memory.NewInboundStore(), newRecorder())
	o.Clock = clk
	o.Refresh = 10 * time.Hour
	o.OnEvent = evs.add
	r := start(t, o, m)
	eventually(t, "reauth_required", func() bool { return r.health("desk").State == engine.StateReauthRequired })
	eventually(t, "parked", func() bool { return clk.Waiters() >= 1 })
	advance(t, clk, t0, 5*time.Hour, 1)
	if n := refreshes.Load(); n != 1 {
		t.Fatalf("token refreshes over 5 hours: %d, want 1", n)
	}
	if n := evs.count("desk", engine.StateReauthRequired); n != 1 {
		t.Errorf("reauth events: %d", n)
	}
	if h := r.health("desk"); !strings.Contains(h.Hint, "authorise the mailbox again") {
		t.Errorf("hint %q", h.Hint)
	}
	if err := r.p.CheckNow(context.Background(), "desk"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "one more refresh after CheckNow", func() bool { return refreshes.Load() == 2 })
	if n := evs.count("desk", engine.StateReauthRequired); n != 1 {
		t.Errorf("reauth events after CheckNow: %d, want still 1", n)
	}
}

// A server whose certificate is not trusted is down at once, with the TLS
// hint, one event and one log line however many times it is retried.
func TestTLSRefusedIsOneEvent(t *testing.T) {
	ca, err := mailtest.DefaultCA()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ca.ServerConfig("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := mailtest.NewIMAPServer(&mailtest.IMAPOptions{TLSConfig: cfg, ImplicitTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.AddUser("desk", "pw-desk")
	m := mb("desk", "desk", srv.Host(), srv.Port())
	m.Inbound.Server.Security, m.Inbound.Server.AllowPlaintext = mailbox.SecurityTLS, false
	var logs syncBuffer
	var evs events
	o := fastOptions(memory.NewInboundStore(), newRecorder()) // the system roots: the test CA is not trusted
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	o.OnEvent = evs.add
	r := start(t, o, m)
	eventually(t, "5 refused handshakes", func() bool { return r.health("desk").ConsecutiveFailures >= 5 })
	h := r.health("desk")
	if h.State != engine.StateDown || !strings.Contains(h.Hint, "TLS") || !h.NeedsPerson() {
		t.Fatalf("health %+v", h)
	}
	if n := evs.count("desk", engine.StateDown); n != 1 {
		t.Errorf("down events: %d, want 1", n)
	}
	if n := logCount(&logs, "needs a person"); n != 1 {
		t.Errorf("log lines: %d, want 1", n)
	}
}

// CheckNow wakes a kept session's wait at once (here a polling session
// with an hour to its next poll, on a clock that never moves), every time
// it is called.
func TestCheckNowWakesKeptSession(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("desk", "pw-desk")
	srv.Append("desk", "INBOX", rawMsg("desk", 1))
	m := mb("desk", "desk", srv.Host(), srv.Port())
	m.Inbound.Idle = mailbox.IdleOff
	m.Inbound.PollInterval = time.Hour
	clk := clock.NewFake(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	rec := newRecorder()
	o := fastOptions(memory.NewInboundStore(), rec)
	o.Clock = clk
	r := start(t, o, m)
	for want := 1; want <= 3; want++ {
		eventually(t, "waiting for the next poll", func() bool {
			return rec.count("desk") == want && r.health("desk").State == engine.StateWaiting && clk.Waiters() > 0
		})
		srv.Append("desk", "INBOX", rawMsg("desk", want+1))
		if err := r.p.CheckNow(context.Background(), "desk"); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the last message handed after CheckNow", func() bool { return rec.count("desk") == 4 })
}
