package main

import (
	"bytes"
	"context"
	"html"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store/secrets"
	"github.com/correio-dev/correio/store/sqlite"
	"github.com/correio-dev/correio/store/sqlstore"
)

// testEnv is the helpdesk over a real SQLite store in a temp dir.
type testEnv struct {
	t      *testing.T
	app    *App
	cat    *sqlstore.Catalog
	dbPath string
	st     *sqlite.Store
}

func newTestEnv(t *testing.T, eng Engine) *testEnv {
	t.Helper()
	keys, err := secrets.NewKeyring("test", map[string][]byte{"test": bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "helpdesk.db")
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{Secrets: keys, CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	app, err := NewApp(st.Catalog(), eng, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{t: t, app: app, cat: st.Catalog(), dbPath: path, st: st}
}

type resp struct {
	code int
	body string
	hdr  http.Header
}

func (e *testEnv) do(method, target string, form url.Values, hdr ...string) resp {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	e.app.ServeHTTP(rec, req)
	out := rec.Body.String()
	// A catalog key shown as itself is a missing translation.
	visible := scriptRE.ReplaceAllString(out, "")
	if m := rawKeyRE.FindStringSubmatch(visible); m != nil {
		e.t.Errorf("%s %s shows the untranslated key %q", method, target, m[1])
	}
	return resp{code: rec.Code, body: out, hdr: rec.Header()}
}

var (
	scriptRE = regexp.MustCompile(`(?s)<script.*?</script>`)
	rawKeyRE = regexp.MustCompile(`(?:^|[^\w.@/-])((?:app|nav|lang|common|kind|mailboxes|form|err|rule|health|contracts|wf|resolve|messages|probe|class)\.[a-zA-Z_][\w.-]*)`)
)

// fieldErrors returns the text of the errors shown under a field.
func fieldErrors(body, path string) []string {
	re := regexp.MustCompile(`(?s)<div id="` + regexp.QuoteMeta(fieldID(path)) + `-err">(.*?)</div>`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return nil
	}
	var out []string
	for _, p := range regexp.MustCompile(`<p class="error">(.*?)</p>`).FindAllStringSubmatch(m[1], -1) {
		out = append(out, html.UnescapeString(p[1]))
	}
	return out
}

func inboundForm() url.Values {
	return url.Values{
		"description":                  {"Support inbox"},
		"kind":                         {"inbound"},
		"address":                      {"support@acme.example"},
		"enabled":                      {"on"},
		"inbound.server.host":          {"imap.acme.com.br"},
		"inbound.credentials.username": {"support"},
		"inbound.credentials.password": {"s3cret-imap-pw"},
	}
}

func outboundForm() url.Values {
	return url.Values{
		"description":                   {"ACME outgoing"},
		"kind":                          {"outbound"},
		"enabled":                       {"on"},
		"outbound.server.host":          {"smtp.acme.com.br"},
		"outbound.server.port":          {"587"},
		"outbound.credentials.username": {"mailer"},
		"outbound.credentials.password": {"s3cret-smtp-pw"},
		"outbound.from.name":            {"ACME Support"},
		"outbound.from.address":         {"support@acme.example"},
	}
}

func (e *testEnv) mailboxByDescription(desc string) *mailbox.Mailbox {
	e.t.Helper()
	for _, m := range e.cat.Mailboxes() {
		if m.Description == desc {
			return m
		}
	}
	e.t.Fatalf("no mailbox %q saved", desc)
	return nil
}

func TestMailboxFormShowsEveryErrorBesideItsField(t *testing.T) {
	e := newTestEnv(t, nil)
	form := url.Values{
		"kind":                            {"inbound"},
		"address":                         {"not an address"},
		"inbound.server.port":             {"99999"},
		"inbound.server.security":         {"plaintext"},
		"inbound.credentials.username":    {"user\r\nX-Injected: 1"},
		"inbound.post_action":             {"move"},
		"inbound.folder":                  {"INBOX"},
		"inbound.move_to":                 {"INBOX"},
		"outbound.server.port":            {"not-a-number"}, // other kind: ignored
		"outbound.from.address":           {"garbage"},
		"outbound.server.allow_plaintext": {"on"},
	}
	r := e.do("POST", "/mailboxes/new", form, "Accept-Language", "en")
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422", r.code)
	}
	want := map[string]string{
		"description":                  "This field is required.",
		"address":                      "Not a valid e-mail address (user@example.com).",
		"inbound.server.host":          "This field is required.",
		"inbound.server.port":          "This value is out of range.",
		"inbound.server.security":      "Plaintext sends the password in the clear: tick the acceptance box or choose TLS.",
		"inbound.credentials.password": "This field is required.",
		"inbound.move_to":              "This setting conflicts with another one.",
	}
	for path, msg := range want {
		got := fieldErrors(r.body, path)
		if !slices.Contains(got, msg) {
			t.Errorf("%s: errors %q, want %q", path, got, msg)
		}
	}
	if got := fieldErrors(r.body, "inbound.credentials.username"); !slices.Contains(got, "Line breaks and control characters are not allowed.") {
		t.Errorf("username: %q", got)
	}
	for _, path := range []string{"outbound.server.port", "outbound.from.address"} {
		if got := fieldErrors(r.body, path); got != nil {
			t.Errorf("the other kind's field %s shows %q; it must be ignored", path, got)
		}
	}
	if len(e.cat.Mailboxes()) != 0 {
		t.Fatal("an invalid mailbox was saved")
	}
	// The summary links to each field.
	if !strings.Contains(r.body, `href="#f-inbound-server-port"`) {
		t.Error("error summary does not link to the port field")
	}
	// The invalid input is tied to its message for screen readers.
	if !strings.Contains(r.body, `aria-describedby="f-description-err"`) {
		t.Error("description input not described by its error")
	}
}

func TestMailboxFormErrorsInPortuguese(t *testing.T) {
	e := newTestEnv(t, nil)
	form := outboundForm()
	form.Del("description")
	form.Set("outbound.server.port", "abc")
	form.Set("outbound.reply_to", "x@")
	r := e.do("POST", "/mailboxes/new", form, "Accept-Language", "pt-BR,pt;q=0.9,en;q=0.5")
	want := map[string]string{
		"description":          "Campo obrigatório.",
		"outbound.server.port": "Informe um número inteiro.",
		"outbound.reply_to":    "Endereço de e-mail inválido (usuario@exemplo.com.br).",
	}
	for path, msg := range want {
		if got := fieldErrors(r.body, path); !slices.Contains(got, msg) {
			t.Errorf("%s: errors %q, want %q", path, got, msg)
		}
	}
	for _, s := range []string{`<html lang="pt-BR">`, "Descrição", "Gravar", "Testar conexão", "Configuração de saída (SMTP)"} {
		if !strings.Contains(r.body, s) {
			t.Errorf("page lacks %q", s)
		}
	}
}

func TestEveryFieldErrorCodeIsTranslated(t *testing.T) {
	codes := []mailbox.Code{mailbox.CodeRequired, mailbox.CodeOutOfRange, mailbox.CodeBadAddress, mailbox.CodeInsecure,
		mailbox.CodeNotAllowed, mailbox.CodeConflict, mailbox.CodeUnsupported, mailbox.CodeControlChars, mailbox.CodeInvalid, codeNumber,
		codeTooLong, codePlaceholder, codePolicy, codeHostPort, codeHostURL, codeHostName}
	for _, lang := range languages {
		seen := map[string]mailbox.Code{}
		for _, c := range codes {
			fe := &mailbox.FieldError{Path: "x", Code: c, Message: "english detail"}
			msg := fieldMessage(lang, fe)
			if msg == "english detail" || msg == "err."+string(c) {
				t.Errorf("%s: code %s not translated", lang, c)
			}
			if other, dup := seen[msg]; dup {
				t.Errorf("%s: codes %s and %s share the message %q", lang, c, other, msg)
			}
			seen[msg] = c
		}
	}
	// An unknown code falls back to the library's English message.
	if got := fieldMessage(langPT, &mailbox.FieldError{Code: "brand_new", Message: "detail"}); got != "detail" {
		t.Errorf("unknown code: %q", got)
	}
}

func TestCatalogsHaveTheSameKeys(t *testing.T) {
	en, pt := catalogKeys(langEN), catalogKeys(langPT)
	for _, k := range en {
		if _, ok := catalog[langPT][k]; !ok {
			t.Errorf("pt-BR lacks %q", k)
		}
	}
	for _, k := range pt {
		if _, ok := catalog[langEN][k]; !ok {
			t.Errorf("en lacks %q", k)
		}
	}
	for _, term := range []struct{ key, want string }{
		{"mailboxes.new", "Nova Caixa de E-mail"}, {"kind.inbound", "Entrada"}, {"kind.outbound", "Saída"},
		{"mailboxes.description", "Descrição"}, {"common.save", "Gravar"}, {"form.test", "Testar conexão"},
		{"wf.choice.contract", "Contrato"},
	} {
		if got := tr(langPT, term.key); got != term.want {
			t.Errorf("pt-BR %s = %q, want %q", term.key, got, term.want)
		}
	}
}

// The templates hold no text of their own: every word comes from the
// catalogs. This strips actions, tags, scripts and styles and checks that
// no letters remain.
func TestTemplatesHaveNoHardWiredText(t *testing.T) {
	allowed := map[string]bool{"correio": true}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil || len(names) == 0 {
		t.Fatal(names, err)
	}
	strip := []*regexp.Regexp{
		regexp.MustCompile(`(?s)<script.*?</script>`),
		regexp.MustCompile(`(?s)<style.*?</style>`),
		regexp.MustCompile(`(?s)\{\{.*?\}\}`),
		regexp.MustCompile(`(?s)<[^>]*>`),
		regexp.MustCompile(`&[a-z]+;`),
	}
	word := regexp.MustCompile(`[\p{L}]{2,}`)
	for _, n := range names {
		b, _ := fs.ReadFile(templateFS, n)
		s := string(b)
		for _, re := range strip {
			s = re.ReplaceAllString(s, " ")
		}
		for _, w := range word.FindAllString(s, -1) {
			if !allowed[w] {
				t.Errorf("%s: hard-wired text %q", n, w)
			}
		}
	}
	// Attributes people read (title, aria-label, placeholder, alt) are
	// translated too.
	attr := regexp.MustCompile(`(?:title|aria-label|placeholder|alt)="([^"{]*)"`)
	for _, n := range names {
		b, _ := fs.ReadFile(templateFS, n)
		for _, m := range attr.FindAllStringSubmatch(string(b), -1) {
			t.Errorf("%s: untranslated attribute text %q", n, m[1])
		}
	}
}

func TestLanguageFromAcceptLanguageAndSwitch(t *testing.T) {
	e := newTestEnv(t, nil)
	r := e.do("GET", "/mailboxes", nil, "Accept-Language", "pt-BR")
	if !strings.Contains(r.body, "<h1>Caixas de E-mail</h1>") || r.hdr.Get("Content-Language") != "pt-BR" {
		t.Fatalf("Accept-Language pt-BR not honoured:\n%s", r.body[:min(len(r.body), 400)])
	}
	r = e.do("GET", "/mailboxes", nil, "Accept-Language", "fr-FR, en;q=0.8")
	if !strings.Contains(r.body, "<h1>Mailboxes</h1>") {
		t.Fatal("English fallback not used")
	}
	// The switch sets a cookie that wins over Accept-Language.
	r = e.do("GET", "/contracts?lang=pt-BR", nil, "Accept-Language", "en")
	if !strings.Contains(r.body, "<h1>Contratos</h1>") {
		t.Fatal("?lang=pt-BR not honoured")
	}
	var cookie string
	for _, c := range (&http.Response{Header: r.hdr}).Cookies() {
		if c.Name == langCookie {
			cookie = c.Name + "=" + c.Value
		}
	}
	if cookie != "lang=pt-BR" {
		t.Fatalf("cookie %q", cookie)
	}
	r = e.do("GET", "/workflow", nil, "Accept-Language", "en", "Cookie", cookie)
	if !strings.Contains(r.body, "<h1>Etapa de e-mail</h1>") {
		t.Fatal("language cookie not honoured")
	}
	// The switch links to the same page in the other language.
	if !strings.Contains(r.body, `href="/workflow?lang=en"`) {
		t.Fatal("no switch back to English")
	}
}

func TestMailboxSavedWithPasswordSealedAndKindFieldsOnly(t *testing.T) {
	e := newTestEnv(t, nil)
	form := inboundForm()
	// Garbage in the outbound fieldset is ignored for an inbound mailbox.
	form.Set("outbound.server.port", "zzz")
	form.Set("outbound.from.address", "not-an-address")
	r := e.do("POST", "/mailboxes/new", form)
	if r.code != http.StatusSeeOther {
		t.Fatalf("status %d:\n%s", r.code, r.body)
	}
	m := e.mailboxByDescription("Support inbox")
	if m.Kind != mailbox.Inbound || m.Outbound != nil || m.Inbound.Server.Host != "imap.acme.com.br" {
		t.Fatalf("saved %+v", m)
	}
	if m.Inbound.Credentials.Password.Reveal() != "s3cret-imap-pw" {
		t.Fatal("password not kept")
	}
	// The database never holds the password in clear.
	files, _ := filepath.Glob(e.dbPath + "*")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte("s3cret-imap-pw")) {
			t.Fatalf("%s holds the password in clear", f)
		}
	}
	// The edit form never shows it, and saving with it empty keeps it.
	r = e.do("GET", "/mailboxes/"+string(m.ID), nil)
	if strings.Contains(r.body, "s3cret") {
		t.Fatal("edit form shows the password")
	}
	if !strings.Contains(r.body, `value="imap.acme.com.br"`) {
		t.Fatal("edit form not filled")
	}
	form = inboundForm()
	form.Set("description", "Support inbox (renamed)")
	form.Del("inbound.credentials.password")
	if r = e.do("POST", "/mailboxes/"+string(m.ID), form); r.code != http.StatusSeeOther {
		t.Fatalf("edit: %d\n%s", r.code, r.body)
	}
	m2, _ := e.cat.Mailbox(m.ID)
	if m2.Description != "Support inbox (renamed)" || m2.Inbound.Credentials.Password.Reveal() != "s3cret-imap-pw" {
		t.Fatalf("edit lost data: %q", m2.Description)
	}
	// A rejected form does not echo the password back either.
	form = inboundForm()
	form.Del("description")
	if r = e.do("POST", "/mailboxes/new", form); strings.Contains(r.body, "s3cret") {
		t.Fatal("rejected form echoes the password")
	}
	// The list shows it, with unknown health before the engines report.
	r = e.do("GET", "/mailboxes", nil)
	if !strings.Contains(r.body, "Support inbox (renamed)") || !strings.Contains(r.body, "imap.acme.com.br:993") {
		t.Fatalf("list:\n%s", r.body)
	}
}

