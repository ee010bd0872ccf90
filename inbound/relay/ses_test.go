package relay_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SNS SignatureVersion 1
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/correio-dev/correio/inbound/relay"
	"github.com/correio-dev/correio/mailtest"
)

const (
	topic     = "arn:aws:sns:us-east-1:123456789012:inbound-mail"
	certURL   = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem"
	snsOrigin = "sns.us-east-1.amazonaws.com"
)

// snsFake is AWS as the handler sees it: an SNS host serving the signing
// certificate (RSA, issued by a test CA the handler trusts) and the
// SubscribeURL, reached over verified HTTPS through a client whose dialer
// leads every host to the local server.
type snsFake struct {
	key       *rsa.PrivateKey
	roots     *x509.CertPool
	client    *http.Client
	certGets  atomic.Int32
	confirmed atomic.Int32
}

var (
	snsOnce sync.Once
	snsCA   *x509.Certificate
	snsCAK  *rsa.PrivateKey
	snsLeaf []byte
	snsKey  *rsa.PrivateKey
	snsErr  error
)

func snsKeys() error {
	snsOnce.Do(func() {
		if snsCAK, snsErr = rsa.GenerateKey(rand.Reader, 2048); snsErr != nil {
			return
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Root CA"}, NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &snsCAK.PublicKey, snsCAK)
		if err != nil {
			snsErr = err
			return
		}
		if snsCA, snsErr = x509.ParseCertificate(der); snsErr != nil {
			return
		}
		if snsKey, snsErr = rsa.GenerateKey(rand.Reader, 2048); snsErr != nil {
			return
		}
		leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "sns.amazonaws.com"}, DNSNames: []string{"sns.amazonaws.com"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
		snsLeaf, snsErr = x509.CreateCertificate(rand.Reader, leaf, snsCA, &snsKey.PublicKey, snsCAK)
	})
	return snsErr
}

func newSNSFake(t *testing.T) *snsFake {
	t.Helper()
	if err := snsKeys(); err != nil {
		t.Fatal(err)
	}
	f := &snsFake{key: snsKey, roots: x509.NewCertPool()}
	f.roots.AddCert(snsCA)
	mux := http.NewServeMux()
	mux.HandleFunc("/SimpleNotificationService-0000000000000000000000.pem", func(w http.ResponseWriter, r *http.Request) {
		f.certGets.Add(1)
		_ = pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: snsLeaf})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("Action") == "ConfirmSubscription" && r.URL.Query().Get("Token") == "tok-123" {
			f.confirmed.Add(1)
			_, _ = w.Write([]byte("<ConfirmSubscriptionResponse/>"))
			return
		}
		http.NotFound(w, r)
	})
	ca, err := mailtest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	tcfg, err := ca.ServerConfig(snsOrigin)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = tcfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	f.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool()},
	}}
	return f
}

