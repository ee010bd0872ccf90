package relay

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// SendGrid Inbound Parse, raw mode.
//
// SendGrid receives the mail (an MX record pointing at mx.sendgrid.net)
// and POSTs each message as multipart/form-data to the Inbound Parse URL;
// with "POST the raw, full MIME message" checked (send_raw) the form's
// email field is the raw message and envelope is the JSON SMTP envelope
// ({"to": [...], "from": "..."}). What NewSendGrid follows:
//
//   - "Inbound Email Parse Webhook" (https://www.twilio.com/docs/sendgrid/for-developers/parsing-email/inbound-email):
//     the raw mode's fields; a 2xx answer is taken; SendGrid retries a
//     5xx for up to 3 days and then drops the message.
//   - "Securing your Inbound Parse Webhooks" (https://www.twilio.com/docs/sendgrid/for-developers/parsing-email/securing-your-parse-webhooks):
//     a security policy attached to the Parse setting signs each request
//     with ECDSA (P-256, SHA-256) over the timestamp followed by the raw
//     body, in the X-Twilio-Email-Event-Webhook-Signature (base64 DER)
//     and X-Twilio-Email-Event-Webhook-Timestamp headers, the scheme of
//     SendGrid's signed Event Webhook; the policy's public_key (base64
//     DER) verifies it. Without a policy SendGrid signs nothing: then
//     protect the URL with HTTP basic credentials in it
//     (https://user:pass@host/path) and keep it secret. SendGrid
//     publishes no fixed list of source addresses for Inbound Parse, so
//     a source check is no substitute.

// Headers of a signed Inbound Parse request.
const (
	HeaderSendGridSignature = "X-Twilio-Email-Event-Webhook-Signature"
	HeaderSendGridTimestamp = "X-Twilio-Email-Event-Webhook-Timestamp"
)

// DefaultSendGridMaxBody is SendGridOptions.MaxBodySize's default: SendGrid
// takes messages of up to 30 MB, base64 in the form grows them a third.
const DefaultSendGridMaxBody = 64 << 20

// SendGridOptions configure NewSendGrid; set PublicKey, basic auth, or
// both.
type SendGridOptions struct {
	Common
	// PublicKey is the security policy's public_key (base64 DER, as
	// SendGrid returns it): every request must carry a valid signature.
	PublicKey string
	// Username and Password, when set, are the HTTP basic credentials the
	// Parse URL carries.
	Username string
	Password mailbox.Secret
	// Tolerance, when positive, refuses a signed request whose timestamp
	// is further from now. SendGrid documents no window, nor whether a
	// retry is signed anew; replays are duplicates by key, so the default
	// (0) does not check it.
	Tolerance time.Duration
}

type sendgridHandler struct {
	o   SendGridOptions
	key *ecdsa.PublicKey
	a   answers
}

// NewSendGrid returns the http.Handler of a SendGrid Inbound Parse URL in
// raw mode. It answers 200 once the message is taken, 401 for a missing
// or bad signature or credentials, 400/404/413 for what no retry can
// fix, 503 when it could not take the message (SendGrid retries).
func NewSendGrid(o SendGridOptions) (http.Handler, error) {
	if err := o.check(DefaultSendGridMaxBody); err != nil {
		return nil, err
	}
	h := &sendgridHandler{o: o, a: answers{provider: "sendgrid"}}
	if o.PublicKey != "" {
		der, err := base64.StdEncoding.DecodeString(o.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("relay: the SendGrid public key is not base64: %w", err)
		}
		k, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			return nil, fmt.Errorf("relay: the SendGrid public key: %w", err)
		}
		ek, ok := k.(*ecdsa.PublicKey)
		if !ok {
			return nil, errors.New("relay: the SendGrid public key is not an ECDSA key")
		}
		h.key = ek
	}
	if h.key == nil && (o.Username == "" || o.Password.IsZero()) {
		return nil, errors.New("relay: NewSendGrid needs the security policy's PublicKey or basic credentials (SendGrid signs Inbound Parse only with a policy)")
	}
	return h, nil
}

func (h *sendgridHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.o.Logger
	if !h.a.post(w, r, log) {
		return
	}
	if h.o.Username != "" && !basicAuth(r, h.o.Username, h.o.Password) {
		w.Header().Set("WWW-Authenticate", `Basic realm="inbound"`)
		h.a.refuse(w, log, http.StatusUnauthorized, "credentials required")
		return
	}
	var sig []byte
	ts := r.Header.Get(HeaderSendGridTimestamp)
	if h.key != nil {
		var err error
		sig, err = base64.StdEncoding.DecodeString(r.Header.Get(HeaderSendGridSignature))
		n, terr := strconv.ParseInt(ts, 10, 64)
		if err != nil || len(sig) == 0 || terr != nil {
			h.a.refuse(w, log, http.StatusUnauthorized, "missing or malformed signature headers")
			return
		}
		if t := h.o.Tolerance; t > 0 {
			if d := h.o.Clock.Now().Sub(time.Unix(n, 0)); d > t || d < -t {
				h.a.refuse(w, log, http.StatusUnauthorized, "timestamp outside the tolerance")
				return
			}
		}
	}
	// The whole body first: the signature covers it as sent.
	digest := sha256.New()
	digest.Write([]byte(ts))
	body, err := h.o.spool(io.TeeReader(http.MaxBytesReader(w, r.Body, h.o.MaxBodySize), digest))
	if err != nil {
		h.a.readErr(w, log, err)
		return
	}
	defer body.Close()
	if h.key != nil && !ecdsa.VerifyASN1(h.key, digest.Sum(nil), sig) {
		h.a.refuse(w, log, http.StatusUnauthorized, "bad signature")
		return
	}
	raw, env, err := h.form(r, body)
	if raw != nil {
		defer raw.Close()
	}
	if err != nil {
		h.a.refuse(w, log, http.StatusBadRequest, err.Error())
		return
	}
	if raw.Size() == 0 {
		h.a.refuse(w, log, http.StatusBadRequest, "empty message")
		return
	}
	h.o.deliver(w, r, h.a, env.To, raw)
}

type sendgridEnvelope struct {
	To   []string `json:"to"`
	From string   `json:"from"`
}

// form reads the email and envelope fields of the multipart body.
func (h *sendgridHandler) form(r *http.Request, body *transport.Spool) (*transport.Spool, sendgridEnvelope, error) {
	var env sendgridEnvelope
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return nil, env, fmt.Errorf("relay: Inbound Parse posts multipart/form-data, not %q", mt)
	}
	mr := multipart.NewReader(body.Reader(), params["boundary"])
	var raw *transport.Spool
	parsed := false
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return raw, env, fmt.Errorf("relay: the multipart body: %w", err)
		}
		switch p.FormName() {
		case "email":
			if raw == nil {
				if raw, err = h.o.spool(p); err != nil {
					return nil, env, err
				}
			}
		case "envelope":
			b, _ := io.ReadAll(io.LimitReader(p, maxField))
			_ = json.Unmarshal(b, &env)
		case "text", "html", "attachments":
			parsed = true
		}
	}
	if raw == nil {
		if parsed {
			return nil, env, errors.New("relay: Inbound Parse is in parsed mode: check \"POST the raw, full MIME message\" (send_raw)")
		}
		return nil, env, errors.New("relay: no email field")
	}
	return raw, env, nil
}
