package message

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// TXTResolver looks up DNS TXT records, for DKIM keys. *net.Resolver
// satisfies it; a host can pass a caching or DNSSEC-validating resolver,
// and tests a fake. A name without TXT records should be reported as a
// *net.DNSError with IsNotFound set (a permanent failure of the signature);
// any other error counts as a temporary failure (DKIMSignature.TempFail).
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// DefaultMaxDKIMSignatures is the number of DKIM signatures verified when
// AuthOptions.MaxDKIMSignatures is zero.
const DefaultMaxDKIMSignatures = 5

// AuthOptions configures sender authentication (Authenticate, and Parse
// through Options.Auth).
//
// Authentication-Results fields (RFC 8601) are only as trustworthy as the
// server that wrote them: anyone can put one in a message before sending
// it. The host must therefore name the authserv-id of its own receiving
// server (the first word of the Authentication-Results fields that server
// adds: "mx.google.com" for Gmail and Google Workspace, the host name
// configured in OpenDMARC, OpenDKIM, Rspamd or Postfix for a self-hosted
// server), and that server must remove fields carrying its authserv-id
// from incoming mail, as RFC 8601 section 5 asks. Results of any other
// authserv-id are ignored. For each trusted authserv-id only the topmost
// field is read: the receiving server adds its field above everything the
// sender wrote.
type AuthOptions struct {
	// TrustedAuthServIDs are the authserv-ids whose Authentication-Results
	// are trusted (compared case-insensitively). Empty: none is trusted.
	TrustedAuthServIDs []string
	// TrustNoAuthServID trusts the topmost Authentication-Results field
	// written without an authserv-id. Microsoft 365 / Exchange Online writes
	// its results that way ("spf=pass ... ; dkim=pass ...; dmarc=pass ...");
	// set it only for mailboxes hosted there.
	TrustNoAuthServID bool
	// DKIM, when not nil, makes correio verify the message's DKIM
	// signatures itself (RFC 6376), looking keys up with this resolver.
	// Nil: only trusted Authentication-Results are used.
	DKIM TXTResolver
	// MaxDKIMSignatures bounds the signatures verified (default
	// DefaultMaxDKIMSignatures); more are ignored.
	MaxDKIMSignatures int
}

// Authentication methods that can authenticate the From domain, as set in
// Authentication.Method.
const (
	AuthDMARC        = "dmarc"         // a trusted server reported dmarc=pass for the From domain
	AuthDKIM         = "dkim"          // a trusted server reported an aligned dkim=pass
	AuthDKIMVerified = "dkim-verified" // correio verified an aligned DKIM signature itself
	AuthSPF          = "spf"           // a trusted server reported an aligned spf=pass
)

// Authentication says whether the domain of a message's From address was
// authenticated, and by what.
type Authentication struct {
	// FromDomain is the domain of the From address, lower case (A-labels
	// for internationalised names); "" when From has no address, or several
	// From fields or addresses of different domains (RFC 7489 section
	// 6.6.1), which are never authenticated.
	FromDomain string
	// FromAuthenticated is true when the From domain was authenticated
	// with an aligned identifier (RFC 7489 section 3.1, relaxed alignment:
	// same organisational domain by the Public Suffix List): a trusted
	// dmarc=pass for it (or Microsoft's dmarc=bestguesspass, given when the
	// domain publishes no DMARC record), a trusted dkim=pass or a DKIM signature correio
	// verified with d= aligned, or a trusted spf=pass with the MAIL FROM
	// (or, for a null sender, HELO) domain aligned. A host can flag
	// "customer" mail whose From is not authenticated as possibly spoofed.
	FromAuthenticated bool
	// Method is the evidence that authenticated the From domain (AuthDMARC,
	// AuthDKIM, AuthDKIMVerified, AuthSPF); "" if none.
	Method string
	// DMARC is the DMARC result a trusted server reported for the From
	// domain ("pass", "fail", "none", ...), "" if none.
	DMARC string
	// Results lists the results of the trusted Authentication-Results
	// fields, in order.
	Results []AuthResult
	// Signatures lists correio's own DKIM verifications (empty unless
	// AuthOptions.DKIM is set).
	Signatures []DKIMSignature
	// Untrusted counts the Authentication-Results fields ignored because
	// their authserv-id is not trusted (or they could not be parsed).
	Untrusted int
}

// AuthResult is one result of a trusted Authentication-Results field.
type AuthResult struct {
	AuthServID string // the server that wrote it ("" for Microsoft 365's fields)
	Method     string // "spf", "dkim", "dmarc", "arc", ... (lower case)
	Result     string // "pass", "fail", "softfail", "none", ... (lower case)
	// Domain is the domain the result is about: the d= of a DKIM result,
	// the MAIL FROM (or HELO) domain of an SPF result, the header.from of a
	// DMARC result; lower case, "" if not given.
	Domain string
	// Aligned reports whether Domain aligns with the From domain (relaxed).
	Aligned bool
}

