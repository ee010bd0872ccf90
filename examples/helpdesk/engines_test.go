package main

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

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
	eng, err := newEngines(context.Background(), e.cat, e.app.dir, nil, engineOptions{Policy: transport.PublicOnly})
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
