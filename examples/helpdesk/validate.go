package main

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// The helpdesk's own limits, on top of mailbox.Validate and the contract
// rules: what an administrator types stays short enough for the lists,
// and every single-line field stays one line.
const (
	maxDescription  = 200
	maxContractName = 120
	maxStepName     = 120
	// maxAddress bounds an e-mail address: RFC 5321 section 4.5.3.1.3
	// allows a path of 256 octets, angle brackets included.
	maxAddress = 254
	maxName    = 120 // a sender's display name
	maxFolder  = 200 // an IMAP folder name
	// maxPassword bounds what is sealed and stored; app passwords and
	// the like are far shorter.
	maxPassword = 1024
)

// limits are the length limits of the mailbox form's fields (the host is
// the library's: 253, a DNS name's).
var limits = map[string]int{
	"description":                   maxDescription,
	"address":                       maxAddress,
	"inbound.credentials.username":  maxAddress,
	"inbound.credentials.password":  maxPassword,
	"inbound.folder":                maxFolder,
	"inbound.move_to":               maxFolder,
	"outbound.credentials.username": maxAddress,
	"outbound.credentials.password": maxPassword,
	"outbound.from.name":            maxName,
	"outbound.from.address":         maxAddress,
	"outbound.reply_to":             maxAddress,
	"name":                          maxContractName, // the contract form
	"wf.name":                       maxStepName,
}

// The helpdesk's own field error codes (the mailbox package never sees
// them), translated like the library's.
const (
	codeTooLong     mailbox.Code = "too_long"
	codePlaceholder mailbox.Code = "placeholder"
	codePolicy      mailbox.Code = "policy"
	// codeHostPort: a port typed after the host ("smtp.acme.com.br:587").
	codeHostPort mailbox.Code = "host_port"
	// codeHostURL: a URL pasted into the host field ("smtps://...").
	codeHostURL mailbox.Code = "host_url"
	// codeHostName: neither a host name nor an IP address.
	codeHostName mailbox.Code = "host_name"
)

// limitOf is the length limit behind a too_long error of a field.
func limitOf(path string) int {
	if n, ok := limits[path]; ok {
		return n
	}
	return maxDescription
}

// tooLong reports whether s has more than max characters.
func tooLong(s string, max int) bool { return utf8.RuneCountInString(s) > max }

// hasControl reports a CR, LF or any other control character (C0, DEL,
// C1 such as NEL) or a Unicode line or paragraph separator: none belongs
// in a single-line field.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
	})
}

// hasControlML is hasControl for a multi-line field: line breaks and tabs
// are fine there.
func hasControlML(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return r != '\r' && r != '\n' && r != '\t' && unicode.IsControl(r)
	})
}

// placeholderHost reports a documentation or example name (RFC 2606 and
// RFC 6761: example.com, example.net, example.org and the .example,
// .invalid and .test top-level domains): a host copied from a sample,
// never a real server.
func placeholderHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(host), "."))
	for _, d := range []string{"example.com", "example.net", "example.org"} {
		if h == d || strings.HasSuffix(h, "."+d) {
			return true
		}
	}
	for _, tld := range []string{"example", "invalid", "test"} {
		if h == tld || strings.HasSuffix(h, "."+tld) {
			return true
		}
	}
	return false
}

// hostProblem says what is wrong with a server host as typed ("" when
// nothing): it must be a host name or an IP literal (IPv4, or IPv6
// without brackets, as the library takes it). A port after it
// ("smtp.acme.com.br:587", "[2001:db8::1]:993") is codeHostPort, a URL
// ("smtps://smtp.acme.com.br") codeHostURL, anything else codeHostName.
func hostProblem(h string) mailbox.Code {
	if h == "" {
		return "" // the library says it is required
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return ""
	}
	if strings.Contains(h, "://") {
		return codeHostURL
	}
	if i := strings.LastIndexByte(h, ':'); i > 0 && allDigits(h[i+1:]) && len(h)-i-1 <= 5 {
		name := h[:i]
		if v6, ok := strings.CutPrefix(name, "["); ok {
			if a, err := netip.ParseAddr(strings.TrimSuffix(v6, "]")); err == nil && a.Is6() && strings.HasSuffix(v6, "]") {
				return codeHostPort
			}
		}
		if a, err := netip.ParseAddr(name); (err == nil && a.Is4()) || hostName(name) {
			return codeHostPort
		}
	}
	if !hostName(h) {
		return codeHostName
	}
	return ""
}

// hostName reports a DNS host name: at most 253 characters, dot-separated
// labels of 1 to 63 letters, digits and hyphens, not starting or ending
// with a hyphen (RFC 1123 section 2.1; an underscore is let through, as
// Go's resolver and the library do), one trailing dot allowed, and a top
// label that is not all digits (RFC 3696 section 2), so "10.0.0" or
// "300.1.1.1" is not taken for a name.
func hostName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return !allDigits(labels[len(labels)-1])
}