func TestTestConnectionWithoutProbeSaysSo(t *testing.T) {
	e := newTestEnv(t, nil)
	form := outboundForm()
	form.Set("action", "test")
	r := e.do("POST", "/mailboxes/new", form)
	if !strings.Contains(r.body, `id="probe-result"`) || !strings.Contains(r.body, tr(langEN, "form.test.unavailable")) {
		t.Fatalf("no probe report:\n%s", r.body)
	}
	if len(e.cat.Mailboxes()) != 0 {
		t.Fatal("testing a connection saved the mailbox")
	}
}

func TestContractFormOffersOnlyFittingMailboxes(t *testing.T) {
	e := newTestEnv(t, nil)
	e.do("POST", "/mailboxes/new", inboundForm())
	e.do("POST", "/mailboxes/new", outboundForm())
	in2 := inboundForm()
	in2.Set("description", "Sales inbox")
	e.do("POST", "/mailboxes/new", in2)
	in := e.mailboxByDescription("Support inbox")
	out := e.mailboxByDescription("ACME outgoing")
	sales := e.mailboxByDescription("Sales inbox")

	// Contract A takes the sales inbox.
	r := e.do("POST", "/contracts/new", url.Values{"name": {"Contract A"}, "inbound_mailboxes": {string(sales.ID)}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("contract A: %d\n%s", r.code, r.body)
	}
	r = e.do("GET", "/contracts/new", nil)
	sel := regexp.MustCompile(`(?s)<select id="f-outbound-mailbox".*?</select>`).FindString(r.body)
	if !strings.Contains(sel, string(out.ID)) || strings.Contains(sel, string(in.ID)) || strings.Contains(sel, string(sales.ID)) {
		t.Fatalf("outbound select offers the wrong mailboxes:\n%s", sel)
	}
	if !strings.Contains(r.body, `name="inbound_mailboxes" value="`+string(in.ID)+`"`) {
		t.Fatal("free inbound mailbox not offered")
	}
	if strings.Contains(r.body, `value="`+string(sales.ID)+`"`) || strings.Contains(r.body, `name="inbound_mailboxes" value="`+string(out.ID)+`"`) {
		t.Fatal("owned or outbound mailbox offered as inbound")
	}

	// A forged form binding the taken inbox and an inbound mailbox as
	// outbound gets the rule errors beside the fields.
	r = e.do("POST", "/contracts/new", url.Values{
		"name": {"Contract B"}, "outbound_mailbox": {string(in.ID)}, "inbound_mailboxes": {string(sales.ID)},
	}, "Accept-Language", "pt-BR")
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("status %d", r.code)
	}
	if got := fieldErrors(r.body, "outbound_mailbox"); !slices.Contains(got, "Esta caixa de e-mail é do tipo errado.") {
		t.Errorf("outbound_mailbox errors %q", got)
	}
	if got := fieldErrors(r.body, "inbound_mailboxes"); len(got) != 1 || !strings.Contains(got[0], "já pertence a outro contrato (Contract A)") {
		t.Errorf("inbound_mailboxes errors %q", got)
	}
	// A missing name too.
	r = e.do("POST", "/contracts/new", url.Values{"outbound_mailbox": {string(out.ID)}})
	if got := fieldErrors(r.body, "name"); !slices.Contains(got, "This field is required.") {
		t.Errorf("name errors %q", got)
	}
	if len(e.cat.Contracts()) != 1 {
		t.Fatalf("%d contracts saved, want 1", len(e.cat.Contracts()))
	}

	// A mailbox in use cannot be deleted; the reason is shown.
	r = e.do("POST", "/mailboxes/"+string(sales.ID)+"/delete", url.Values{"confirm": {"yes"}})
	if r.code != http.StatusConflict || !strings.Contains(r.body, "still used by contract Contract A") {
		t.Fatalf("delete in use: %d", r.code)
	}
}

