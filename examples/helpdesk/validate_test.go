package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
)

func TestHostProblem(t *testing.T) {
	for host, want := range map[string]mailbox.Code{
		"smtp.acme.com.br":                  "",
		"SMTP.Acme.COM.BR.":                 "",
		"mail-1.acme.com.br":                "",
		"_smtp.acme.com.br":                 "",
		"localhost":                         "",
		"203.0.113.7":                       "",
		"2001:db8::25":                      "",
		"::1":                               "",
		"smtp.acme.com.br:25":               codeHostPort,
		"smtp.acme.com.br:587":              codeHostPort,
		"203.0.113.7:465":                   codeHostPort,
		"[2001:db8::25]:587":                codeHostPort,
		"smtps://smtp.acme.com.br":          codeHostURL,
		"https://mail.acme.com.br/":         codeHostURL,
		"smtp.acme.com.br:":                 codeHostName,
		"smtp.acme.com.br:smtp":             codeHostName,
		"smtp.acme.com.br:1234567":          codeHostName,
		"smtp..acme.com.br":                 codeHostName,
		"-smtp.acme.com.br":                 codeHostName,
		"smtp-.acme.com.br":                 codeHostName,
		"smtp acme.com.br":                  codeHostName,
		"10.0.0":                            codeHostName,
		"300.1.1.1":                         codeHostName,
		"[2001:db8::25]":                    codeHostName,
		"çorreio.com.br":                    codeHostName,
		strings.Repeat("a", 64) + ".com.br": codeHostName,
	} {
		if got := hostProblem(host); got != want {
			t.Errorf("hostProblem(%q) = %q, want %q", host, got, want)
		}
	}
}

// TestHostSyntaxRefusedBesideHost: a port typed in the host field, a URL
// or a malformed name is refused once, beside the host, in the page's
// language, and nothing is saved.
func TestHostSyntaxRefusedBesideHost(t *testing.T) {
	e := newTestEnv(t, nil)
	for _, tc := range []struct{ host, lang, key string }{
		{"smtp.acme.com.br:25", "pt-BR", "err.host_port"},
		{"smtp.acme.com.br:587", "en", "err.host_port"},
		{"[2001:db8::25]:587", "en", "err.host_port"},
		{"smtps://smtp.acme.com.br", "pt-BR", "err.host_url"},
		{"smtp..acme.com.br", "pt-BR", "err.host_name"},
		{"smtp.acme.com.br/", "en", "err.host_name"},
	} {
		f := outboundForm()
		f.Set("outbound.server.host", tc.host)
		r := e.do("POST", "/mailboxes/new", f, "Accept-Language", tc.lang)
		want := tr(tc.lang, tc.key)
		if got := fieldErrors(r.body, "outbound.server.host"); r.code != http.StatusUnprocessableEntity || len(got) != 1 || got[0] != want {
			t.Errorf("%s: code %d, errors %q, want %q", tc.host, r.code, got, want)
		}
		// Beside the field and in the summary at the top: twice, no more.
		if n := countIn(r.body, want); n != 2 {
			t.Errorf("%s: message shown %d times", tc.host, n)
		}
	}
	// Inbound too.
	f := inboundForm()
	f.Set("inbound.server.host", "imap.acme.com.br:993")
	if got := fieldErrors(e.do("POST", "/mailboxes/new", f).body, "inbound.server.host"); len(got) != 1 || got[0] != tr(langEN, "err.host_port") {
		t.Errorf("inbound host with a port: %q", got)
	}
	if n := len(e.cat.Mailboxes()); n != 0 {
		t.Fatalf("%d mailboxes saved", n)
	}
}