// DKIMSignature is the outcome of verifying one DKIM signature.
type DKIMSignature struct {
	Domain  string // the signing domain (d=), lower case
	Valid   bool   // the signature verified
	Aligned bool   // Domain aligns with the From domain (relaxed)
	// TempFail is true when the key could not be fetched for now (DNS
	// error, timeout): a later verification may succeed.
	TempFail bool
	// Err says why the signature failed, "" when Valid.
	Err string
}

// Authenticate decides whether the From domain of m (parsed from the size
// bytes of raw) was authenticated: from the trusted Authentication-Results
// fields and, when opts.DKIM is set, by verifying DKIM signatures over raw.
// Only DKIM verification does I/O (DNS lookups through opts.DKIM, bounded
// by ctx). It never fails: what cannot be checked is not authenticated.
func Authenticate(ctx context.Context, raw io.ReaderAt, size int64, m *Message, opts AuthOptions) *Authentication {
	a := &Authentication{}
	if m == nil {
		return a
	}
	a.FromDomain = fromDomain(m)
	org := orgDomain(a.FromDomain)
	aligned := func(d string) bool { return a.FromDomain != "" && d != "" && orgDomain(d) == org }

	trusted := map[string]bool{}
	for _, id := range opts.TrustedAuthServIDs {
		if id = strings.ToLower(strings.TrimSpace(id)); id != "" {
			trusted[id] = true
		}
	}
	seen := map[string]bool{}
	for _, v := range m.Header.Values("Authentication-Results") {
		id, results, ok := parseAuthResults(v)
		lid := strings.ToLower(id)
		if !ok || seen[lid] || !(lid == "" && opts.TrustNoAuthServID || lid != "" && trusted[lid]) {
			a.Untrusted++
			continue
		}
		seen[lid] = true
		for _, r := range results {
			ar := authResult(id, r)
			ar.Aligned = aligned(ar.Domain)
			a.Results = append(a.Results, ar)
		}
	}
	if a.FromDomain == "" {
		return a
	}
	for _, r := range a.Results {
		if r.Method == "dmarc" && r.Domain == a.FromDomain && a.DMARC == "" {
			a.DMARC = r.Result
		}
	}
	pick := func(method string) {
		if !a.FromAuthenticated {
			a.FromAuthenticated, a.Method = true, method
		}
	}
	// Microsoft 365 reports "bestguesspass" when the domain publishes no
	// DMARC record but the check would have passed: aligned all the same.
	if a.DMARC == "pass" || a.DMARC == "bestguesspass" {
		pick(AuthDMARC)
	}
	for _, r := range a.Results {
		if r.Method == "dkim" && r.Result == "pass" && r.Aligned {
			pick(AuthDKIM)
		}
	}
	if opts.DKIM != nil && raw != nil && size > 0 {
		a.Signatures = verifyDKIM(ctx, raw, size, opts)
		for i := range a.Signatures {
			s := &a.Signatures[i]
			s.Aligned = aligned(s.Domain)
			if s.Valid && s.Aligned {
				pick(AuthDKIMVerified)
			}
		}
	}
	for _, r := range a.Results {
		if r.Method == "spf" && r.Result == "pass" && r.Aligned {
			pick(AuthSPF)
		}
	}
	return a
}

// verifyDKIM verifies the DKIM signatures of the raw message.
func verifyDKIM(ctx context.Context, raw io.ReaderAt, size int64, opts AuthOptions) []DKIMSignature {
	n := opts.MaxDKIMSignatures
	if n <= 0 {
		n = DefaultMaxDKIMSignatures
	}
	vo := &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			txts, err := opts.DKIM.LookupTXT(ctx, name)
			var dnsErr *net.DNSError
			if err != nil && !(errors.As(err, &dnsErr) && dnsErr.IsNotFound) {
				err = tempLookupError{err}
			}
			return txts, err
		},
		MaxVerifications: n,
	}
	vs, err := dkim.VerifyWithOptions(io.NewSectionReader(raw, 0, size), vo)
	if err != nil && len(vs) == 0 {
		return nil
	}
	out := make([]DKIMSignature, 0, len(vs))
	for _, v := range vs {
		s := DKIMSignature{Domain: normDomain(v.Domain), Valid: v.Err == nil}
		if v.Err != nil {
			s.Err = CleanHeaderText(v.Err.Error())
			s.TempFail = dkim.IsTempFail(v.Err)
		}
		out = append(out, s)
	}
	return out
}

