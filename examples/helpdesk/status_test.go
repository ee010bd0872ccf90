package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/mailbox"
)

// inMailbox puts an inbound mailbox on the test IMAP server with password pw.
func inMailbox(t *testing.T, e *testEnv, ms *mailServers, pw string) *mailbox.Mailbox {
	t.Helper()
	m := &mailbox.Mailbox{ID: "mb-in", Description: "ACME support inbox", Kind: mailbox.Inbound, Enabled: true,
		Inbound: &mailbox.InboundSettings{
			Server:      mailbox.Server{Host: ms.imap.Host(), Port: ms.imap.Port(), Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			Credentials: mailbox.Credentials{Username: "support", Password: mailbox.NewSecret(pw)},
		}}
	if err := e.cat.PutMailbox(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	return m
}

type healthzBody struct {
	Status    string `json:"status"`
	Mailboxes []struct {
		Mailbox     string `json:"mailbox"`
		State       string `json:"state"`
		NeedsPerson bool   `json:"needs_person"`
		Hint        string `json:"hint"`
		LastError   string `json:"last_error"`
	} `json:"mailboxes"`
}

func getHealthz(t *testing.T, e *testEnv) (int, healthzBody) {
	t.Helper()
	r := e.do("GET", "/healthz", nil)
	var b healthzBody
	if err := json.Unmarshal([]byte(r.body), &b); err != nil {
		t.Fatalf("healthz is not JSON: %v\n%s", err, r.body)
	}
	return r.code, b
}

func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A mailbox whose login the server refuses makes /healthz answer 503 with
// the state and what to do (never the password); the Status page says
// it translated; /metrics serves the engines' metrics in Prometheus
// naming; a fixed password brings /healthz back to 200.
func TestHealthzStatusAndMetrics(t *testing.T) {
	ms := newMailServers(t)
	e, eng := newSQLEngineEnv(t)
	outMailbox(t, e, ms)
	m := inMailbox(t, e, ms, "wrong-password-123")
	eng.MailboxSaved(m)
	var b healthzBody
	until(t, "healthz 503 with auth_failed", func() bool {
		code, got := getHealthz(t, e)
		b = got
		return code == http.StatusServiceUnavailable && got.Status == "attention"
	})
	var found bool
	for _, h := range b.Mailboxes {
		if h.Mailbox == "mb-in" {
			found = true
			if h.State != string(engine.StateAuthFailed) || !h.NeedsPerson || !strings.Contains(h.Hint, "password") {
				t.Fatalf("mb-in in healthz: %+v", h)
			}
		}
	}
	if !found {
		t.Fatalf("mb-in missing: %+v", b)
	}
	if r := e.do("GET", "/healthz", nil); strings.Contains(r.body, "wrong-password-123") {
		t.Fatal("healthz shows the password")
	}

	r := e.do("GET", "/status", nil, "Accept-Language", "pt-BR")
	if r.code != http.StatusOK || !strings.Contains(r.body, "1 caixa(s) precisam de uma pessoa.") ||
		!strings.Contains(r.body, "O servidor recusou o login: corrija o usuário ou a senha.") || !strings.Contains(r.body, "Login recusado") {
		t.Fatalf("status page:\n%s", r.body)
	}

	r = e.do("GET", "/metrics", nil)
	for _, want := range []string{
		`correio_mailbox_state{correio_direction="inbound",correio_state="auth_failed"`,
		`correio_mailbox_needs_person{correio_direction="inbound"`,
		`correio_outbound_queue_depth{correio_direction="outbound"`,
		"correio_outbound_queue_oldest_age_seconds",
		"correio_inbound_check_duration_seconds_bucket",
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, r.body)
		}
	}
	if strings.Contains(r.body, "correio_mailbox_id") {
		t.Error("per-mailbox series by default")
	}

	fixed := m.Clone()
	fixed.Inbound.Credentials.Password = mailbox.NewSecret("imap-password")
	if err := e.cat.PutMailbox(context.Background(), fixed); err != nil {
		t.Fatal(err)
	}
	eng.MailboxSaved(fixed)
	until(t, "healthz 200 after the fix", func() bool { code, got := getHealthz(t, e); return code == http.StatusOK && got.Status == "ok" })
}