func allDigits(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool { return r < '0' || r > '9' })
}

// serverOf returns the server settings of a mailbox and their form prefix.
func serverOf(m *mailbox.Mailbox) (mailbox.Server, string, bool) {
	switch {
	case m.Inbound != nil:
		return m.Inbound.Server, "inbound", true
	case m.Outbound != nil:
		return m.Outbound.Server, "outbound", true
	}
	return mailbox.Server{}, "", false
}

// textFields are a mailbox's single-line text fields by form path.
func textFields(m *mailbox.Mailbox) map[string]string {
	f := map[string]string{"description": m.Description, "address": m.Address}
	creds := func(prefix string, c mailbox.Credentials) {
		f[prefix+".credentials.username"] = c.Username
		// Bounded and one line like the rest; the value never reaches a
		// message, only its length and a yes/no.
		f[prefix+".credentials.password"] = c.Password.Reveal()
	}
	switch {
	case m.Inbound != nil:
		creds("inbound", m.Inbound.Credentials)
		f["inbound.folder"], f["inbound.move_to"] = m.Inbound.Folder, m.Inbound.MoveTo
	case m.Outbound != nil:
		creds("outbound", m.Outbound.Credentials)
		f["outbound.from.name"], f["outbound.from.address"] = m.Outbound.From.Name, m.Outbound.From.Address
		f["outbound.reply_to"] = m.Outbound.ReplyTo
	}
	return f
}

// helpdeskChecks are the helpdesk's checks of a mailbox form, beyond
// mailbox.Validate: every text field one line and bounded (limits), the
// host's syntax and placeholder hosts. A control character the library
// reports already is not reported twice.
func helpdeskChecks(m *mailbox.Mailbox) []*mailbox.FieldError {
	var errs []*mailbox.FieldError
	fields := textFields(m)
	paths := make([]string, 0, len(fields))
	for p := range fields {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, path := range paths {
		s := fields[path]
		switch {
		case hasControl(s):
			errs = append(errs, &mailbox.FieldError{Path: path, Code: mailbox.CodeControlChars, Message: "control characters"})
		case tooLong(s, limitOf(path)):
			errs = append(errs, &mailbox.FieldError{Path: path, Code: codeTooLong, Message: "too long"})
		}
	}
	if s, prefix, ok := serverOf(m); ok {
		path := prefix + ".server.host"
		switch code := hostProblem(s.Host); {
		case code != "":
			errs = append(errs, &mailbox.FieldError{Path: path, Code: code, Message: "not a host name or IP address"})
		case placeholderHost(s.Host):
			errs = append(errs, &mailbox.FieldError{Path: path, Code: codePlaceholder, Message: "an example host"})
		}
	}
	return errs
}

// oneErrorPerProblem drops, field by field, what says the same thing
// twice: a repeated code, or the library's generic "invalid" when the
// helpdesk says more precisely what is wrong.
func oneErrorPerProblem(errs []*mailbox.FieldError) []*mailbox.FieldError {
	type key struct {
		path string
		code mailbox.Code
	}
	seen := map[key]bool{}
	precise := map[string]bool{}
	for _, fe := range errs {
		if fe.Code == codeHostPort || fe.Code == codeHostURL || fe.Code == codeHostName {
			precise[fe.Path] = true
		}
	}
	var out []*mailbox.FieldError
	for _, fe := range errs {
		k := key{fe.Path, fe.Code}
		if seen[k] || (fe.Code == mailbox.CodeInvalid && precise[fe.Path]) {
			continue
		}
		seen[k] = true
		out = append(out, fe)
	}
	return out
}

// resolver is what policyCheck resolves with (net.DefaultResolver).
type resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// policyCheck applies the address policy the connection test applies
// (-public-only) before a mailbox is saved: a host that is, or resolves
// to, a refused address is a field error. A name that does not resolve
// is not refused here (the engines retry it; the test reports it).
func policyCheck(ctx context.Context, policy transport.AddressPolicy, res resolver, m *mailbox.Mailbox) *mailbox.FieldError {
	s, prefix, ok := serverOf(m)
	if policy == nil || !ok || s.Host == "" {
		return nil
	}
	refused := &mailbox.FieldError{Path: prefix + ".server.host", Code: codePolicy, Message: "address refused by policy"}
	host := strings.Trim(s.Host, "[]")
	if a, err := netip.ParseAddr(host); err == nil {
		if policy.Allow(s.Host, a) != nil {
			return refused
		}
		return nil
	}
	if res == nil {
		res = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := res.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if policy.Allow(s.Host, a.Unmap()) != nil {
			return refused
		}
	}
	return nil
}
