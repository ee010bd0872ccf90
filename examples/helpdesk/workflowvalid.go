package main

import (
	"net/mail"
	"net/url"
	"strings"

	"github.com/correio-dev/correio/workflow"
)

// The email step's limits (the step name's is maxStepName). The subject
// template stays well inside one header line (RFC 5322 section 2.1.1
// recommends 78 characters a line, allows 998); the bodies are bounded so
// a pasted document cannot fill the settings table.
const (
	maxSubject   = 250
	maxRequest   = 64
	maxTitle     = 200
	maxAddresses = 50 // lines of "other addresses"
	maxBody      = 20000
	maxHTML      = 100000
)

// stepLine are the email step's single-line text fields with their limits.
var stepLine = []struct {
	field string
	max   int
}{
	{"name", maxStepName}, {"subject", maxSubject}, {"request", maxRequest}, {"title", maxTitle},
}

// stepChecks validates the email step as typed, before it is saved or
// run: every text field bounded, the single-line ones without CR, LF or
// other control characters, each other address an address, the mailbox
// choice one of the three; then the connector's own rules
// (workflow.EmailConnector.Validate: the specific mailbox, recipients,
// subject and body, templates that compile). Every message is translated
// and names the form field it is shown beside.
func (a *App) stepChecks(lang string, v url.Values, c *workflow.EmailConnector) []fieldMsg {
	var out []fieldMsg
	add := func(field, key string, args ...any) { out = append(out, fieldMsg{field, tr(lang, key, args...)}) }
	for _, f := range stepLine {
		switch s := v.Get(f.field); {
		case hasControl(s):
			add(f.field, "err.control_chars")
		case tooLong(s, f.max):
			add(f.field, "err.too_long", f.max)
		}
	}
	for _, f := range []struct {
		field string
		max   int
	}{{"text", maxBody}, {"html", maxHTML}} {
		switch s := v.Get(f.field); {
		case hasControlML(s):
			add("text", "err.control_chars") // the HTML is edited with the text
		case tooLong(s, f.max):
			add("text", "err.too_long", f.max)
		}
	}
	switch ch := v.Get("choice"); ch {
	case "":
		add("choice", "err.required")
	default:
		if _, err := workflow.ParseMailboxChoice(ch); err != nil {
			add("choice", "resolve.bad_choice")
		}
	}
	out = append(out, addressProblems(lang, v.Get("addresses"))...)
	if len(out) > 0 {
		// The connector's rules would repeat what is said already (a
		// subject with a line break is also a broken template).
		return out
	}
	if err := c.Validate(); err != nil {
		out = append(out, a.stepErrors(lang, c, err)...)
	}
	return out
}

// addressProblems checks "other addresses", one a line: at most
// maxAddresses, each an address (a name is allowed: "Ana <ana@acme.com.br>")
// of at most maxAddress characters, without control characters.
func addressProblems(lang, text string) []fieldMsg {
	if hasControlML(text) {
		return []fieldMsg{{"addresses", tr(lang, "err.control_chars")}}
	}
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > maxAddresses {
		return []fieldMsg{{"addresses", tr(lang, "err.too_many_addresses", maxAddresses)}}
	}
	var bad []string
	for _, l := range lines {
		a, err := mail.ParseAddress(l)
		if err != nil || !strings.Contains(a.Address, "@") || tooLong(a.Address, maxAddress) {
			bad = append(bad, short(l))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return []fieldMsg{{"addresses", tr(lang, "err.bad_address_lines", strings.Join(bad, ", "))}}
}