// Pause asks for confirmation, then the mailbox is paused (Status shows
// Resume instead of Check now); Resume and Check now act at once.
func TestStatusPauseResumeCheckNow(t *testing.T) {
	ms := newMailServers(t)
	e, eng := newSQLEngineEnv(t)
	m := inMailbox(t, e, ms, "imap-password")
	eng.MailboxSaved(m)
	until(t, "mb-in connected", func() bool {
		hs, _ := eng.HealthAll(context.Background())
		for _, h := range hs {
			if h.Mailbox == "mb-in" && h.State == engine.StateWaiting {
				return true
			}
		}
		return false
	})
	r := e.do("GET", "/status", nil)
	if !strings.Contains(r.body, `action="/status/mb-in/check"`) || !strings.Contains(r.body, `href="/status/mb-in/pause"`) {
		t.Fatalf("no actions:\n%s", r.body)
	}
	if r := e.do("POST", "/status/mb-in/check", nil); r.code != http.StatusSeeOther || r.hdr.Get("Location") != "/status?done=checked" {
		t.Fatalf("check now: %d %s", r.code, r.hdr.Get("Location"))
	}
	r = e.do("GET", "/status/mb-in/pause", nil, "Accept-Language", "pt-BR")
	if !strings.Contains(r.body, "Pausar") || !strings.Contains(r.body, `name="confirm"`) {
		t.Fatalf("pause confirmation:\n%s", r.body)
	}
	if r := e.do("POST", "/status/mb-in/pause", nil); r.code != http.StatusSeeOther || r.hdr.Get("Location") != "/status/mb-in/pause" {
		t.Fatalf("unconfirmed pause: %d %s", r.code, r.hdr.Get("Location"))
	}
	if r := e.do("POST", "/status/mb-in/pause", url.Values{"confirm": {"yes"}}); r.code != http.StatusSeeOther {
		t.Fatalf("pause: %d\n%s", r.code, r.body)
	}
	r = e.do("GET", "/status", nil)
	if !strings.Contains(r.body, `action="/status/mb-in/resume"`) || strings.Contains(r.body, `action="/status/mb-in/check"`) {
		t.Fatalf("paused mailbox actions:\n%s", r.body)
	}
	if r := e.do("POST", "/status/mb-in/check", nil, "Accept-Language", "pt-BR"); r.code != http.StatusConflict || !strings.Contains(r.body, "A caixa está pausada ou desativada") {
		t.Fatalf("check of a paused mailbox: %d\n%s", r.code, r.body)
	}
	if r := e.do("POST", "/status/mb-in/resume", nil); r.code != http.StatusSeeOther {
		t.Fatalf("resume: %d", r.code)
	}
	until(t, "mb-in runs again", func() bool {
		hs, _ := eng.HealthAll(context.Background())
		for _, h := range hs {
			if h.Mailbox == "mb-in" && h.State == engine.StateWaiting {
				return true
			}
		}
		return false
	})
	if r := e.do("POST", "/status/nope/check", nil); r.code != http.StatusNotFound {
		t.Fatalf("unknown mailbox: %d", r.code)
	}
}

// A pause survives a restart of the helpdesk: it is kept in the settings
// table and applied before the engines start again.
func TestPauseSurvivesRestart(t *testing.T) {
	ms := newMailServers(t)
	e, eng := newSQLEngineEnv(t)
	sets, err := openSQLiteSettings(context.Background(), e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sets.Close() })
	e.app.settings = sets
	m := inMailbox(t, e, ms, "imap-password")
	eng.MailboxSaved(m)
	if r := e.do("POST", "/status/mb-in/pause", url.Values{"confirm": {"yes"}}); r.code != http.StatusSeeOther {
		t.Fatalf("pause: %d\n%s", r.code, r.body)
	}
	eng.Close()

	paused, err := loadPaused(context.Background(), sets)
	if err != nil || len(paused) != 1 || paused[0] != "mb-in" {
		t.Fatalf("kept pauses %v %v", paused, err)
	}
	in := e.st.Inbound()
	again, err := startEngines(context.Background(), e.cat, e.app.dir, nil, engineOptions{Paused: paused,
		Stores: &engineStores{Outbox: e.st.Outbox(), Inbound: in, Suppressions: e.st.Suppressions(), Quarantine: in}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(again.Close)
	e.app.engine = again
	until(t, "paused after the restart", func() bool {
		h, err := again.poller.Health(context.Background(), "mb-in")
		return err == nil && h.State == engine.StatePaused
	})
	if r := e.do("POST", "/status/mb-in/resume", nil); r.code != http.StatusSeeOther {
		t.Fatalf("resume: %d", r.code)
	}
	if paused, _ := loadPaused(context.Background(), sets); len(paused) != 0 {
		t.Fatalf("still kept after resume: %v", paused)
	}
}