func TestEmailStepSendShowsDecisionAndListsItUnderTheContract(t *testing.T) {
	e := newTestEnv(t, nil)
	e.do("POST", "/mailboxes/new", outboundForm())
	out := e.mailboxByDescription("ACME outgoing")
	e.do("POST", "/contracts/new", url.Values{"name": {"ACME"}, "outbound_mailbox": {string(out.ID)}})
	var ct *contract.Contract
	for _, c := range e.cat.Contracts() {
		ct = c
	}

	step := url.Values{
		"action": {"send"}, "name": {"Opened"}, "choice": {"system"}, "users": {"ana"}, "groups": {"support"},
		"subject": {"Request {{.Request}} opened"}, "text": {"Hello {{.Requester}}"},
		"contract": {string(ct.ID)}, "request": {"4242"}, "title": {"Printer"},
	}
	// No system mailbox yet: the System choice fails with a clear reason.
	r := e.do("POST", "/workflow", step)
	if !strings.Contains(r.body, tr(langEN, "resolve.no_system")) {
		t.Fatalf("no-system error missing:\n%s", r.body)
	}
	// The Contract choice takes the contract's mailbox and says why.
	step.Set("choice", "contract")
	r = e.do("POST", "/workflow", step, "Accept-Language", "pt-BR")
	if !strings.Contains(r.body, `<code id="decision-rule">contract</code>`) {
		t.Fatalf("decision rule missing:\n%s", r.body)
	}
	if !strings.Contains(r.body, "Contrato: ACME outgoing é a caixa de saída do contrato ACME.") {
		t.Error("translated reason missing")
	}
	if !strings.Contains(r.body, "davi") { // in the group, without an address
		t.Error("user without address not reported")
	}
	if !strings.Contains(r.body, "Request 4242 opened [#REQ-4242]") {
		t.Error("rendered subject with thread token missing")
	}
	// The Messages page lists it under the contract.
	r = e.do("GET", "/messages", nil)
	sec := regexp.MustCompile(`(?s)<section class="contract card" data-contract="` + string(ct.ID) + `".*?</section>`).FindString(r.body)
	if !strings.Contains(sec, "Request 4242 opened") || !strings.Contains(sec, "ana.souza@cliente.example") || !strings.Contains(sec, "carla.dias@empresa.example") {
		t.Fatalf("message not listed under the contract:\n%s", sec)
	}
	// A header injection through the subject or a variable is refused.
	for _, f := range []string{"subject", "title"} {
		bad := cloneValues(step)
		bad.Set(f, "Hi\r\nBcc: x@evil.example")
		r = e.do("POST", "/workflow", bad)
		if got := fieldErrors(r.body, f); r.code != http.StatusUnprocessableEntity || len(got) != 1 || got[0] != tr(langEN, "err.control_chars") {
			t.Fatalf("header injection through %s: %d %q", f, r.code, got)
		}
	}
}