// TestMailboxTextFieldsOneLineAndBounded posts every single-line text
// field of both kinds with a line break, then one character over its
// limit: each is refused beside its field, and nothing is saved.
func TestMailboxTextFieldsOneLineAndBounded(t *testing.T) {
	e := newTestEnv(t, nil)
	for _, tc := range []struct {
		form  func() url.Values
		field string
		valid string // a valid value the line break is put into
	}{
		{inboundForm, "description", "Support inbox"},
		{inboundForm, "address", "support@acme.com.br"},
		{inboundForm, "inbound.credentials.username", "support"},
		{inboundForm, "inbound.credentials.password", "s3cret"},
		{inboundForm, "inbound.folder", "INBOX"},
		{outboundForm, "description", "ACME outgoing"},
		{outboundForm, "outbound.credentials.username", "mailer"},
		{outboundForm, "outbound.credentials.password", "s3cret"},
		{outboundForm, "outbound.from.name", "ACME Support"},
		{outboundForm, "outbound.from.address", "support@acme.com.br"},
		{outboundForm, "outbound.reply_to", "help@acme.com.br"},
	} {
		for _, bad := range []string{"\r\n", "\n", "\r", "\u2028", "\u0085", "\x00"} {
			f := tc.form()
			f.Set(tc.field, tc.valid[:2]+bad+tc.valid[2:])
			r := e.do("POST", "/mailboxes/new", f, "Accept-Language", "pt-BR")
			if got := fieldErrors(r.body, tc.field); r.code != http.StatusUnprocessableEntity || len(got) != 1 || got[0] != tr(langPT, "err.control_chars") {
				t.Errorf("%s with %q: code %d, errors %q", tc.field, bad, r.code, got)
			}
		}
		f := tc.form()
		n := limitOf(tc.field)
		long := strings.Repeat("a", n+1)
		if strings.Contains(tc.valid, "@") {
			long = strings.Repeat("a", n+1-len("@acme.com.br")) + "@acme.com.br"
		}
		f.Set(tc.field, long)
		r := e.do("POST", "/mailboxes/new", f)
		if got := fieldErrors(r.body, tc.field); r.code != http.StatusUnprocessableEntity || len(got) != 1 || got[0] != tr(langEN, "err.too_long", n) {
			t.Errorf("%s, %d characters: code %d, errors %q", tc.field, n+1, r.code, got)
		}
	}
	if n := len(e.cat.Mailboxes()); n != 0 {
		t.Fatalf("%d mailboxes saved", n)
	}
	// At the limits, saved.
	f := outboundForm()
	f.Set("outbound.from.name", strings.Repeat("n", maxName))
	f.Set("outbound.credentials.password", strings.Repeat("p", maxPassword))
	if r := e.do("POST", "/mailboxes/new", f); r.code != http.StatusSeeOther {
		t.Fatalf("at the limits: %d\n%s", r.code, r.body)
	}
}