// sign fills SignatureVersion, Signature and SigningCertURL of m as SNS
// does: the "Name\nvalue\n" lines of the documented fields, SHA1 (1) or
// SHA256 (2), RSA PKCS #1 v1.5.
func (f *snsFake) sign(t *testing.T, m map[string]string, version string) {
	t.Helper()
	fields := []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	if m["Type"] != "Notification" {
		fields = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	var b strings.Builder
	for _, k := range fields {
		if v, ok := m[k]; ok {
			b.WriteString(k + "\n" + v + "\n")
		}
	}
	var sig []byte
	var err error
	if version == "1" {
		d := sha1.Sum([]byte(b.String())) //nolint:gosec // SignatureVersion 1
		sig, err = rsa.SignPKCS1v15(rand.Reader, f.key, crypto.SHA1, d[:])
	} else {
		d := sha256.Sum256([]byte(b.String()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, f.key, crypto.SHA256, d[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	m["SignatureVersion"], m["Signature"] = version, base64.StdEncoding.EncodeToString(sig)
	if _, ok := m["SigningCertURL"]; !ok {
		m["SigningCertURL"] = certURL
	}
}

// sesNotification is an SNS Notification carrying an SES receipt
// notification of an SNS action, shaped as in the SES developer guide's
// example ("Notification of an SNS action").
func sesNotification(id, raw, encoding string, rcpts ...string) map[string]string {
	content := raw
	if encoding == "BASE64" {
		content = base64.StdEncoding.EncodeToString([]byte(raw))
	}
	ses := map[string]any{
		"notificationType": "Received",
		"receipt": map[string]any{
			"timestamp": "2026-03-02T10:00:01.000Z", "processingTimeMillis": 222, "recipients": rcpts,
			"spamVerdict": map[string]string{"status": "PASS"}, "virusVerdict": map[string]string{"status": "PASS"},
			"spfVerdict": map[string]string{"status": "PASS"}, "dkimVerdict": map[string]string{"status": "PASS"},
			"action": map[string]string{"type": "SNS", "topicArn": topic, "encoding": encoding},
		},
		"mail": map[string]any{"timestamp": "2026-03-02T10:00:01.000Z", "source": "ana@customer.test", "messageId": "ses-" + id,
			"destination": rcpts, "headersTruncated": false},
		"content": content,
	}
	b, _ := json.Marshal(ses)
	return map[string]string{
		"Type": "Notification", "MessageId": "sns-" + id, "TopicArn": topic, "Subject": "Amazon SES Email Receipt Notification",
		"Message": string(b), "Timestamp": "2026-03-02T10:00:01.500Z",
		"UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=" + topic + ":sub",
	}
}

func snsRequest(m map[string]string) *http.Request {
	b, _ := json.Marshal(m)
	req := post("/inbound/ses", "text/plain; charset=UTF-8", b)
	req.Header.Set("X-Amz-Sns-Message-Type", m["Type"])
	req.Header.Set("X-Amz-Sns-Topic-Arn", m["TopicArn"])
	return req
}

func newSES(t *testing.T, e *env, f *snsFake, max int64) http.Handler {
	t.Helper()
	h, err := relay.NewSES(relay.SESOptions{Common: relay.Common{Ingester: e.g, MaxBodySize: max}, Topics: []string{topic}, Client: f.client, Roots: f.roots})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestSESNotification: SES receipt notifications through SNS, signed
// with SignatureVersion 1 and 2, with the content in UTF-8 and base64,
// are handed once each; a replay is a duplicate; the certificate is
// downloaded once.
func TestSESNotification(t *testing.T) {
	e, f := newEnv(t), newSNSFake(t)
	h := newSES(t, e, f, 0)
	for i, c := range []struct{ version, encoding string }{{"1", "UTF8"}, {"2", "BASE64"}, {"2", "UTF8"}} {
		id := []string{"a@customer.test", "b@customer.test", "c@customer.test"}[i]
		m := sesNotification(id, rawMessage(id, "support@acme.test"), c.encoding, "support@acme.test")
		f.sign(t, m, c.version)
		a := serve(t, h, snsRequest(m))
		if a.code != http.StatusOK || a.outcomes() != "handled " || a.res.Results[0].MessageID != id {
			t.Fatalf("v%s %s: %d %q", c.version, c.encoding, a.code, a.body)
		}
		if a = serve(t, h, snsRequest(m)); a.code != http.StatusOK || a.outcomes() != "duplicate " {
			t.Fatalf("replay: %d %q", a.code, a.body)
		}
	}
	if got := e.rec.got(); len(got) != 3 || got[0] != "a@customer.test" || got[2] != "c@customer.test" {
		t.Fatalf("handed %v", got)
	}
	if n := f.certGets.Load(); n != 1 {
		t.Fatalf("certificate downloaded %d times, want once", n)
	}
}

// TestSESRefusals: what is not SNS's, or not for us, is refused and
// nothing is handed.
func TestSESRefusals(t *testing.T) {
	e, f := newEnv(t), newSNSFake(t)
	h := newSES(t, e, f, 0)
	signed := func(mut func(map[string]string)) map[string]string {
		m := sesNotification("x@customer.test", rawMessage("x@customer.test", "support@acme.test"), "UTF8", "support@acme.test")
		if mut != nil {
			mut(m)
		}
		f.sign(t, m, "2")
		return m
	}
	for _, c := range []struct {
		name string
		m    map[string]string
		code int
		want string
	}{
		{"tampered message", func() map[string]string {
			m := signed(nil)
			m["Message"] = strings.Replace(m["Message"], "printer", "router", 1)
			return m
		}(), http.StatusForbidden, "signature"},
		{"subject removed", func() map[string]string { m := signed(nil); delete(m, "Subject"); return m }(), http.StatusForbidden, "signature"},
		{"certificate elsewhere", signed(func(m map[string]string) {
			m["SigningCertURL"] = "https://sns.us-east-1.amazonaws.com.evil.test/cert.pem"
		}), http.StatusForbidden, "signature"},
		{"certificate over http", signed(func(m map[string]string) { m["SigningCertURL"] = strings.Replace(certURL, "https", "http", 1) }), http.StatusForbidden, "signature"},
		{"certificate not a .pem", signed(func(m map[string]string) { m["SigningCertURL"] = "https://sns.us-east-1.amazonaws.com/?Action=Cert" }), http.StatusForbidden, "signature"},
		{"unknown version", func() map[string]string { m := signed(nil); m["SignatureVersion"] = "3"; return m }(), http.StatusForbidden, "signature"},
		{"other topic", signed(func(m map[string]string) { m["TopicArn"] = "arn:aws:sns:us-east-1:999999999999:other" }), http.StatusForbidden, "topic"},
	} {
		a := serve(t, h, snsRequest(c.m))
		if a.code != c.code || !strings.Contains(a.body, c.want) {
			t.Errorf("%s: %d %q, want %d %q", c.name, a.code, a.body, c.code, c.want)
		}
	}
	m := sesNotification("n@customer.test", rawMessage("n@customer.test", "nobody@acme.test"), "UTF8", "nobody@acme.test")
	f.sign(t, m, "2")
	if a := serve(t, h, snsRequest(m)); a.code != http.StatusNotFound {
		t.Errorf("unknown recipient: %d %q", a.code, a.body)
	}
	raw := post("/inbound/ses", "text/plain", []byte(`{"notificationType":"Received"}`))
	raw.Header.Set("X-Amz-Sns-Rawdelivery", "true")
	if a := serve(t, h, raw); a.code != http.StatusBadRequest || !strings.Contains(a.body, "raw message delivery") {
		t.Errorf("raw message delivery: %d %q", a.code, a.body)
	}
	if a := serve(t, h, post("/inbound/ses", "text/plain", []byte("{not json"))); a.code != http.StatusBadRequest {
		t.Errorf("not JSON: %d", a.code)
	}
	if got := e.rec.got(); len(got) != 0 {
		t.Fatalf("handed %v", got)
	}
	if n := f.certGets.Load(); n != 1 {
		t.Fatalf("certificate downloaded %d times, want once (never from elsewhere)", n)
	}
}

// TestSESS3Action: the notification of an S3 action carries no content;
// it is refused with the bucket and key named.
func TestSESS3Action(t *testing.T) {
	e, f := newEnv(t), newSNSFake(t)
	h := newSES(t, e, f, 0)
	ses := `{"notificationType":"Received","receipt":{"recipients":["support@acme.test"],"action":{"type":"S3","topicArn":"` + topic +
		`","bucketName":"inbound-bucket","objectKey":"mail/abc123"}},"mail":{"messageId":"abc123"}}`
	m := map[string]string{"Type": "Notification", "MessageId": "sns-s3", "TopicArn": topic, "Message": ses, "Timestamp": "2026-03-02T10:00:01.500Z"}
	f.sign(t, m, "2")
	a := serve(t, h, snsRequest(m))
	if a.code != http.StatusBadRequest || !strings.Contains(a.body, "s3://inbound-bucket/mail/abc123") || !strings.Contains(a.body, "SNS action") {
		t.Fatalf("S3 action: %d %q", a.code, a.body)
	}
}

// TestSESSubscription: a SubscriptionConfirmation of an accepted topic is
// confirmed by a GET of its SubscribeURL; another topic's is not.
func TestSESSubscription(t *testing.T) {
	e, f := newEnv(t), newSNSFake(t)
	h := newSES(t, e, f, 0)
	conf := func(arn string) map[string]string {
		m := map[string]string{"Type": "SubscriptionConfirmation", "MessageId": "conf-1", "Token": "tok-123", "TopicArn": arn,
			"Message":      "You have chosen to subscribe to the topic " + arn + ".\nTo confirm the subscription, visit the SubscribeURL included in this message.",
			"SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + arn + "&Token=tok-123",
			"Timestamp":    "2026-03-02T09:59:00.000Z"}
		f.sign(t, m, "1")
		return m
	}
	if a := serve(t, h, snsRequest(conf("arn:aws:sns:us-east-1:999999999999:other"))); a.code != http.StatusForbidden || f.confirmed.Load() != 0 {
		t.Fatalf("other topic: %d, confirmed %d", a.code, f.confirmed.Load())
	}
	if a := serve(t, h, snsRequest(conf(topic))); a.code != http.StatusOK || f.confirmed.Load() != 1 {
		t.Fatalf("accepted topic: %d %q, confirmed %d", a.code, a.body, f.confirmed.Load())
	}
	bad := conf(topic)
	bad["SubscribeURL"] = "https://attacker.test/?Token=tok-123"
	f.sign(t, bad, "2")
	if a := serve(t, h, snsRequest(bad)); a.code != http.StatusBadRequest || f.confirmed.Load() != 1 {
		t.Fatalf("SubscribeURL off SNS: %d, confirmed %d", a.code, f.confirmed.Load())
	}
}

// TestSESTemporaryFailure: while the store is down the notification is
// answered 503 with Retry-After (SNS retries 5xx); the retry, once the
// store is back, hands it once.
func TestSESTemporaryFailure(t *testing.T) {
	e, f := newEnv(t), newSNSFake(t)
	h := newSES(t, e, f, 0)
	m := sesNotification("t@customer.test", rawMessage("t@customer.test", "support@acme.test"), "UTF8", "support@acme.test")
	f.sign(t, m, "2")
	e.st.down.Store(true)
	if a := serve(t, h, snsRequest(m)); a.code != http.StatusServiceUnavailable || a.hdr.Get("Retry-After") == "" {
		t.Fatalf("store down: %d %q", a.code, a.body)
	}
	e.st.down.Store(false)
	if a := serve(t, h, snsRequest(m)); a.code != http.StatusOK || a.outcomes() != "handled " {
		t.Fatalf("retry: %d %q", a.code, a.body)
	}
	// The Handler saw it twice (the first commit failed after it), the
	// store took it once: Delivery.Key lets the host tell.
	if got := e.rec.got(); len(got) != 2 || got[0] != got[1] {
		t.Fatalf("handed %v", got)
	}
}

// TestSESLimits: a body over MaxBodySize is refused (413); a message over
// the mailbox's MaxMessageSize is quarantined (200, durable).
func TestSESLimits(t *testing.T) {
	e, f := newEnv(t), newSNSFake(t)
	big := rawMessage("big@customer.test", "support@acme.test") + strings.Repeat("x", 8<<10)
	m := sesNotification("big@customer.test", big, "UTF8", "support@acme.test")
	f.sign(t, m, "2")
	if a := serve(t, newSES(t, e, f, 4<<10), snsRequest(m)); a.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("over MaxBodySize: %d %q", a.code, a.body)
	}
	if a := serve(t, newSES(t, e, f, 0), snsRequest(m)); a.code != http.StatusOK || a.outcomes() != "quarantined " {
		t.Fatalf("over MaxMessageSize: %d %q", a.code, a.body)
	}
	if got := e.rec.got(); len(got) != 0 {
		t.Fatalf("handed %v", got)
	}
}
