package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

func TestTestConnectionReportsProbe(t *testing.T) {
	ms := newMailServers(t)
	e := newEngineEnv(t)
	form := url.Values{
		"action": {"test"}, "description": {"Out"}, "kind": {"outbound"},
		"outbound.server.host": {ms.smtp.Host()}, "outbound.server.port": {strconv.Itoa(ms.smtp.Port())},
		"outbound.server.security": {"plaintext"}, "outbound.server.allow_plaintext": {"on"},
		"outbound.credentials.username": {"mailer"}, "outbound.credentials.password": {"smtp-password"},
		"outbound.from.address": {"support@acme.example"},
	}
	r := e.do("POST", "/mailboxes/new", form, "Accept-Language", "pt-BR")
	if !strings.Contains(r.body, "Teste de conexão bem-sucedido.") || !strings.Contains(r.body, "Nenhuma (texto puro)") {
		t.Fatalf("probe report missing:\n%s", r.body)
	}
	// A wrong password: the classified error, with the hint.
	form.Set("outbound.credentials.password", "wrong")
	r = e.do("POST", "/mailboxes/new", form)
	if !strings.Contains(r.body, "Connection test failed.") || !strings.Contains(r.body, `<span class="tag">auth</span>`) {
		t.Fatalf("auth failure not classified:\n%s", r.body)
	}
	if strings.Contains(r.body, "wrong") && strings.Contains(r.body, `value="wrong"`) {
		t.Fatal("password echoed")
	}
	if len(e.cat.Mailboxes()) != 0 {
		t.Fatal("a test saved the mailbox")
	}
}

func TestTestConnectionRespectsAddressPolicy(t *testing.T) {
	ms := newMailServers(t)
	e := newTestEnv(t, nil)
	eng, err := startEngines(context.Background(), e.cat, e.app.dir, nil, engineOptions{Policy: transport.PublicOnly})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	e.app.engine = eng
	form := url.Values{
		"action": {"test"}, "description": {"Out"}, "kind": {"outbound"},
		"outbound.server.host": {ms.smtp.Host()}, "outbound.server.port": {strconv.Itoa(ms.smtp.Port())},
		"outbound.server.security": {"plaintext"}, "outbound.server.allow_plaintext": {"on"},
		"outbound.credentials.username": {"mailer"}, "outbound.credentials.password": {"smtp-password"},
		"outbound.from.address": {"support@acme.example"},
	}
	r := e.do("POST", "/mailboxes/new", form, "Accept-Language", "pt-BR")
	if r.code != http.StatusOK || !strings.Contains(r.body, `<span class="tag">policy</span>`) || !strings.Contains(r.body, "Este endereço não é permitido") {
		t.Fatalf("policy refusal not shown:\n%s", r.body)
	}
	if n := ms.smtp.Connections(); n != 0 {
		t.Fatalf("the probe connected %d times despite the policy", n)
	}
}