// TestEmailStepCheckedOnSave: every text field of the email step is
// checked when it is saved, the errors beside their fields in the page's
// language, and a refused step is not kept.
func TestEmailStepCheckedOnSave(t *testing.T) {
	e := newTestEnv(t, nil)
	step := url.Values{"action": {"save"}, "name": {"Opened"}, "choice": {"contract"}, "users": {"ana"},
		"subject": {"Request {{.Request}} opened"}, "text": {"Hello\r\n\r\n{{.Title}}"}, "request": {"1"}, "title": {"Printer"}}
	if r := e.do("POST", "/workflow", step); r.code != http.StatusOK || !strings.Contains(r.body, tr(langEN, "common.saved")) {
		t.Fatalf("a valid step: %d", r.code)
	}
	for _, tc := range []struct {
		field, value, key string
		args              []any
	}{
		{"name", "a\r\nb", "err.control_chars", nil},
		{"name", strings.Repeat("n", maxStepName+1), "err.too_long", []any{maxStepName}},
		{"subject", "Pedido\n{{.Request}}", "err.control_chars", nil},
		{"subject", strings.Repeat("s", maxSubject+1), "err.too_long", []any{maxSubject}},
		{"request", "1\r\n2", "err.control_chars", nil},
		{"request", strings.Repeat("9", maxRequest+1), "err.too_long", []any{maxRequest}},
		{"title", "Impressora\u2028travada", "err.control_chars", nil},
		{"title", strings.Repeat("t", maxTitle+1), "err.too_long", []any{maxTitle}},
		{"text", "Olá\x07", "err.control_chars", nil},
		{"text", strings.Repeat("x", maxBody+1), "err.too_long", []any{maxBody}},
		{"addresses", "ana@cliente.example\r\nnot an address\r\nBia <bia@cliente.example>", "err.bad_address_lines", []any{"not an address"}},
		{"addresses", strings.Repeat("a@b.example\n", maxAddresses+1), "err.too_many_addresses", []any{maxAddresses}},
		{"choice", "nearest", "resolve.bad_choice", nil},
		{"subject", "Pedido {{.Request", "resolve.template", nil},
	} {
		v := cloneValues(step)
		v.Set(tc.field, tc.value)
		r := e.do("POST", "/workflow", v, "Accept-Language", "pt-BR")
		want := tr(langPT, tc.key, tc.args...)
		if got := fieldErrors(r.body, tc.field); r.code != http.StatusUnprocessableEntity || len(got) != 1 || got[0] != want {
			t.Errorf("%s=%.30q: code %d, errors %q, want %q", tc.field, tc.value, r.code, got, want)
		}
		if countIn(r.body, want) != 1 || !strings.Contains(r.body, tr(langPT, "wf.notsaved")) {
			t.Errorf("%s=%.30q: not once beside the field, or no notice", tc.field, tc.value)
		}
		if got := e.app.savedStep(t.Context()).Get("name"); got != "Opened" {
			t.Fatalf("%s=%.30q: the refused step was kept (name %q)", tc.field, tc.value, got)
		}
	}
	// At the limits, kept.
	v := cloneValues(step)
	v.Set("name", strings.Repeat("é", maxStepName))
	v.Set("addresses", strings.Repeat("a@b.example\n", maxAddresses))
	if r := e.do("POST", "/workflow", v); r.code != http.StatusOK {
		t.Fatalf("at the limits: %d", r.code)
	}
}

// logEngine is an engine whose Messages page shows a given log.
type logEngine struct {
	Engine
	log MessageLog
}

func (e logEngine) Messages(context.Context) (MessageLog, error) { return e.log, nil }

