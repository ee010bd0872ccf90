package main

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// The helpdesk's own limits, on top of mailbox.Validate and the contract
// rules: what an administrator types stays short enough for the lists.
const (
	maxDescription  = 200
	maxContractName = 120
	maxStepName     = 120
)

// The helpdesk's own field error codes (the mailbox package never sees
// them), translated like the library's.
const (
	codeTooLong     mailbox.Code = "too_long"
	codePlaceholder mailbox.Code = "placeholder"
	codePolicy      mailbox.Code = "policy"
)

// limitOf is the length limit behind a too_long error of a field.
func limitOf(path string) int {
	switch path {
	case "name":
		return maxContractName
	case "wf.name":
		return maxStepName
	}
	return maxDescription
}

// tooLong reports whether s has more than max characters.
func tooLong(s string, max int) bool { return utf8.RuneCountInString(s) > max }

// hasControl reports a CR, LF or other control character.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
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

// helpdeskChecks are the helpdesk's checks of a mailbox form, beyond
// mailbox.Validate: the description's length and placeholder hosts.
func helpdeskChecks(m *mailbox.Mailbox) []*mailbox.FieldError {
	var errs []*mailbox.FieldError
	if tooLong(m.Description, maxDescription) {
		errs = append(errs, &mailbox.FieldError{Path: "description", Code: codeTooLong, Message: "too long"})
	}
	if s, prefix, ok := serverOf(m); ok && placeholderHost(s.Host) {
		errs = append(errs, &mailbox.FieldError{Path: prefix + ".server.host", Code: codePlaceholder, Message: "an example host"})
	}
	return errs
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
