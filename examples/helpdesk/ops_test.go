package main

import (
	"context"
	"html"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/correio-dev/correio/transport"
)

func TestMailboxDescriptionLengthLimited(t *testing.T) {
	e := newTestEnv(t, nil)
	f := inboundForm()
	f.Set("description", strings.Repeat("x", maxDescription+1))
	r := e.do("POST", "/mailboxes/new", f)
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("code %d, want 422", r.code)
	}
	if got := fieldErrors(r.body, "description"); len(got) != 1 || got[0] != "Too long: at most 200 characters." {
		t.Fatalf("description errors %q", got)
	}
	f.Set("description", strings.Repeat("é", maxDescription))
	if r := e.do("POST", "/mailboxes/new", f); r.code != http.StatusSeeOther {
		t.Fatalf("200 characters refused: %d", r.code)
	}
}

func TestLongDescriptionShortInList(t *testing.T) {
	long := strings.Repeat("palavra ", 25) // 200 characters
	if got := short(long); len([]rune(got)) != 80 || !strings.HasSuffix(got, "…") {
		t.Fatalf("short = %q", got)
	}
	e := newTestEnv(t, nil)
	f := inboundForm()
	f.Set("description", strings.TrimSpace(long))
	if r := e.do("POST", "/mailboxes/new", f); r.code != http.StatusSeeOther {
		t.Fatalf("save: %d", r.code)
	}
	r := e.do("GET", "/mailboxes", nil)
	if !strings.Contains(r.body, `<td class="desc">`) || !strings.Contains(r.body, short(strings.TrimSpace(long))+"</a>") {
		t.Fatalf("list does not cut the description:\n%s", r.body)
	}
}

func TestPlaceholderHostRefused(t *testing.T) {
	for _, host := range []string{"smtp.example.com", "example.org", "mail.acme.example", "x.test", "EXAMPLE.NET."} {
		e := newTestEnv(t, nil)
		f := outboundForm()
		f.Set("outbound.server.host", host)
		f.Set("outbound.server.port", "25")
		r := e.do("POST", "/mailboxes/new", f, "Accept-Language", "pt-BR")
		got := fieldErrors(r.body, "outbound.server.host")
		if r.code != http.StatusUnprocessableEntity || len(got) != 1 || !strings.Contains(got[0], "servidor de exemplo") {
			t.Errorf("%s: code %d, errors %q", host, r.code, got)
		}
	}
	for _, host := range []string{"smtp.examples.com", "mail.testing.com.br", "exampleorg.net"} {
		if placeholderHost(host) {
			t.Errorf("%s taken for a placeholder", host)
		}
	}
}

type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	return f[host], nil
}

func TestPublicOnlyAppliedAtSave(t *testing.T) {
	e := newTestEnv(t, nil)
	e.app.policy = transport.PublicOnly
	e.app.resolver = fakeResolver{
		"smtp.acme.com.br":     {netip.MustParseAddr("203.0.114.9")},
		"intranet.acme.com.br": {netip.MustParseAddr("10.1.2.3")},
	}
	for _, host := range []string{"127.0.0.1", "::1", "169.254.169.254", "intranet.acme.com.br"} {
		f := outboundForm()
		f.Set("outbound.server.host", host)
		r := e.do("POST", "/mailboxes/new", f)
		got := fieldErrors(r.body, "outbound.server.host")
		if r.code != http.StatusUnprocessableEntity || len(got) != 1 || !strings.Contains(got[0], "not allowed here") {
			t.Errorf("%s: code %d, errors %q", host, r.code, got)
		}
	}
	if n := len(e.cat.Mailboxes()); n != 0 {
		t.Fatalf("%d refused mailboxes saved", n)
	}
	if r := e.do("POST", "/mailboxes/new", outboundForm()); r.code != http.StatusSeeOther {
		t.Fatalf("public host refused: %d", r.code)
	}
	// Without -public-only a private server is fine (an administrator's own).
	e.app.policy = nil
	f := outboundForm()
	f.Set("outbound.server.host", "10.0.0.5")
	if r := e.do("POST", "/mailboxes/new", f); r.code != http.StatusSeeOther {
		t.Fatalf("private host refused without the policy: %d", r.code)
	}
}

