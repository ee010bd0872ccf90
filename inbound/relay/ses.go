package relay

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SNS SignatureVersion 1 is SHA1withRSA, as AWS documents
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Amazon SES receiving through Amazon SNS.
//
// SES receives the mail (an MX pointing at inbound-smtp.<region>.amazonaws.com)
// and a receipt rule's SNS action publishes it to a topic; the topic's
// HTTPS subscription POSTs each notification to NewSES's handler. What
// the handler follows:
//
//   - The SNS message and its signature, "Verifying the signatures of
//     Amazon SNS messages" (https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
//     and ...-verify-message-signature.html): the string to sign is the
//     "Name\nvalue\n" lines of Message, MessageId, Subject (when present),
//     Timestamp, TopicArn and Type for a Notification, and of Message,
//     MessageId, SubscribeURL, Timestamp, Token, TopicArn and Type for a
//     (Un)SubscriptionConfirmation; SignatureVersion 1 signs its SHA1,
//     version 2 its SHA256, with RSA PKCS #1 v1.5; the certificate comes
//     from SigningCertURL, which must be https on an SNS host
//     (sns.<region>.amazonaws.com, .com.cn in China) naming a .pem file,
//     as AWS's own message validators check (aws-php-sns-message-validator,
//     aws-js-sns-message-validator: ^sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com(\.cn)?$),
//     and the TopicArn must be one we expect.
//   - A SubscriptionConfirmation is confirmed by GET SubscribeURL, only
//     for a topic in SESOptions.Topics. The subscription's raw message
//     delivery must be off: with it SNS posts the bare message, without
//     the signed envelope (x-amz-sns-rawdelivery: true), which is refused.
//   - The notification of an SNS action, "Amazon SES email receiving
//     notifications" (https://docs.aws.amazon.com/ses/latest/dg/receiving-email-notifications-contents.html
//     and ...-examples.html): notificationType "Received",
//     receipt.action.type "SNS" with encoding "UTF8" or "BASE64",
//     receipt.recipients, and content, the raw message. SES publishes
//     only messages of up to 150 KB through SNS (larger ones bounce); an
//     S3 action's notification carries no content, only the bucket and
//     key: it is refused with that said (fetching from S3 is the host's).
//   - Retries: SNS retries an HTTP/S delivery after a server-side error
//     (5xx or no answer) by the subscription's delivery policy, for at
//     most an hour, and not after a 4xx
//     (https://docs.aws.amazon.com/sns/latest/dg/sns-message-delivery-retries.html).

// DefaultSESMaxBody is SESOptions.MaxBodySize's default: an SNS message
// is at most 256 KB.
const DefaultSESMaxBody = 1 << 20

// SESOptions configure NewSES.
type SESOptions struct {
	Common
	// Topics are the ARNs of the SNS topics whose messages are taken and
	// whose subscriptions are confirmed (at least one).
	Topics []string
	// Client downloads signing certificates and confirms subscriptions
	// (default: a client with a 10 s timeout). Tests put their own
	// transport here.
	Client *http.Client
	// Roots verify the signing certificate's chain (default the system's
	// roots).
	Roots *x509.CertPool
}

// ErrSESNoContent is wrapped by the refusal of an SES notification that
// does not carry the message: a receipt rule whose action is not SNS
// (S3, Lambda, ...) or an SES event notification (bounce, complaint).
var ErrSESNoContent = errors.New("relay: the SES notification does not carry the message (use a receipt rule with an SNS action)")

type sesHandler struct {
	o      SESOptions
	topics map[string]bool
	a      answers

	mu    sync.Mutex
	certs map[string]*x509.Certificate
}