// tempLookupError marks a key lookup failure as temporary for go-msgauth,
// which tells temporary from permanent failures by net.Error.
type tempLookupError struct{ err error }

func (e tempLookupError) Error() string   { return e.err.Error() }
func (e tempLookupError) Unwrap() error   { return e.err }
func (e tempLookupError) Timeout() bool   { return errors.Is(e.err, context.DeadlineExceeded) }
func (e tempLookupError) Temporary() bool { return true }

// authResult turns one parsed result into an AuthResult.
func authResult(id string, r authres.Result) AuthResult {
	ar := AuthResult{AuthServID: id}
	switch r := r.(type) {
	case *authres.SPFResult:
		ar.Method, ar.Result = "spf", string(r.Value)
		ar.Domain = domainOf(r.From)
		if ar.Domain == "" {
			ar.Domain = domainOf(r.Helo)
		}
	case *authres.DKIMResult:
		ar.Method, ar.Result = "dkim", string(r.Value)
		ar.Domain = normDomain(r.Domain)
		if ar.Domain == "" {
			ar.Domain = domainOf(r.Identifier)
		}
	case *authres.DMARCResult:
		ar.Method, ar.Result = "dmarc", string(r.Value)
		ar.Domain = domainOf(r.From)
	case *authres.ARCResult:
		ar.Method, ar.Result = "arc", string(r.Value)
	case *authres.AuthResult:
		ar.Method, ar.Result = "auth", string(r.Value)
	case *authres.IPRevResult:
		ar.Method, ar.Result = "iprev", string(r.Value)
	case *authres.DomainKeysResult:
		ar.Method, ar.Result = "domainkeys", string(r.Value)
		ar.Domain = normDomain(r.Domain)
	case *authres.SenderIDResult:
		ar.Method, ar.Result = "sender-id", string(r.Value)
	case *authres.GenericResult:
		ar.Method, ar.Result = strings.ToLower(r.Method), string(r.Value)
	}
	ar.Result = strings.ToLower(ar.Result)
	return ar
}

// parseAuthResults parses an Authentication-Results value with
// go-msgauth's authres, after removing RFC 5322 comments (which authres
// does not skip, and which may hold ';' or '=' written by anyone who chose
// the envelope sender). A value without an authserv-id (Microsoft 365)
// yields id "". ok is false when nothing could be parsed.
func parseAuthResults(v string) (id string, results []authres.Result, ok bool) {
	v = stripComments(v)
	first, _, _ := strings.Cut(v, ";")
	if strings.Contains(strings.Fields(first + " x")[0], "=") {
		v = "; " + v // no authserv-id: the value starts with a result
	}
	id, results, err := authres.Parse(v)
	if err != nil && len(results) == 0 {
		return id, nil, false
	}
	return strings.TrimSpace(id), results, true
}

// stripComments removes RFC 5322 comments (nested, with quoted pairs)
// outside quoted strings.
func stripComments(s string) string {
	if !strings.Contains(s, "(") {
		return s
	}
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (depth > 0 || quoted):
			if depth == 0 && i+1 < len(s) {
				b.WriteByte(c)
				b.WriteByte(s[i+1])
			}
			i++
			continue
		case depth == 0 && c == '"':
			quoted = !quoted
		case !quoted && c == '(':
			depth++
			continue
		case !quoted && depth > 0 && c == ')':
			depth--
			if depth == 0 {
				b.WriteByte(' ')
			}
			continue
		}
		if depth == 0 {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// fromDomain returns the single domain of m's From addresses, "" if there
// is none or several (or several From fields).
func fromDomain(m *Message) string {
	if len(m.Header.Values("From")) != 1 || len(m.From) == 0 {
		return ""
	}
	d := ""
	for _, f := range m.From {
		fd := domainOf(f.Address)
		if fd == "" || d != "" && fd != d {
			return ""
		}
		d = fd
	}
	return d
}

// domainOf returns the normalised domain of an address or identifier
// ("user@Example.COM", "@example.com", "example.com").
func domainOf(s string) string {
	s = strings.Trim(strings.TrimSpace(s), "<>")
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	return normDomain(s)
}

// normDomain lower-cases a domain, drops a trailing dot and converts an
// internationalised name to A-labels.
func normDomain(d string) string {
	d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
	if d == "" {
		return ""
	}
	if a, err := idna.Lookup.ToASCII(d); err == nil {
		return a
	}
	return d
}

// orgDomain returns the organisational domain of d (RFC 7489 section 3.2)
// by the Public Suffix List, or d itself when it has none.
func orgDomain(d string) string {
	if d == "" {
		return ""
	}
	if o, err := publicsuffix.EffectiveTLDPlusOne(d); err == nil {
		return o
	}
	return d
}
