package main

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/sqlstore"
)

// newSQLEngineEnv is the helpdesk with the real engines over the SQLite
// store's outbox and inbound state (as the command runs).
func newSQLEngineEnv(t *testing.T) (*testEnv, *engines) {
	t.Helper()
	e := newTestEnv(t, nil)
	in := e.st.Inbound()
	stores := &engineStores{Outbox: e.st.Outbox(), Inbound: in, Suppressions: e.st.Suppressions(), Quarantine: in}
	eng, err := startEngines(context.Background(), e.cat, e.app.dir, nil, engineOptions{Stores: stores})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	e.app.engine = eng
	return e, eng
}

// deferred puts a record into the outbox as a deferred message would be:
// queued, next attempt in an hour.
func deferred(t *testing.T, eng *engines, id string, mb mailbox.ID, subject string) {
	t.Helper()
	now := time.Now()
	rec := &store.OutboxRecord{ID: id, MessageID: id + "@helpdesk.test", Mailbox: mb, State: store.Queued, Attempts: 1,
		EnqueuedAt: now, NextAttempt: now.Add(time.Hour), LastError: "451 try later",
		Message:    store.Message{Mailbox: mb, To: []store.Address{{Address: "ana@cliente.com.br"}}, Subject: subject, Text: "x", Thread: "9"},
		Recipients: []store.RecipientStatus{{Address: store.Address{Address: "ana@cliente.com.br"}, Kind: store.To, State: store.Pending}}}
	if err := eng.outbox.Put(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
}

func outMailbox(t *testing.T, e *testEnv, ms *mailServers) *mailbox.Mailbox {
	t.Helper()
	m := &mailbox.Mailbox{ID: "mb-out", Description: "ACME outgoing", Kind: mailbox.Outbound, Enabled: true,
		Outbound: &mailbox.OutboundSettings{
			Server:      mailbox.Server{Host: ms.smtp.Host(), Port: ms.smtp.Port(), Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			Credentials: mailbox.Credentials{Username: "mailer", Password: mailbox.NewSecret("smtp-password")},
			From:        mailbox.Identity{Address: "support@acme.com.br"},
		}}
	if err := e.cat.PutMailbox(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestQueuedMailRetriedNowOrCancelled(t *testing.T) {
	ms := newMailServers(t)
	e, eng := newSQLEngineEnv(t)
	ctx := context.Background()
	m := outMailbox(t, e, ms)
	deferred(t, eng, "ob-retry", m.ID, "Retry me")
	deferred(t, eng, "ob-cancel", m.ID, "Cancel me")

	r := e.do("GET", "/messages", nil)
	for _, id := range []string{"ob-retry", "ob-cancel"} {
		if !strings.Contains(r.body, `action="/outbox/`+id+`/retry"`) || !strings.Contains(r.body, `href="/outbox/`+id+`/cancel"`) {
			t.Fatalf("no actions for %s:\n%s", id, r.body)
		}
	}
	// Retry now: sent within seconds instead of in an hour.
	r = e.do("POST", "/outbox/ob-retry/retry", nil)
	if r.code != http.StatusSeeOther || r.hdr.Get("Location") != "/messages?done=retried" {
		t.Fatalf("retry: %d %s\n%s", r.code, r.hdr.Get("Location"), r.body)
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	got, err := ms.smtp.WaitMessages(wctx, 1)
	if err != nil || !strings.Contains(string(got[0].Data), "Retry me") {
		t.Fatalf("retried message not sent: %v", err)
	}
	waitState(t, eng, "ob-retry", store.Sent)

	// Cancel: the confirmation first; then dead, with the reason, never sent.
	r = e.do("GET", "/outbox/ob-cancel/cancel", nil, "Accept-Language", "pt-BR")
	if !strings.Contains(r.body, "Cancelar esta mensagem na fila (ela não será enviada)?") || !strings.Contains(r.body, "Cancelar envio") {
		t.Fatalf("cancel confirmation:\n%s", r.body)
	}
	if r := e.do("POST", "/outbox/ob-cancel/cancel", nil); r.code != http.StatusSeeOther || r.hdr.Get("Location") != "/outbox/ob-cancel/cancel" {
		t.Fatalf("unconfirmed cancel: %d %s", r.code, r.hdr.Get("Location"))
	}
	rec, _ := eng.outbox.Get(ctx, "ob-cancel")
	if rec.State != store.Queued {
		t.Fatal("cancelled without confirmation")
	}
	r = e.do("POST", "/outbox/ob-cancel/cancel", url.Values{"confirm": {"yes"}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("cancel: %d\n%s", r.code, r.body)
	}
	rec, _ = eng.outbox.Get(ctx, "ob-cancel")
	if rec.State != store.Dead || rec.Reason != store.CancelReason+cancelReason {
		t.Fatalf("cancelled record: state %v reason %q", rec.State, rec.Reason)
	}
	if n := len(ms.smtp.Messages()); n != 1 {
		t.Fatalf("%d messages sent, want 1 (the cancelled one is not)", n)
	}
	// Acting again: no longer queued, said in the page's language.
	r = e.do("POST", "/outbox/ob-cancel/retry", nil, "Accept-Language", "pt-BR")
	if r.code != http.StatusConflict || !strings.Contains(r.body, "A mensagem não está mais na fila") {
		t.Fatalf("retry of a dead record: %d\n%s", r.code, r.body)
	}
	if r := e.do("POST", "/outbox/nope/retry", nil); r.code != http.StatusNotFound || !strings.Contains(r.body, "The message no longer exists.") {
		t.Fatalf("unknown record: %d", r.code)
	}
}

func TestRetryRefusedWhileTheMailboxIsSending(t *testing.T) {
	ms := newMailServers(t)
	e, eng := newSQLEngineEnv(t)
	m := outMailbox(t, e, ms)
	deferred(t, eng, "ob-a", m.ID, "A")
	deferred(t, eng, "ob-b", m.ID, "B")
	// A worker holds ob-b (claimed, lease running).
	if _, err := eng.outbox.Claim(context.Background(), store.Claim{Mailbox: m.ID, Now: time.Now().Add(2 * time.Hour), Lease: 3 * time.Hour, Max: 2, Token: "worker"}); err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", "/outbox/ob-a/retry", nil)
	if r.code != http.StatusConflict || !strings.Contains(r.body, "The mailbox is sending right now") {
		t.Fatalf("retry while claimed: %d\n%s", r.code, r.body)
	}
	rec, _ := eng.outbox.Get(context.Background(), "ob-b")
	if rec.ClaimToken != "worker" {
		t.Fatalf("the worker's claim was taken: %q", rec.ClaimToken)
	}
}

func waitState(t *testing.T, eng *engines, id string, want store.OutboxState) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec, err := eng.outbox.Get(context.Background(), id)
		if err == nil && rec.State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: state %v, want %v", id, rec.State, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestQuarantinedMessageReleasedOrDeleted(t *testing.T) {
	e, eng := newSQLEngineEnv(t)
	ctx := context.Background()
	in := &mailbox.Mailbox{ID: "mb-in", Description: "Support inbox", Kind: mailbox.Inbound, Enabled: false,
		Inbound: &mailbox.InboundSettings{Server: mailbox.Server{Host: "imap.acme.com.br"},
			Credentials: mailbox.Credentials{Username: "support", Password: mailbox.NewSecret("pw")}}}
	if err := e.cat.PutMailbox(ctx, in); err != nil {
		t.Fatal(err)
	}
	raw := "From: Bia <bia@cliente.com.br>\r\nSubject: Held back\r\nMessage-ID: <h1@cliente.com.br>\r\n\r\nHi\r\n"
	for i, key := range []string{"k-release", "k-delete"} {
		q := store.QuarantineItem{Mailbox: in.ID, Folder: "INBOX", Key: key, UIDValidity: 1, UID: uint32(i + 1),
			Size: int64(len(raw)), Reason: "handler refused", At: time.Now()}
		if err := e.st.Inbound().Quarantine(ctx, q, strings.NewReader(raw)); err != nil {
			t.Fatal(err)
		}
	}
	qs, err := e.st.Inbound().Quarantined(ctx, sqlstore.QuarantineFilter{Mailbox: in.ID})
	if err != nil || len(qs) != 2 {
		t.Fatalf("quarantined: %v %v", qs, err)
	}
	ids := map[string]string{}
	for _, q := range qs {
		ids[q.Key] = strconv.FormatInt(q.ID, 10)
	}
	r := e.do("GET", "/messages", nil)
	if !strings.Contains(r.body, `action="/quarantine/`+ids["k-release"]+`/release"`) {
		t.Fatalf("no release button:\n%s", r.body)
	}
	r = e.do("POST", "/quarantine/"+ids["k-release"]+"/release", nil)
	if r.code != http.StatusSeeOther || r.hdr.Get("Location") != "/messages?done=released" {
		t.Fatalf("release: %d\n%s", r.code, r.body)
	}
	// Handed to the helpdesk (listed as received), gone from quarantine.
	r = e.do("GET", "/messages?done=released", nil)
	if !strings.Contains(r.body, "The message was released") || !strings.Contains(r.body, "Held back") {
		t.Fatalf("released message not received:\n%s", r.body)
	}
	if strings.Contains(r.body, `data-quarantined="`+ids["k-release"]+`"`) {
		t.Fatal("released message still quarantined")
	}
	eng.mu.Lock()
	n := len(eng.received)
	eng.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d received, want 1", n)
	}
	// Delete: confirmation first.
	target := "/quarantine/" + ids["k-delete"] + "/delete"
	if r := e.do("POST", target, nil); r.code != http.StatusSeeOther || r.hdr.Get("Location") != target {
		t.Fatalf("unconfirmed delete: %d", r.code)
	}
	if r := e.do("GET", target, nil); !strings.Contains(r.body, "Delete this quarantined message? This cannot be undone.") {
		t.Fatalf("delete confirmation:\n%s", r.body)
	}
	if r := e.do("POST", target, url.Values{"confirm": {"yes"}}); r.code != http.StatusSeeOther {
		t.Fatalf("delete: %d\n%s", r.code, r.body)
	}
	if qs, _ := e.st.Inbound().Quarantined(ctx, sqlstore.QuarantineFilter{}); len(qs) != 0 {
		t.Fatalf("%d still quarantined", len(qs))
	}
	if r := e.do("POST", "/quarantine/"+ids["k-delete"]+"/release", nil); r.code != http.StatusNotFound {
		t.Fatalf("release of a deleted message: %d", r.code)
	}
}