// NewSES returns the http.Handler of an SNS HTTPS subscription carrying
// Amazon SES receipt notifications (see the package documentation for
// its answers). Mount it at the URL the subscription names.
func NewSES(o SESOptions) (http.Handler, error) {
	if err := o.check(DefaultSESMaxBody); err != nil {
		return nil, err
	}
	if len(o.Topics) == 0 {
		return nil, errors.New("relay: NewSES needs the ARNs of the topics it takes (Topics)")
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	h := &sesHandler{o: o, topics: map[string]bool{}, a: answers{provider: "ses"}, certs: map[string]*x509.Certificate{}}
	for _, t := range o.Topics {
		h.topics[t] = true
	}
	return h, nil
}

// snsMessage is the JSON document SNS POSTs.
type snsMessage struct {
	Type             string
	MessageID        string `json:"MessageId"`
	Token            string
	TopicArn         string
	Subject          *string
	Message          string
	Timestamp        string
	SignatureVersion string
	Signature        string
	SigningCertURL   string
	SubscribeURL     string
	UnsubscribeURL   string
}

// stringToSign builds the string SNS signs.
func (m *snsMessage) stringToSign() (string, error) {
	var b strings.Builder
	add := func(k, v string) { b.WriteString(k + "\n" + v + "\n") }
	switch m.Type {
	case "Notification":
		add("Message", m.Message)
		add("MessageId", m.MessageID)
		if m.Subject != nil {
			add("Subject", *m.Subject)
		}
		add("Timestamp", m.Timestamp)
		add("TopicArn", m.TopicArn)
		add("Type", m.Type)
	case "SubscriptionConfirmation", "UnsubscribeConfirmation":
		add("Message", m.Message)
		add("MessageId", m.MessageID)
		add("SubscribeURL", m.SubscribeURL)
		add("Timestamp", m.Timestamp)
		add("Token", m.Token)
		add("TopicArn", m.TopicArn)
		add("Type", m.Type)
	default:
		return "", fmt.Errorf("relay: unknown SNS message type %q", m.Type)
	}
	return b.String(), nil
}

// snsHost is the host pattern of SNS's signing certificates and
// subscription URLs (AWS's message validators use the same).
var snsHost = regexp.MustCompile(`^sns\.[a-z0-9-]{3,}\.amazonaws\.com(\.cn)?$`)

// snsURL checks u is https on an SNS host.
func snsURL(u string) (*url.URL, error) {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "https" || p.User != nil || (p.Port() != "" && p.Port() != "443") || !snsHost.MatchString(strings.ToLower(p.Hostname())) {
		return nil, fmt.Errorf("relay: %q is not an https URL on an SNS host (sns.<region>.amazonaws.com)", u)
	}
	return p, nil
}

func (h *sesHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.o.Logger
	if !h.a.post(w, r, log) {
		return
	}
	if strings.EqualFold(r.Header.Get("X-Amz-Sns-Rawdelivery"), "true") {
		h.a.refuse(w, log, http.StatusBadRequest, "the SNS subscription has raw message delivery on: SNS then sends no signature; turn it off")
		return
	}
	var m snsMessage
	body := http.MaxBytesReader(w, r.Body, h.o.MaxBodySize)
	if err := json.NewDecoder(body).Decode(&m); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.a.readErr(w, log, err)
			return
		}
		h.a.refuse(w, log, http.StatusBadRequest, "not an SNS message")
		return
	}
	if err := h.verify(r.Context(), &m); err != nil {
		var tmp *tempError
		if errors.As(err, &tmp) {
			h.a.retry(w, log, "could not check the signature, retry later", err)
			return
		}
		log.Warn("relay: SNS signature refused", "err", err, "topic", m.TopicArn)
		http.Error(w, "signature refused", http.StatusForbidden)
		return
	}
	if !h.topics[m.TopicArn] {
		h.a.refuse(w, log, http.StatusForbidden, "topic not accepted")
		return
	}
	switch m.Type {
	case "SubscriptionConfirmation":
		if _, err := snsURL(m.SubscribeURL); err != nil {
			h.a.refuse(w, log, http.StatusBadRequest, err.Error())
			return
		}
		if err := h.confirm(r.Context(), m.SubscribeURL); err != nil {
			h.a.retry(w, log, "could not confirm the subscription", err)
			return
		}
		log.Info("relay: SNS subscription confirmed", "topic", m.TopicArn)
		w.WriteHeader(http.StatusOK)
	case "UnsubscribeConfirmation":
		log.Warn("relay: SNS subscription removed", "topic", m.TopicArn)
		w.WriteHeader(http.StatusOK)
	case "Notification":
		h.notification(w, r, &m)
	}
}

// sesNotification is the SES receipt notification in an SNS Message.
type sesNotification struct {
	NotificationType string `json:"notificationType"`
	Receipt          struct {
		Recipients []string `json:"recipients"`
		Action     struct {
			Type       string `json:"type"`
			Encoding   string `json:"encoding"`
			BucketName string `json:"bucketName"`
			ObjectKey  string `json:"objectKey"`
		} `json:"action"`
	} `json:"receipt"`
	Content *string `json:"content"`
}

