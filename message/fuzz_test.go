package message

import (
	"bytes"
	"context"
	"net/mail"
	"testing"
)

// fuzzKeys answers every DKIM key lookup with the test key, so that fuzzed
// signatures reach verification.
var fuzzKeys = &fakeTXT{records: map[string][]string{}, all: []string{keyRecord()}}

// FuzzParse checks that no input makes Parse or Classify panic or hang, and
// that every part's byte range stays inside the input.
func FuzzParse(f *testing.F) {
	for _, e := range loadCorpus(f) {
		if len(e.Data) <= 64<<10 {
			f.Add(e.Data)
		}
	}
	f.Add([]byte(nested(40)))
	f.Add([]byte("Authentication-Results: mx.example.net; dkim=pass (c; d) header.d=example.org; dmarc=pass header.from=example.org\r\n" +
		"DKIM-Signature: v=1; a=ed25519-sha256; d=example.org; s=s1; h=from; bh=AAAA; b=AAAA\r\nFrom: a@example.org\r\n\r\nx\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := Options{MaxDepth: 8, MaxParts: 64, MaxTextBytes: 64 << 10}
		m, err := ParseBytes(data, opts)
		if err != nil {
			if m != nil {
				t.Fatal("message and error both returned")
			}
			return
		}
		for _, p := range m.Parts {
			if p.Offset < 0 || p.Length < 0 || p.Offset+p.Length > int64(len(data)) {
				t.Fatalf("part range %d+%d outside %d bytes", p.Offset, p.Length, len(data))
			}
		}
		if len(m.Parts) > opts.MaxParts || len(m.Text) > opts.MaxTextBytes || len(m.HTML) > opts.MaxTextBytes {
			t.Fatalf("limits exceeded: %d parts, %d text, %d html", len(m.Parts), len(m.Text), len(m.HTML))
		}
		// Decoded header text is safe to reuse: no control characters.
		if hasControl(m.Subject) {
			t.Fatalf("subject %q holds a control character", m.Subject)
		}
		for _, l := range [][]*mail.Address{m.From, m.To, m.Cc, m.ReplyTo, {m.Sender}} {
			for _, a := range l {
				if a != nil && (hasControl(a.Name) || hasControl(a.Address)) {
					t.Fatalf("address %q <%q> holds a control character", a.Name, a.Address)
				}
			}
		}
		for _, p := range m.Parts {
			if hasControl(p.Filename) {
				t.Fatalf("file name %q holds a control character", p.Filename)
			}
		}
		_ = Classify(m, ClassifyOptions{OwnAddresses: []string{"a@example.com"}})
		// Sender authentication reads the same hostile input: header
		// fields and, with a resolver, DKIM signatures over the raw bytes.
		a := Authenticate(context.Background(), bytes.NewReader(data), int64(len(data)), m,
			AuthOptions{TrustedAuthServIDs: []string{"mx.example.net"}, TrustNoAuthServID: true, DKIM: fuzzKeys, MaxDKIMSignatures: 2})
		if a.FromAuthenticated && a.FromDomain == "" {
			t.Fatalf("authenticated without a From domain: %+v", a)
		}
	})
}
