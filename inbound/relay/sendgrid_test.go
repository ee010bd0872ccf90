package relay_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/inbound/relay"
	"github.com/correio-dev/correio/mailbox"
)

// sendgridBody is an Inbound Parse POST in raw mode: multipart/form-data
// with the raw message in email and the SMTP envelope as JSON, as
// "Inbound Email Parse Webhook" documents (fields of the raw mode).
func sendgridBody(t *testing.T, raw, rcpt string) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range [][2]string{
		{"headers", "From: Ana <ana@customer.test>"},
		{"dkim", "{@customer.test : pass}"}, {"to", rcpt}, {"from", "Ana <ana@customer.test>"}, {"subject", "help"},
		{"sender_ip", "192.0.2.10"}, {"envelope", `{"to":["` + rcpt + `"],"from":"ana@customer.test"}`},
		{"charsets", `{"to":"UTF-8","from":"UTF-8","subject":"UTF-8"}`}, {"SPF", "pass"}, {"email", raw},
	} {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	_ = mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

// sgSigner signs as a SendGrid security policy does: ECDSA P-256 over
// SHA-256 of the timestamp followed by the raw body, base64 ASN.1.
type sgSigner struct {
	key *ecdsa.PrivateKey
	pub string // base64 DER, as the policy's public_key
}

func newSGSigner(t *testing.T) *sgSigner {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return &sgSigner{key: k, pub: base64.StdEncoding.EncodeToString(der)}
}

func (s *sgSigner) request(t *testing.T, body []byte, ctype string, ts time.Time) *http.Request {
	t.Helper()
	tss := strconv.FormatInt(ts.Unix(), 10)
	d := sha256.Sum256(append([]byte(tss), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	req := post("/inbound/sendgrid", ctype, body)
	req.Header.Set(relay.HeaderSendGridSignature, base64.StdEncoding.EncodeToString(sig))
	req.Header.Set(relay.HeaderSendGridTimestamp, tss)
	return req
}

// TestSendGridSigned: with a security policy's public key, a signed raw
// Inbound Parse POST is handed once, a replay is a duplicate, and a
// missing or wrong signature, a changed body and parsed mode are refused.
func TestSendGridSigned(t *testing.T) {
	e, s := newEnv(t), newSGSigner(t)
	h, err := relay.NewSendGrid(relay.SendGridOptions{Common: relay.Common{Ingester: e.g}, PublicKey: s.pub})
	if err != nil {
		t.Fatal(err)
	}
	body, ctype := sendgridBody(t, rawMessage("sg1@customer.test", "support@acme.test"), "support@acme.test")
	req := s.request(t, body, ctype, time.Now())
	if a := serve(t, h, req); a.code != http.StatusOK || a.outcomes() != "handled " {
		t.Fatalf("signed: %d %q", a.code, a.body)
	}
	if a := serve(t, h, s.request(t, body, ctype, time.Now())); a.code != http.StatusOK || a.outcomes() != "duplicate " {
		t.Fatalf("replay: %d %q", a.code, a.body)
	}
	other := newSGSigner(t)
	changed := bytes.Replace(body, []byte("printer"), []byte("scanner"), 1)
	unsigned := post("/inbound/sendgrid", ctype, body)
	signedThenChanged := s.request(t, body, ctype, time.Now())
	signedThenChanged.Body = post("/x", ctype, changed).Body
	parsed, pctype := func() ([]byte, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		_ = mw.WriteField("text", "hello")
		_ = mw.WriteField("envelope", `{"to":["support@acme.test"]}`)
		_ = mw.Close()
		return b.Bytes(), mw.FormDataContentType()
	}()
	for _, c := range []struct {
		name string
		req  *http.Request
		code int
		want string
	}{
		{"unsigned", unsigned, http.StatusUnauthorized, "signature"},
		{"other key", other.request(t, body, ctype, time.Now()), http.StatusUnauthorized, "bad signature"},
		{"body changed", signedThenChanged, http.StatusUnauthorized, "bad signature"},
		{"parsed mode", s.request(t, parsed, pctype, time.Now()), http.StatusBadRequest, "raw, full MIME"},
	} {
		if a := serve(t, h, c.req); a.code != c.code || !strings.Contains(a.body, c.want) {
			t.Errorf("%s: %d %q, want %d %q", c.name, a.code, a.body, c.code, c.want)
		}
	}
	if got := e.rec.got(); len(got) != 1 {
		t.Fatalf("handed %v", got)
	}
	if _, err := relay.NewSendGrid(relay.SendGridOptions{Common: relay.Common{Ingester: e.g}}); err == nil {
		t.Fatal("NewSendGrid without a key or credentials: no error")
	}
}

// TestSendGridBasicAuth: without a security policy SendGrid signs
// nothing; basic credentials in the Parse URL guard the handler.
func TestSendGridBasicAuth(t *testing.T) {
	e := newEnv(t)
	h, err := relay.NewSendGrid(relay.SendGridOptions{Common: relay.Common{Ingester: e.g, MaxBodySize: 6 << 10}, Username: "sendgrid", Password: mailbox.NewSecret("parse-pass-123")})
	if err != nil {
		t.Fatal(err)
	}
	body, ctype := sendgridBody(t, rawMessage("sg2@customer.test", "sales@acme.test"), "sales@acme.test")
	if a := serve(t, h, post("/inbound/sendgrid", ctype, body)); a.code != http.StatusUnauthorized || a.hdr.Get("WWW-Authenticate") == "" {
		t.Fatalf("no credentials: %d", a.code)
	}
	req := post("/inbound/sendgrid", ctype, body)
	req.SetBasicAuth("sendgrid", "wrong")
	if a := serve(t, h, req); a.code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", a.code)
	}
	e.st.down.Store(true)
	req = post("/inbound/sendgrid", ctype, body)
	req.SetBasicAuth("sendgrid", "parse-pass-123")
	if a := serve(t, h, req); a.code != http.StatusServiceUnavailable {
		t.Fatalf("store down: %d %q", a.code, a.body)
	}
	e.st.down.Store(false)
	req = post("/inbound/sendgrid", ctype, body)
	req.SetBasicAuth("sendgrid", "parse-pass-123")
	if a := serve(t, h, req); a.code != http.StatusOK || a.outcomes() != "handled " || a.res.Results[0].MessageID != "sg2@customer.test" {
		t.Fatalf("retry: %d %q", a.code, a.body)
	}
	big, bctype := sendgridBody(t, rawMessage("sg3@customer.test", "sales@acme.test")+strings.Repeat("z", 8<<10), "sales@acme.test")
	req = post("/inbound/sendgrid", bctype, big)
	req.SetBasicAuth("sendgrid", "parse-pass-123")
	if a := serve(t, h, req); a.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversize: %d %q", a.code, a.body)
	}
}

// TestSendGridTolerance: with a Tolerance, a signed request dated outside
// it is refused although its signature is good; inside it, taken.
func TestSendGridTolerance(t *testing.T) {
	e, s := newEnv(t), newSGSigner(t)
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	h, err := relay.NewSendGrid(relay.SendGridOptions{Common: relay.Common{Ingester: e.g, Clock: fixedClock(now)}, PublicKey: s.pub, Tolerance: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	body, ctype := sendgridBody(t, rawMessage("sg4@customer.test", "support@acme.test"), "support@acme.test")
	if a := serve(t, h, s.request(t, body, ctype, now.Add(-time.Hour))); a.code != http.StatusUnauthorized || !strings.Contains(a.body, "tolerance") {
		t.Fatalf("an hour old: %d %q", a.code, a.body)
	}
	if a := serve(t, h, s.request(t, body, ctype, now.Add(-time.Minute))); a.code != http.StatusOK || a.outcomes() != "handled " {
		t.Fatalf("a minute old: %d %q", a.code, a.body)
	}
}