func TestPresetLoadsSystemMessageInPageLanguage(t *testing.T) {
	e := newTestEnv(t, nil)
	r := e.do("POST", "/workflow", url.Values{"action": {"preset"}, "preset": {"approval"}}, "Accept-Language", "pt-BR")
	if !strings.Contains(r.body, "Aprovação") {
		t.Fatalf("approval preset in pt-BR not loaded:\n%s", r.body)
	}
}

func TestUnknownMailboxIs404(t *testing.T) {
	e := newTestEnv(t, nil)
	if r := e.do("GET", "/mailboxes/nope", nil); r.code != http.StatusNotFound {
		t.Fatalf("%d", r.code)
	}
}

func TestKeyFileCreatedPrivateAndReused(t *testing.T) {
	t.Setenv("HELPDESK_SECRET_KEY", "")
	path := filepath.Join(t.TempDir(), "k", "helpdesk.key")
	k1, err := loadKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v %v", fi, err)
	}
	k2, err := loadKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := k1.Seal(context.Background(), secrets.Place{Mailbox: "m", Field: "password"}, mailbox.NewSecret("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := k2.Open(context.Background(), secrets.Place{Mailbox: "m", Field: "password"}, sealed); err != nil || s.Reveal() != "pw" {
		t.Fatalf("reused key does not open: %v", err)
	}
	t.Setenv("HELPDESK_SECRET_KEY", "short")
	if _, err := loadKeyring(path); err == nil {
		t.Fatal("bad key accepted")
	}
}

func TestCrossSiteFormPostRefused(t *testing.T) {
	e := newTestEnv(t, nil)
	r := e.do("POST", "/mailboxes/new", outboundForm(), "Sec-Fetch-Site", "cross-site")
	if r.code != http.StatusForbidden || len(e.cat.Mailboxes()) != 0 {
		t.Fatalf("cross-site POST: %d, %d mailboxes", r.code, len(e.cat.Mailboxes()))
	}
	if r = e.do("POST", "/mailboxes/new", outboundForm(), "Sec-Fetch-Site", "same-origin"); r.code != http.StatusSeeOther {
		t.Fatalf("same-origin POST: %d", r.code)
	}
}