func TestContractNameOneLineAndBounded(t *testing.T) {
	e := newTestEnv(t, nil)
	for name, want := range map[string]string{
		"ACME\r\nBcc: x@evil.example":          "Line breaks and control characters are not allowed.",
		strings.Repeat("n", maxContractName+1): "Too long: at most 120 characters.",
	} {
		r := e.do("POST", "/contracts/new", map[string][]string{"name": {name}})
		if got := fieldErrors(r.body, "name"); r.code != http.StatusUnprocessableEntity || len(got) != 1 || got[0] != want {
			t.Errorf("%.20q: code %d, errors %q", name, r.code, got)
		}
	}
	if n := len(e.cat.Contracts()); n != 0 {
		t.Fatalf("%d contracts saved", n)
	}
}

// countIn counts msg, HTML-escaped, in body.
func countIn(body, msg string) int { return strings.Count(body, html.EscapeString(msg)) }

func TestWorkflowErrorsOnceTranslatedBesideTheField(t *testing.T) {
	e := newTestEnv(t, nil)
	step := url.Values{
		"action": {"send"}, "name": {"Opened"}, "choice": {"system"}, "users": {"ana"},
		"subject": {"Request {{.Request}} opened"}, "text": {"Hello"}, "request": {"1"},
	}
	for _, tc := range []struct {
		set         func(url.Values)
		field, key  string
		lang, wantL string
	}{
		{func(url.Values) {}, "choice", "resolve.no_system", "pt-BR", langPT},
		{func(v url.Values) { v.Set("subject", "Hi {{.Request") }, "subject", "resolve.template", "pt-BR", langPT},
		{func(v url.Values) { v.Set("text", "Hi {{if}}") }, "text", "resolve.template", "en", langEN},
		{func(v url.Values) { v.Set("subject", "Hi\r\nBcc: x@evil.example") }, "subject", "err.control_chars", "en", langEN},
		{func(v url.Values) { v.Set("title", "Hi\nBcc: x@evil.example") }, "title", "err.control_chars", "pt-BR", langPT},
		{func(v url.Values) { v.Del("users") }, "users", "err.required", "pt-BR", langPT},
		{func(v url.Values) { v.Set("choice", "specific") }, "mailbox_id", "err.required", "pt-BR", langPT},
		{func(v url.Values) { v.Set("name", "two\nlines") }, "name", "err.control_chars", "pt-BR", langPT},
	} {
		v := cloneValues(step)
		tc.set(v)
		if tc.key != "resolve.no_system" {
			// A system mailbox, so the step gets past the resolver.
			e.do("POST", "/mailboxes/new", outboundForm())
			_ = e.cat.SetSystemMailbox(context.Background(), e.mailboxByDescription("ACME outgoing").ID)
		}
		r := e.do("POST", "/workflow", v, "Accept-Language", tc.lang)
		want := tr(tc.wantL, tc.key)
		if got := fieldErrors(r.body, tc.field); len(got) != 1 || got[0] != want {
			t.Errorf("%s: errors beside %s = %q, want %q", tc.key, tc.field, got, want)
		}
		if n := countIn(r.body, want); n != 1 {
			t.Errorf("%s: shown %d times", tc.key, n)
		}
		if strings.Contains(r.body, "template:") || strings.Contains(r.body, "routing:") || strings.Contains(r.body, "workflow:") {
			t.Errorf("%s: the library's raw text is on the page", tc.key)
		}
	}
}

