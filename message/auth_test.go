package message

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// fakeTXT is a TXTResolver over a map, counting lookups; no network.
type fakeTXT struct {
	records map[string][]string
	all     []string // answer for every name not in records, if set
	err     error
	lookups atomic.Int32 // DKIM verifies signatures concurrently
}

func (f *fakeTXT) LookupTXT(ctx context.Context, name string) ([]string, error) {
	f.lookups.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.err != nil {
		return nil, f.err
	}
	if r, ok := f.records[name]; ok {
		return r, nil
	}
	if f.all != nil {
		return f.all, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// testKey is a fixed ed25519 key generated for these tests (RFC 8463).
var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

func keyRecord() string {
	return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(testKey.Public().(ed25519.PublicKey))
}

func sign(t *testing.T, raw, domain string) []byte {
	t.Helper()
	var b bytes.Buffer
	err := dkim.Sign(&b, strings.NewReader(raw), &dkim.SignOptions{Domain: domain, Selector: "s1", Signer: testKey})
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

const plainMail = "From: Customer <ana@example.org>\r\nTo: helpdesk@example.com\r\nSubject: Printer\r\n" +
	"Message-ID: <m1@example.org>\r\n\r\nIt is broken.\r\n"

func authOf(t *testing.T, raw []byte, opts AuthOptions) *Authentication {
	t.Helper()
	m, err := ParseContext(context.Background(), bytes.NewReader(raw), int64(len(raw)), Options{Auth: &opts})
	if err != nil {
		t.Fatal(err)
	}
	if m.Auth == nil {
		t.Fatal("Message.Auth not set")
	}
	return m.Auth
}

func TestDKIMVerification(t *testing.T) {
	res := &fakeTXT{records: map[string][]string{
		"s1._domainkey.example.org":      {keyRecord()},
		"s1._domainkey.mail.example.org": {keyRecord()},
		"s1._domainkey.evil.example":     {keyRecord()},
	}}
	opts := AuthOptions{DKIM: res}

	a := authOf(t, sign(t, plainMail, "example.org"), opts)
	if !a.FromAuthenticated || a.Method != AuthDKIMVerified || a.FromDomain != "example.org" ||
		len(a.Signatures) != 1 || !a.Signatures[0].Valid || !a.Signatures[0].Aligned {
		t.Errorf("own domain: %+v", a)
	}
	// A subdomain's signature aligns (relaxed, RFC 7489 3.1.1).
	if a := authOf(t, sign(t, plainMail, "mail.example.org"), opts); !a.FromAuthenticated {
		t.Errorf("subdomain: %+v", a)
	}
	// A valid signature of another domain proves nothing about From.
	if a := authOf(t, sign(t, plainMail, "evil.example"), opts); a.FromAuthenticated || len(a.Signatures) != 1 || !a.Signatures[0].Valid || a.Signatures[0].Aligned {
		t.Errorf("other domain: %+v", a)
	}
	// Two signatures (a mailing service's and the author's): the aligned
	// one authenticates.
	twice := sign(t, string(sign(t, plainMail, "evil.example")), "example.org")
	if a := authOf(t, twice, opts); !a.FromAuthenticated || len(a.Signatures) != 2 {
		t.Errorf("two signatures: %+v", a)
	}
	// A changed body breaks the signature.
	signed := sign(t, plainMail, "example.org")
	tampered := bytes.Replace(signed, []byte("It is broken."), []byte("Pay invoice 42."), 1)
	if a := authOf(t, tampered, opts); a.FromAuthenticated || len(a.Signatures) != 1 || a.Signatures[0].Valid || a.Signatures[0].Err == "" {
		t.Errorf("tampered: %+v", a)
	}
	// A changed From breaks it too.
	spoofed := bytes.Replace(signed, []byte("Customer <ana@"), []byte("CEO <ceo@"), 1)
	if a := authOf(t, spoofed, opts); a.FromAuthenticated {
		t.Errorf("changed From: %+v", a)
	}
	// A DNS failure is a temporary failure, not a pass.
	down := &fakeTXT{err: errors.New("timeout")}
	if a := authOf(t, signed, AuthOptions{DKIM: down}); a.FromAuthenticated || len(a.Signatures) != 1 || !a.Signatures[0].TempFail {
		t.Errorf("dns down: %+v", a)
	}
	// A missing key is a permanent failure.
	nokey := &fakeTXT{}
	if a := authOf(t, signed, AuthOptions{DKIM: nokey}); a.FromAuthenticated || len(a.Signatures) != 1 || a.Signatures[0].TempFail || a.Signatures[0].Valid {
		t.Errorf("no key: %+v", a)
	}
	// A cancelled context stops the lookups.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m, _ := ParseBytes(signed, Options{})
	if a := Authenticate(ctx, bytes.NewReader(signed), int64(len(signed)), m, opts); a.FromAuthenticated {
		t.Errorf("cancelled: %+v", a)
	}
	// Without a resolver nothing is looked up.
	res.lookups.Store(0)
	if a := authOf(t, signed, AuthOptions{}); a.FromAuthenticated || len(a.Signatures) != 0 || res.lookups.Load() != 0 {
		t.Errorf("no resolver: %+v, %d lookups", a, res.lookups.Load())
	}
}

func TestAuthenticationResults(t *testing.T) {
	mail := func(from string, ars ...string) []byte {
		var b strings.Builder
		for _, ar := range ars {
			b.WriteString("Authentication-Results: " + ar + "\r\n")
		}
		b.WriteString("From: " + from + "\r\nSubject: x\r\n\r\nbody\r\n")
		return []byte(b.String())
	}
	trusted := AuthOptions{TrustedAuthServIDs: []string{"MX.Example.NET", "mx.google.com"}}
	tests := []struct {
		name   string
		raw    []byte
		opts   AuthOptions
		auth   bool
		method string
		dmarc  string
	}{
		{"dmarc pass", mail("ana@example.org", "mx.example.net; dmarc=pass header.from=example.org"), trusted, true, AuthDMARC, "pass"},
		{"dmarc pass for another domain", mail("ana@example.org", "mx.example.net; dmarc=pass header.from=evil.example"), trusted, false, "", ""},
		{"untrusted authserv-id", mail("ana@example.org", "evil.example; dmarc=pass header.from=example.org; dkim=pass header.d=example.org"), trusted, false, "", ""},
		{"nothing trusted by default", mail("ana@example.org", "mx.example.net; dmarc=pass header.from=example.org"), AuthOptions{}, false, "", ""},
		// The receiving server adds its field on top; a forged one below
		// with the same authserv-id is not read.
		{"forged below the real one", mail("ana@example.org",
			"mx.example.net; dmarc=fail header.from=example.org; dkim=none",
			"mx.example.net; dmarc=pass header.from=example.org; dkim=pass header.d=example.org"), trusted, false, "", "fail"},
		// Gmail's format, comments included (Gmail help: "Authentication-Results").
		{"gmail", mail("Ana <ana@example.org>", "mx.google.com;\r\n dkim=pass header.i=@example.org header.s=20230601 header.b=AbCd;\r\n"+
			" spf=pass (google.com: domain of bounce@mail.example.org designates 192.0.2.1 as permitted sender) smtp.mailfrom=bounce@mail.example.org;\r\n"+
			" dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.org"), trusted, true, AuthDMARC, "pass"},
		{"aligned dkim only", mail("ana@example.org", "mx.example.net; dkim=pass header.d=mail.example.org"), trusted, true, AuthDKIM, ""},
		{"dkim identifier only", mail("ana@example.org", "mx.example.net; dkim=pass header.i=@example.org"), trusted, true, AuthDKIM, ""},
		{"aligned spf only", mail("ana@example.org", "mx.example.net; spf=pass smtp.mailfrom=bounces+x@em.example.org"), trusted, true, AuthSPF, ""},
		{"spf of another domain", mail("ana@example.org", "mx.example.net; spf=pass smtp.mailfrom=sender@mailer.example"), trusted, false, "", ""},
		{"spf null sender uses helo", mail("ana@example.org", "mx.example.net; spf=pass smtp.helo=mx.example.org"), trusted, true, AuthSPF, ""},
		{"dkim fail", mail("ana@example.org", "mx.example.net; dkim=fail header.d=example.org"), trusted, false, "", ""},
		// A comment is not a result, even when it spells one.
		{"result hidden in a comment", mail("ana@example.org", "mx.example.net; spf=fail (oops; dkim=pass header.d=example.org ) smtp.mailfrom=evil.example"), trusted, false, "", ""},
		// Organisational domains by the Public Suffix List.
		{"public suffix", mail("ana@foo.co.uk", "mx.example.net; dkim=pass header.d=bar.co.uk"), trusted, false, "", ""},
		{"public suffix subdomain", mail("ana@foo.co.uk", "mx.example.net; dkim=pass header.d=mail.foo.co.uk"), trusted, true, AuthDKIM, ""},
		// Microsoft 365 writes no authserv-id.
		{"microsoft 365", mail("ana@example.org", "spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=example.org; dkim=pass (signature was verified)\r\n"+
			" header.d=example.org;dmarc=pass action=none header.from=example.org;compauth=pass reason=100"), AuthOptions{TrustNoAuthServID: true}, true, AuthDMARC, "pass"},
		{"microsoft 365 bestguesspass", mail("ana@example.org", "spf=pass smtp.mailfrom=example.org; dmarc=bestguesspass action=none header.from=example.org"),
			AuthOptions{TrustNoAuthServID: true}, true, AuthDMARC, "bestguesspass"},
		{"microsoft 365 not trusted", mail("ana@example.org", "spf=pass smtp.mailfrom=example.org; dmarc=pass header.from=example.org"), trusted, false, "", ""},
		// RFC 7489 6.6.1: several From domains are never authenticated.
		{"two from domains", mail("ana@example.org, bob@evil.example", "mx.example.net; dmarc=pass header.from=example.org"), trusted, false, "", ""},
		{"internationalised domain", mail("ana@bücher.example", "mx.example.net; dmarc=pass header.from=xn--bcher-kva.example"), trusted, true, AuthDMARC, "pass"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := authOf(t, tc.raw, tc.opts)
			if a.FromAuthenticated != tc.auth || a.Method != tc.method || a.DMARC != tc.dmarc {
				t.Errorf("authenticated %v method %q dmarc %q, want %v %q %q\n%+v", a.FromAuthenticated, a.Method, a.DMARC, tc.auth, tc.method, tc.dmarc, a)
			}
		})
	}
	// Two From fields: a classic spoofing trick, never authenticated.
	raw := []byte("Authentication-Results: mx.example.net; dmarc=pass header.from=example.org\r\nFrom: ana@example.org\r\nFrom: ceo@evil.example\r\n\r\nx\r\n")
	if a := authOf(t, raw, trusted); a.FromAuthenticated || a.FromDomain != "" {
		t.Errorf("two From fields: %+v", a)
	}
	// Untrusted fields are counted.
	if a := authOf(t, mail("ana@example.org", "a.example; spf=pass", "b.example; spf=pass"), trusted); a.Untrusted != 2 || len(a.Results) != 0 {
		t.Errorf("untrusted: %+v", a)
	}
	// Without Options.Auth, Message.Auth stays nil.
	if m := mustParse(t, string(mail("ana@example.org")), Options{}); m.Auth != nil {
		t.Errorf("Auth %+v without Options.Auth", m.Auth)
	}
}