func TestTestConnectionInboundProbe(t *testing.T) {
	ms := newMailServers(t)
	e := newEngineEnv(t)
	if _, err := ms.imap.Append("support", "INBOX", []byte("From: a@b.example\r\nSubject: hi\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	form := url.Values{
		"action": {"test"}, "description": {"In"}, "kind": {"inbound"},
		"inbound.server.host": {ms.imap.Host()}, "inbound.server.port": {strconv.Itoa(ms.imap.Port())},
		"inbound.server.security": {"plaintext"}, "inbound.server.allow_plaintext": {"on"},
		"inbound.credentials.username": {"support"}, "inbound.credentials.password": {"imap-password"},
	}
	r := e.do("POST", "/mailboxes/new", form, "Accept-Language", "pt-BR")
	if !strings.Contains(r.body, "Teste de conexão bem-sucedido.") || !strings.Contains(r.body, "<dt>Mensagens</dt><dd>1</dd>") {
		t.Fatalf("IMAP probe report missing:\n%s", r.body)
	}
	form.Set("inbound.folder", "Nope")
	r = e.do("POST", "/mailboxes/new", form)
	if !strings.Contains(r.body, "Connection test failed.") {
		t.Fatalf("missing folder not reported:\n%s", r.body)
	}
	if len(e.cat.Mailboxes()) != 0 {
		t.Fatal("a test saved the mailbox")
	}
}

// waitPage reloads a page until it contains want; the deadline bounds the
// wait for the engines' background work.
func waitPage(t *testing.T, e *testEnv, target, want string) string {
	t.Helper()
	return waitPageFunc(t, e, target, want, func(body string) bool { return strings.Contains(body, want) })
}

func waitPageFunc(t *testing.T, e *testEnv, target, what string, ok func(body string) bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		r := e.do("GET", target, nil)
		if ok(r.body) {
			return r.body
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never showed %s:\n%s", target, what, r.body)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestReceivedAndQuarantinedListedByContract(t *testing.T) {
	ms := newMailServers(t)
	e := newEngineEnv(t)
	ctx := context.Background()
	in := &mailbox.Mailbox{ID: "mb-in", Description: "Support inbox", Kind: mailbox.Inbound, Enabled: true,
		Inbound: &mailbox.InboundSettings{
			Server:         mailbox.Server{Host: ms.imap.Host(), Port: ms.imap.Port(), Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			Credentials:    mailbox.Credentials{Username: "support", Password: mailbox.NewSecret("imap-password")},
			MaxMessageSize: 400,
		}}
	if err := e.cat.PutMailbox(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := e.cat.PutContract(ctx, &contract.Contract{ID: "ct-acme", Name: "ACME", InboundMailboxes: []mailbox.ID{in.ID}}); err != nil {
		t.Fatal(err)
	}
	e.app.engine.MailboxSaved(in)
	small := "From: Bia <bia@cliente.example>\r\nSubject: Printer again\r\nMessage-ID: <s1@cliente.example>\r\n\r\nHi\r\n"
	big := "From: Bia <bia@cliente.example>\r\nSubject: Huge\r\nMessage-ID: <b1@cliente.example>\r\n\r\n" + strings.Repeat("x", 1000) + "\r\n"
	for _, m := range []string{small, big} {
		if _, err := ms.imap.Append("support", "INBOX", []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	body := waitPage(t, e, "/messages", "Printer again")
	sec := regexp.MustCompile(`(?s)<section class="contract card" data-contract="ct-acme".*?</section>`).FindString(body)
	if !strings.Contains(sec, "Printer again") || !strings.Contains(sec, "bia@cliente.example") {
		t.Fatalf("received message not under its contract:\n%s", sec)
	}
	quarantine := regexp.MustCompile(`(?s)<section class="card" id="quarantine".*?</section>`)
	body = waitPageFunc(t, e, "/messages", "a quarantined message", func(b string) bool {
		return strings.Contains(quarantine.FindString(b), "Support inbox")
	})
	if q := quarantine.FindString(body); !strings.Contains(q, "exceeds the mailbox limit") || strings.Contains(q, tr(langEN, "messages.quarantine.empty")) {
		t.Fatalf("oversized message not listed in quarantine with its reason:\n%s", q)
	}
	// The list shows the inbound mailbox's health from the poller.
	r := e.do("GET", "/mailboxes", nil)
	if strings.Contains(regexp.MustCompile(`(?s)<tr data-mailbox="mb-in">.*?</tr>`).FindString(r.body), `health-unknown`) {
		t.Fatal("inbound mailbox health unknown")
	}
}

func TestKindChangeOfAMailboxInUseRefusedBesideKind(t *testing.T) {
	e := newTestEnv(t, nil)
	e.do("POST", "/mailboxes/new", outboundForm())
	out := e.mailboxByDescription("ACME outgoing")
	e.do("POST", "/mailboxes/"+string(out.ID)+"/system", url.Values{})
	if id, _ := e.cat.SystemMailbox(); id != out.ID {
		t.Fatal("system mailbox not set")
	}
	form := inboundForm()
	form.Set("description", "ACME outgoing")
	r := e.do("POST", "/mailboxes/"+string(out.ID), form)
	if got := fieldErrors(r.body, "kind"); len(got) != 1 || !strings.Contains(got[0], "The kind cannot change while the mailbox is used") {
		t.Fatalf("kind errors %q", got)
	}
	if m, _ := e.cat.Mailbox(out.ID); m.Kind != mailbox.Outbound {
		t.Fatal("kind changed")
	}
}