// TestMessageListsPaginated: on the overview each contract shows the
// first page of its sent and received mail, with links to the
// contract's own view, where every list (sent, received, quarantine) has
// its own pages; the overview's sections and quarantine are paged too.
func TestMessageListsPaginated(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var log MessageLog
	for i := range 5 {
		at := t0.Add(time.Duration(i) * time.Minute)
		log.Sent = append(log.Sent, SentItem{At: at, Contract: "ct-acme", Subject: fmt.Sprintf("Sent %d", i), State: "sent"})
		log.Received = append(log.Received, ReceivedItem{At: at, Contract: "ct-acme", Subject: fmt.Sprintf("Received %d", i), From: "bia@cliente.example"})
		log.Quarantined = append(log.Quarantined, QuarantinedItem{ID: int64(i + 1), At: at, Contract: "ct-acme", Reason: fmt.Sprintf("Held %d", i)})
	}
	log.Sent = append(log.Sent, SentItem{At: t0, Subject: "Loose", State: "sent"}) // no contract
	e := newTestEnv(t, nil)
	e.app.engine = logEngine{Engine: e.app.engine, log: log}
	e.app.pageSize = 2
	for _, c := range []contract.Contract{{ID: "ct-acme", Name: "ACME"}, {ID: "ct-beta", Name: "Beta"}} {
		if err := e.cat.PutContract(t.Context(), &c); err != nil {
			t.Fatal(err)
		}
	}
	has := func(body string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("missing %s", w)
			}
		}
	}
	hasNot := func(body string, not ...string) {
		t.Helper()
		for _, w := range not {
			if strings.Contains(body, w) {
				t.Errorf("found %s", w)
			}
		}
	}
	// Overview: ACME and Beta (page 1 of 2; "without contract" on page 2),
	// ACME's newest two of each, links to ACME's view.
	r := e.do("GET", "/messages", nil)
	has(r.body, "Sent 4", "Sent 3", "Received 4", "Received 3", `href="/messages?page=2"`,
		`href="/messages?contract=ct-acme&amp;spage=2"`, `href="/messages?contract=ct-acme&amp;rpage=2"`,
		`href="/messages?qpage=2"`, "Held 4", "Held 3", `aria-label="Sent mail pages"`)
	hasNot(r.body, "Sent 2", "Received 2", "Held 2", "Loose")
	r = e.do("GET", "/messages?page=2", nil)
	has(r.body, "Loose", tr(langEN, "messages.nocontract"))
	hasNot(r.body, "Sent 4")

	// ACME's view, sent page 3 and received page 2, in Portuguese.
	r = e.do("GET", "/messages?contract=ct-acme&spage=3&rpage=2", nil, "Accept-Language", "pt-BR")
	if r.code != http.StatusOK {
		t.Fatalf("contract view: %d", r.code)
	}
	has(r.body, "Sent 0", "Received 2", "Received 1", "Página 3 de 3 (5 no total)", "Página 2 de 3 (5 no total)",
		`href="/messages?contract=ct-acme&amp;rpage=2&amp;spage=2"`, // previous sent page, keeping rpage
		`href="/messages?contract=ct-acme&amp;rpage=3&amp;spage=3"`, // next received page, keeping spage
		`aria-label="Páginas das mensagens recebidas"`, tr(langPT, "messages.contract.back"), "Held 4")
	hasNot(r.body, "Sent 1", "Received 3", "Loose", `data-contract="ct-beta"`)
	// The mail without a contract has a view too; an unknown contract is 404.
	if r := e.do("GET", "/messages?contract=", nil); r.code != http.StatusOK || !strings.Contains(r.body, "Loose") || strings.Contains(r.body, "Sent 4") {
		t.Errorf("no-contract view: %d", r.code)
	}
	if r := e.do("GET", "/messages?contract=ct-nope", nil); r.code != http.StatusNotFound {
		t.Errorf("unknown contract: %d", r.code)
	}
	// Older mail left out of the log is said, not hidden.
	if strings.Contains(e.do("GET", "/messages", nil).body, `id="sent-omitted"`) {
		t.Error("omitted mail reported when none is")
	}
	log.SentOmitted = 7
	e.app.engine = logEngine{Engine: e.app.engine, log: log}
	if r := e.do("GET", "/messages", nil, "Accept-Language", "pt-BR"); !strings.Contains(r.body, tr(langPT, "messages.sent.omitted", 7, maxSentListed)) {
		t.Error("omitted mail not reported")
	}
}

// TestPresetDoesNotOverwriteTheSavedStep: loading a ready-made message
// fills the form; the saved step changes only when Save is pressed.
func TestPresetDoesNotOverwriteTheSavedStep(t *testing.T) {
	e := newTestEnv(t, nil)
	step := url.Values{"action": {"save"}, "name": {"Mine"}, "choice": {"system"}, "users": {"ana"},
		"subject": {"My subject {{.Request}}"}, "text": {"My text"}}
	if r := e.do("POST", "/workflow", step); r.code != http.StatusOK {
		t.Fatalf("save: %d", r.code)
	}
	v := cloneValues(step)
	v.Set("action", "preset")
	v.Set("preset", "approval")
	r := e.do("POST", "/workflow", v, "Accept-Language", "pt-BR")
	if !strings.Contains(r.body, "Aprovação") || !strings.Contains(r.body, tr(langPT, "wf.preset.loaded")) {
		t.Fatalf("preset not loaded, or no notice")
	}
	if got := e.app.savedStep(t.Context()); got.Get("subject") != "My subject {{.Request}}" || got.Get("name") != "Mine" {
		t.Fatalf("the preset overwrote the saved step: %v", got)
	}
	if r := e.do("GET", "/workflow", nil); !strings.Contains(r.body, `value="My subject {{.Request}}"`) {
		t.Fatal("the page does not show the saved step")
	}
}

