package relay_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/inbound/relay"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
)

const mailgunKey = "key-test-signing-0123456789abcdef"

// mailgunForm is a forward() POST to a URL ending in "mime", with the
// fields "Receiving Messages via HTTP through a forward() action"
// documents, signed as "Securing Webhooks" says.
func mailgunForm(now time.Time, token, rcpt, raw string) url.Values {
	ts := strconv.FormatInt(now.Unix(), 10)
	return url.Values{
		"recipient": {rcpt}, "sender": {"ana@customer.test"}, "from": {"Ana <ana@customer.test>"}, "subject": {"help"},
		"body-mime": {raw}, "timestamp": {ts}, "token": {token},
		"signature": {relay.MailgunSignature([]byte(mailgunKey), ts, token)},
	}
}

func urlencoded(v url.Values) *http.Request {
	return post("/inbound/mailgun/mime", "application/x-www-form-urlencoded", []byte(v.Encode()))
}

func multipartReq(t *testing.T, v url.Values, order []string) *http.Request {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, k := range order {
		if err := mw.WriteField(k, v.Get(k)); err != nil {
			t.Fatal(err)
		}
	}
	_ = mw.Close()
	return post("/inbound/mailgun/mime", mw.FormDataContentType(), b.Bytes())
}

func newMailgun(t *testing.T, e *env, clk clock.Clock, o relay.MailgunOptions) http.Handler {
	t.Helper()
	o.Ingester, o.Clock, o.SigningKey = e.g, clk, mailbox.NewSecret(mailgunKey)
	h, err := relay.NewMailgun(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestMailgun: a raw-MIME forward, urlencoded and multipart (body-mime
// before or after the signature fields), is handed once; a replayed token
// is answered without a second hand-off; a stale timestamp, a bad
// signature and a missing body are refused with the codes Mailgun reads
// (401 retried, 406 not).
func TestMailgun(t *testing.T) {
	e := newEnv(t)
	clk := clock.NewFake(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	h := newMailgun(t, e, clk, relay.MailgunOptions{})

	v := mailgunForm(clk.Now(), "tok-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1", "support@acme.test", rawMessage("m1@customer.test", "support@acme.test"))
	if a := serve(t, h, urlencoded(v)); a.code != http.StatusOK || a.outcomes() != "handled " {
		t.Fatalf("urlencoded: %d %q", a.code, a.body)
	}
	if a := serve(t, h, urlencoded(v)); a.code != http.StatusOK || len(a.res.Results) != 0 || !strings.Contains(a.body, "replay") {
		t.Fatalf("replayed token: %d %q", a.code, a.body)
	}
	v2 := mailgunForm(clk.Now(), "tok-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2", "sales+42@acme.test", rawMessage("m2@customer.test", "sales+42@acme.test"))
	if a := serve(t, h, multipartReq(t, v2, []string{"body-mime", "recipient", "sender", "timestamp", "token", "signature"})); a.code != http.StatusOK || a.outcomes() != "handled " {
		t.Fatalf("multipart, body first: %d %q", a.code, a.body)
	}
	// The same message under a new token (a replay re-signed, or Mailgun
	// posting it twice): a duplicate by key.
	v3 := mailgunForm(clk.Now(), "tok-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3", "sales@acme.test", v2.Get("body-mime"))
	if a := serve(t, h, multipartReq(t, v3, []string{"timestamp", "token", "signature", "recipient", "body-mime"})); a.code != http.StatusOK || a.outcomes() != "duplicate " {
		t.Fatalf("same message, new token: %d %q", a.code, a.body)
	}

	for _, c := range []struct {
		name string
		mut  func(url.Values)
		code int
	}{
		{"bad signature", func(v url.Values) { v.Set("signature", strings.Repeat("0", 64)) }, http.StatusUnauthorized},
		{"signature of another key", func(v url.Values) {
			v.Set("signature", relay.MailgunSignature([]byte("other-key"), v.Get("timestamp"), v.Get("token")))
		}, http.StatusUnauthorized},
		{"token changed after signing", func(v url.Values) { v.Set("token", "tok-other") }, http.StatusUnauthorized},
		{"stale", func(v url.Values) {
			ts := strconv.FormatInt(clk.Now().Add(-time.Hour).Unix(), 10)
			v.Set("timestamp", ts)
			v.Set("signature", relay.MailgunSignature([]byte(mailgunKey), ts, v.Get("token")))
		}, http.StatusUnauthorized},
		{"no body-mime (parsed endpoint)", func(v url.Values) { v.Del("body-mime"); v.Set("body-plain", "hi") }, http.StatusNotAcceptable},
		{"no such recipient", func(v url.Values) { v.Set("recipient", "nobody@acme.test") }, http.StatusNotAcceptable},
	} {
		v := mailgunForm(clk.Now(), "tok-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"+c.name, "support@acme.test", rawMessage("bad-"+strings.ReplaceAll(c.name, " ", "")+"@customer.test", "support@acme.test"))
		c.mut(v)
		if a := serve(t, h, urlencoded(v)); a.code != c.code {
			t.Errorf("%s: %d %q, want %d", c.name, a.code, a.body, c.code)
		}
	}
	if got := e.rec.got(); len(got) != 2 || got[0] != "m1@customer.test" || got[1] != "m2@customer.test" {
		t.Fatalf("handed %v", got)
	}
}

// TestMailgunTemporaryFailure: 503 while the store is down (Mailgun
// retries); the token of a message not taken is not remembered, so the
// retry with the same token is taken.
func TestMailgunTemporaryFailure(t *testing.T) {
	e := newEnv(t)
	clk := clock.NewFake(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	h := newMailgun(t, e, clk, relay.MailgunOptions{})
	v := mailgunForm(clk.Now(), "tok-cccccccccccccccccccccccccccccccccccccccccccccccccc", "support@acme.test", rawMessage("t1@customer.test", "support@acme.test"))
	e.st.down.Store(true)
	if a := serve(t, h, urlencoded(v)); a.code != http.StatusServiceUnavailable || a.hdr.Get("Retry-After") == "" {
		t.Fatalf("store down: %d %q", a.code, a.body)
	}
	e.st.down.Store(false)
	clk.Advance(time.Minute)
	if a := serve(t, h, urlencoded(v)); a.code != http.StatusOK || a.outcomes() != "handled " {
		t.Fatalf("retry: %d %q", a.code, a.body)
	}
}

// TestMailgunLimits: a body over MaxBodySize is refused with 406 (Mailgun
// does not retry it); a message over the mailbox's limit is quarantined.
func TestMailgunLimits(t *testing.T) {
	e := newEnv(t)
	clk := clock.NewFake(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	big := rawMessage("big@customer.test", "support@acme.test") + strings.Repeat("y", 8<<10)
	v := mailgunForm(clk.Now(), "tok-dddddddddddddddddddddddddddddddddddddddddddddddddd", "support@acme.test", big)
	if a := serve(t, newMailgun(t, e, clk, relay.MailgunOptions{Common: relay.Common{MaxBodySize: 4 << 10}}), multipartReq(t, v, []string{"timestamp", "token", "signature", "recipient", "body-mime"})); a.code != http.StatusNotAcceptable {
		t.Fatalf("over MaxBodySize: %d %q", a.code, a.body)
	}
	if a := serve(t, newMailgun(t, e, clk, relay.MailgunOptions{}), urlencoded(v)); a.code != http.StatusOK || a.outcomes() != "quarantined " {
		t.Fatalf("over MaxMessageSize: %d %q", a.code, a.body)
	}
}

// TestMailgunStored: a store(notify=) notification's message-url is
// fetched with the API key (basic auth "api", Accept: message/rfc2822) and
// its body-mime handed; without an API key it is refused, saying so.
func TestMailgunStored(t *testing.T) {
	e := newEnv(t)
	clk := clock.NewFake(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	raw := rawMessage("s1@customer.test", "support@acme.test")
	var gets int
	mux := http.NewServeMux()
	mux.HandleFunc("/v3/domains/acme.test/messages/stored-key-1", func(w http.ResponseWriter, r *http.Request) {
		gets++
		if u, p, ok := r.BasicAuth(); !ok || u != "api" || p != "api-key-123" || r.Header.Get("Accept") != "message/rfc2822" {
			http.Error(w, "forbidden", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"recipients": "support@acme.test", "body-mime": raw})
	})
	ca, err := mailtest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	tcfg, err := ca.ServerConfig("storage-us-east4.api.mailgun.net")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = tcfg
	srv.StartTLS()
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", srv.Listener.Addr().String())
		},
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	notify := func(token string) url.Values {
		v := mailgunForm(clk.Now(), token, "support@acme.test", "")
		v.Del("body-mime")
		v.Set("message-url", "https://storage-us-east4.api.mailgun.net/v3/domains/acme.test/messages/stored-key-1")
		return v
	}
	noKey := newMailgun(t, e, clk, relay.MailgunOptions{Client: client})
	if a := serve(t, noKey, urlencoded(notify("tok-eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee1"))); a.code != http.StatusNotAcceptable || !strings.Contains(a.body, "APIKey") || gets != 0 {
		t.Fatalf("no API key: %d %q, %d GETs", a.code, a.body, gets)
	}
	h := newMailgun(t, e, clk, relay.MailgunOptions{Client: client, APIKey: mailbox.NewSecret("api-key-123")})
	if a := serve(t, h, urlencoded(notify("tok-eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee2"))); a.code != http.StatusOK || a.outcomes() != "handled " || gets != 1 {
		t.Fatalf("stored: %d %q, %d GETs", a.code, a.body, gets)
	}
	off := notify("tok-eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee3")
	off.Set("message-url", "https://attacker.test/v3/domains/acme.test/messages/stored-key-1")
	if a := serve(t, h, urlencoded(off)); a.code != http.StatusNotAcceptable || gets != 1 {
		t.Fatalf("message-url off mailgun.net: %d %q, %d GETs", a.code, a.body, gets)
	}
	if got := fmt.Sprint(e.rec.got()); got != "[s1@customer.test]" {
		t.Fatalf("handed %s", got)
	}
}

// TestMailgunSignatureVector: the signature of a known request, the one
// in Rails Action Mailbox's Mailgun ingress test
// (actionmailbox/test/controllers/ingresses/mailgun/inbound_emails_controller_test.rb):
// an answer computed elsewhere, not by the code under test.
func TestMailgunSignatureVector(t *testing.T) {
	got := relay.MailgunSignature([]byte("tbsy84uSV1Kt3ZJZELY2TmShPRs91E3yL4tzf96297vBCkDWgL"), "1539112500", "7VwW7k6Ak7zcTwoSoNm7aTtbk1g67MKAnsYLfUB7PdszbgR5Xi")
	if want := "ef24c5225322217bb065b80bb54eb4f9206d764e3e16abab07f0a64d1cf477cc"; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}