func (h *sesHandler) notification(w http.ResponseWriter, r *http.Request, m *snsMessage) {
	log := h.o.Logger
	var n sesNotification
	if err := json.Unmarshal([]byte(m.Message), &n); err != nil || n.NotificationType == "" {
		h.a.refuse(w, log, http.StatusBadRequest, "the SNS message is not an SES notification")
		return
	}
	act := n.Receipt.Action
	if n.NotificationType != "Received" || act.Type != "SNS" || n.Content == nil {
		msg := fmt.Sprintf("%v: notificationType %q, action %q", ErrSESNoContent, n.NotificationType, act.Type)
		if act.Type == "S3" {
			msg += fmt.Sprintf(" (the message is in s3://%s/%s)", act.BucketName, act.ObjectKey)
		}
		h.a.refuse(w, log, http.StatusBadRequest, msg)
		return
	}
	var raw io.Reader = strings.NewReader(*n.Content)
	switch strings.ToUpper(strings.ReplaceAll(act.Encoding, "-", "")) {
	case "BASE64":
		raw = base64.NewDecoder(base64.StdEncoding, raw)
	case "", "UTF8":
	default:
		h.a.refuse(w, log, http.StatusBadRequest, fmt.Sprintf("unknown SES content encoding %q", act.Encoding))
		return
	}
	sp, err := h.o.spool(raw)
	if err != nil {
		h.a.refuse(w, log, http.StatusBadRequest, "the content is not valid base64")
		return
	}
	defer sp.Close()
	if sp.Size() == 0 {
		h.a.refuse(w, log, http.StatusBadRequest, "empty message")
		return
	}
	h.o.deliver(w, r, h.a, n.Receipt.Recipients, sp)
}

// tempError marks a failure worth a retry (the certificate could not be
// downloaded).
type tempError struct{ err error }

func (e *tempError) Error() string { return e.err.Error() }
func (e *tempError) Unwrap() error { return e.err }

func (h *sesHandler) verify(ctx context.Context, m *snsMessage) error {
	var hash crypto.Hash
	switch m.SignatureVersion {
	case "1":
		hash = crypto.SHA1
	case "2":
		hash = crypto.SHA256
	default:
		return fmt.Errorf("relay: unknown SNS SignatureVersion %q", m.SignatureVersion)
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil || len(sig) == 0 {
		return errors.New("relay: the SNS Signature is not base64")
	}
	s, err := m.stringToSign()
	if err != nil {
		return err
	}
	cu, err := snsURL(m.SigningCertURL)
	if err != nil {
		return err
	}
	if !strings.HasSuffix(cu.Path, ".pem") {
		return fmt.Errorf("relay: SigningCertURL %q does not name a .pem certificate", m.SigningCertURL)
	}
	cert, err := h.cert(ctx, m.SigningCertURL)
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("relay: the SNS signing certificate has no RSA key")
	}
	var digest []byte
	if hash == crypto.SHA1 {
		d := sha1.Sum([]byte(s)) //nolint:gosec // as documented for SignatureVersion 1
		digest = d[:]
	} else {
		d := sha256.Sum256([]byte(s))
		digest = d[:]
	}
	if err := rsa.VerifyPKCS1v15(pub, hash, digest, sig); err != nil {
		return errors.New("relay: the SNS signature does not match")
	}
	return nil
}

// cert downloads (once) and checks the signing certificate at u.
func (h *sesHandler) cert(ctx context.Context, u string) (*x509.Certificate, error) {
	h.mu.Lock()
	c := h.certs[u]
	h.mu.Unlock()
	if c != nil {
		return c, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.o.Client.Do(req)
	if err != nil {
		return nil, &tempError{fmt.Errorf("relay: downloading the SNS signing certificate: %w", err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &tempError{fmt.Errorf("relay: downloading the SNS signing certificate: %s", resp.Status)}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, &tempError{err}
	}
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("relay: the SNS signing certificate is not PEM")
	}
	c, err = x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("relay: the SNS signing certificate: %w", err)
	}
	inter := x509.NewCertPool()
	for {
		var more *pem.Block
		if more, rest = pem.Decode(rest); more == nil {
			break
		}
		if ic, err := x509.ParseCertificate(more.Bytes); err == nil {
			inter.AddCert(ic)
		}
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: h.o.Roots, Intermediates: inter, CurrentTime: h.o.Clock.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("relay: the SNS signing certificate is not trusted: %w", err)
	}
	h.mu.Lock()
	if len(h.certs) >= 64 { // SNS rotates certificates rarely: keep a few
		clear(h.certs)
	}
	h.certs[u] = c
	h.mu.Unlock()
	return c, nil
}

// confirm visits SubscribeURL (an SNS host, https).
func (h *sesHandler) confirm(ctx context.Context, u string) error {
	if _, err := snsURL(u); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := h.o.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("relay: confirming the SNS subscription: %s", resp.Status)
	}
	return nil
}