// TestEnginesSayWhatTheyLeaveOut: past maxSentListed outbox records the
// engines' log keeps the latest and counts the rest.
func TestEnginesSayWhatTheyLeaveOut(t *testing.T) {
	_, eng := newSQLEngineEnv(t)
	t0 := time.Now().Add(-time.Hour)
	for i := range maxSentListed + 3 {
		id := fmt.Sprintf("ob-%04d", i)
		rec := &store.OutboxRecord{ID: id, MessageID: id + "@helpdesk.test", Mailbox: "mb-gone", State: store.Dead,
			EnqueuedAt: t0.Add(time.Duration(i) * time.Second), Reason: "test",
			Message: store.Message{Mailbox: "mb-gone", To: []store.Address{{Address: "ana@cliente.com.br"}}, Subject: id, Text: "x"}}
		if err := eng.outbox.Put(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	log, err := eng.Messages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if log.SentOmitted != 3 || len(log.Sent) != maxSentListed {
		t.Fatalf("omitted %d, listed %d", log.SentOmitted, len(log.Sent))
	}
	for _, s := range log.Sent {
		if s.ID < "ob-0003" {
			t.Fatalf("an old record is listed: %s", s.ID)
		}
	}
}

// TestRenderedMessageRefusedBesideItsField: a step that passes its checks
// but renders a message the outbox refuses (a body empty for this
// request) is reported once, translated, beside the body, not raw.
func TestRenderedMessageRefusedBesideItsField(t *testing.T) {
	e := newTestEnv(t, nil)
	e.do("POST", "/mailboxes/new", outboundForm())
	if err := e.cat.SetSystemMailbox(context.Background(), e.mailboxByDescription("ACME outgoing").ID); err != nil {
		t.Fatal(err)
	}
	step := url.Values{"action": {"send"}, "name": {"Opened"}, "choice": {"system"}, "users": {"ana"},
		"subject": {"Request {{.Request}}"}, "text": {"{{if .Link}}See {{.Link}}{{end}}"}, "request": {"5"}}
	r := e.do("POST", "/workflow", step, "Accept-Language", "pt-BR")
	want := tr(langPT, "resolve.empty_body")
	if got := fieldErrors(r.body, "text"); len(got) != 1 || got[0] != want {
		t.Fatalf("errors beside the body %q, want %q", got, want)
	}
	if countIn(r.body, want) != 1 || strings.Contains(r.body, "outbound:") || strings.Contains(r.body, "no body") {
		t.Fatalf("not once, or raw:\n%s", r.body)
	}
	// The field is named in the result card too.
	if !strings.Contains(r.body, `id="send-failed"`) || !strings.Contains(r.body, `href="#f-text"`) {
		t.Fatal("the result card does not point at the body")
	}
	for _, tc := range []struct{ field, want string }{
		{"subject", "resolve.header"}, {"to[0]", "resolve.bad_recipient"}, {"bcc[2]", "resolve.bad_recipient"}, {"thread", "err.control_chars"},
	} {
		f, msg := inputError(langEN, &outbound.InputError{Field: tc.field, Err: outbound.ErrInvalid})
		if f == "" || msg != tr(langEN, tc.want) {
			t.Errorf("%s: beside %q, %q", tc.field, f, msg)
		}
	}
}

// TestConfirmationSaysWhatItConfirms: the confirmation page asks about
// the action it guards: delete (cannot be undone), cancel sending, and
// any other action by its verb, never "Delete" for something else.
func TestConfirmationSaysWhatItConfirms(t *testing.T) {
	e := newTestEnv(t, nil)
	for _, tc := range []struct {
		d    confirmData
		want string
	}{
		{confirmData{Name: "Caixa A"}, "Excluir Caixa A? Não é possível desfazer."},
		{confirmData{Name: "Caixa A", Verb: "Pausar", Title: "wf.title"}, "Pausar Caixa A?"},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/x", nil)
		r.Header.Set("Accept-Language", "pt-BR")
		tc.d.Action, tc.d.Back = "/x", "/"
		e.app.confirm(w, r, "mailboxes", tc.d)
		body := w.Body.String()
		if !strings.Contains(body, tc.want) || (tc.d.Verb != "" && strings.Contains(body, "Não é possível desfazer")) {
			t.Errorf("%+v: page lacks %q:\n%s", tc.d, tc.want, body)
		}
	}
}