func TestDeleteAsksForConfirmation(t *testing.T) {
	e := newTestEnv(t, nil)
	e.do("POST", "/mailboxes/new", inboundForm())
	m := e.mailboxByDescription("Support inbox")
	e.do("POST", "/contracts/new", url.Values{"name": {"ACME"}})
	ct := e.cat.Contracts()[0]

	for _, tc := range []struct{ list, target, name string }{
		{"/mailboxes", "/mailboxes/" + string(m.ID) + "/delete", "Support inbox"},
		{"/contracts", "/contracts/" + string(ct.ID) + "/delete", "ACME"},
	} {
		// The list links to the confirmation page, not to a POST.
		r := e.do("GET", tc.list, nil)
		if !strings.Contains(r.body, `<a href="`+tc.target+`" class="delete">`) || strings.Contains(r.body, `action="`+tc.target+`"`) {
			t.Fatalf("%s: delete is not a link to the confirmation:\n%s", tc.list, r.body)
		}
		r = e.do("GET", tc.target, nil, "Accept-Language", "pt-BR")
		if !strings.Contains(r.body, "Excluir "+tc.name+"? Não é possível desfazer.") || !strings.Contains(r.body, `name="confirm" value="yes"`) {
			t.Fatalf("%s: confirmation page:\n%s", tc.target, r.body)
		}
		// A POST without the confirmation deletes nothing.
		if r := e.do("POST", tc.target, nil); r.code != http.StatusSeeOther || r.hdr.Get("Location") != tc.target {
			t.Fatalf("%s: unconfirmed POST: %d %s", tc.target, r.code, r.hdr.Get("Location"))
		}
	}
	if len(e.cat.Mailboxes()) != 1 || len(e.cat.Contracts()) != 1 {
		t.Fatal("deleted without confirmation")
	}
	for _, target := range []string{"/contracts/" + string(ct.ID) + "/delete", "/mailboxes/" + string(m.ID) + "/delete"} {
		if r := e.do("POST", target, url.Values{"confirm": {"yes"}}); r.code != http.StatusSeeOther {
			t.Fatalf("%s: confirmed delete: %d\n%s", target, r.code, r.body)
		}
	}
	if len(e.cat.Mailboxes()) != 0 || len(e.cat.Contracts()) != 0 {
		t.Fatal("not deleted once confirmed")
	}
}

func TestListsArePaginated(t *testing.T) {
	e := newTestEnv(t, nil)
	e.app.pageSize = 2
	for _, name := range []string{"C1", "C2", "C3", "C4", "C5"} {
		e.do("POST", "/contracts/new", url.Values{"name": {name}})
		f := inboundForm()
		f.Set("description", "Box "+name)
		e.do("POST", "/mailboxes/new", f)
	}
	rows := func(body, attr string) int { return strings.Count(body, attr) }
	r := e.do("GET", "/contracts", nil)
	if n := rows(r.body, "<tr data-contract="); n != 2 || !strings.Contains(r.body, "Page 1 of 3 (5 in all)") || !strings.Contains(r.body, `href="/contracts?page=2"`) {
		t.Fatalf("page 1: %d rows\n%s", n, r.body)
	}
	r = e.do("GET", "/contracts?page=3", nil, "Accept-Language", "pt-BR")
	if n := rows(r.body, "<tr data-contract="); n != 1 || !strings.Contains(r.body, "Página 3 de 3 (5 no total)") || !strings.Contains(r.body, "C5") || strings.Contains(r.body, `rel="next"`) {
		t.Fatalf("page 3: %d rows\n%s", n, r.body)
	}
	r = e.do("GET", "/mailboxes?page=2", nil)
	if n := rows(r.body, "<tr data-mailbox="); n != 2 || !strings.Contains(r.body, "Box C3") || strings.Contains(r.body, "Box C1") {
		t.Fatalf("mailboxes page 2: %d rows\n%s", n, r.body)
	}
	// Out of range: the last page; garbage: the first.
	if r := e.do("GET", "/mailboxes?page=99", nil); !strings.Contains(r.body, "Box C5") {
		t.Fatal("page 99 is not the last page")
	}
	if r := e.do("GET", "/mailboxes?page=x", nil); !strings.Contains(r.body, "Box C1") {
		t.Fatal("page x is not the first page")
	}
	// Messages: the contracts' sections are paged too.
	r = e.do("GET", "/messages", nil)
	if n := strings.Count(r.body, `<section class="contract card"`); n != 2 {
		t.Fatalf("messages page 1: %d sections", n)
	}
}
