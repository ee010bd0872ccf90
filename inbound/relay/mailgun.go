package relay

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// Mailgun routes.
//
// A Mailgun route whose action is forward("https://host/path/mime") POSTs
// each message to that URL with the raw message in the body-mime field
// (a destination ending in "mime" asks for it); store(notify="https://...")
// POSTs a notification whose message-url the message is fetched from
// with the API key. What NewMailgun follows:
//
//   - "Receiving Messages via HTTP through a forward() action"
//     (https://documentation.mailgun.com/docs/mailgun/user-manual/receive-forward-store/receive-http):
//     the fields (recipient, sender, signature, timestamp, token,
//     body-mime), form-urlencoded or multipart/form-data, and the answers:
//     200 is taken, 406 is refused and not retried, any other code is
//     retried for 8 hours (10 min, 15 min, 30 min, 1 h, 2 h, 4 h).
//   - "Securing Webhooks" (https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks):
//     signature is the hex HMAC-SHA256, keyed with the HTTP webhook
//     signing key, of timestamp and token concatenated; Mailgun
//     recommends refusing stale timestamps and tokens seen before.
//   - "Storing and Retrieving Messages" (.../receive-forward-store/store-retreive):
//     a GET of message-url with Accept: message/rfc2822 and the API key
//     (basic auth, user "api") answers JSON with body-mime.

// Defaults of MailgunOptions.
const (
	DefaultMailgunMaxBody   = 64 << 20
	DefaultMailgunTolerance = 5 * time.Minute
	DefaultMailgunTokens    = 100000
)

// MailgunOptions configure NewMailgun.
type MailgunOptions struct {
	Common
	// SigningKey is the domain's HTTP webhook signing key (required).
	SigningKey mailbox.Secret
	// Tolerance is how far a request's timestamp may be from now
	// (default 5 min). Mailgun does not document whether a retry is
	// signed anew; Rails Action Mailbox's Mailgun ingress refuses
	// signatures older than 2 minutes. A longer tolerance is safe: a
	// replay within it is answered from the token cache or is a duplicate
	// by key.
	Tolerance time.Duration
	// Tokens bounds the tokens remembered against replays (default
	// DefaultMailgunTokens); each is kept for the Tolerance.
	Tokens int
	// APIKey fetches the messages of store() notifications (message-url);
	// without it such a notification is refused, saying so.
	APIKey mailbox.Secret
	// Client fetches stored messages (default: a 1 min timeout).
	Client *http.Client
}

type mailgunHandler struct {
	o MailgunOptions
	a answers

	mu     sync.Mutex
	tokens map[string]time.Time // token -> until
}

// NewMailgun returns the http.Handler of a Mailgun route's forward() to a
// URL ending in "mime" (raw MIME in body-mime) or of its store(notify=)
// notification (message-url, fetched with APIKey). It answers 200 once the
// message is taken, 406 (not retried by Mailgun) for what no retry can
// fix, 401 for a bad or stale signature, 503 when it could not take the
// message (retried).
func NewMailgun(o MailgunOptions) (http.Handler, error) {
	if err := o.check(DefaultMailgunMaxBody); err != nil {
		return nil, err
	}
	if o.SigningKey.IsZero() {
		return nil, errors.New("relay: NewMailgun needs the webhook signing key")
	}
	if o.Tolerance <= 0 {
		o.Tolerance = DefaultMailgunTolerance
	}
	if o.Tokens <= 0 {
		o.Tokens = DefaultMailgunTokens
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: time.Minute}
	}
	return &mailgunHandler{o: o, a: answers{provider: "mailgun", permanent: http.StatusNotAcceptable}, tokens: map[string]time.Time{}}, nil
}

// MailgunSignature returns the signature Mailgun sends for timestamp and
// token: hex HMAC-SHA256(key, timestamp+token).
func MailgunSignature(key []byte, timestamp, token string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(timestamp + token))
	return hex.EncodeToString(mac.Sum(nil))
}

// maxField bounds a form field other than body-mime, maxFields their
// number (Mailgun sends some twenty).
const (
	maxField  = 64 << 10
	maxFields = 512
)

func (h *mailgunHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.o.Logger
	if !h.a.post(w, r, log) {
		return
	}
	body := http.MaxBytesReader(w, r.Body, h.o.MaxBodySize)
	fields, sp, err := h.read(r, body)
	if sp != nil {
		defer sp.Close()
	}
	if err != nil {
		h.a.readErr(w, log, err)
		return
	}
	ts, token, sig := fields["timestamp"], fields["token"], fields["signature"]
	n, err := strconv.ParseInt(ts, 10, 64)
	want, herr := hex.DecodeString(sig)
	if err != nil || token == "" || herr != nil {
		h.a.refuse(w, log, http.StatusUnauthorized, "missing or malformed signature fields")
		return
	}
	now := h.o.Clock.Now()
	if d := now.Sub(time.Unix(n, 0)); d > h.o.Tolerance || d < -h.o.Tolerance {
		h.a.refuse(w, log, http.StatusUnauthorized, "timestamp outside the tolerance")
		return
	}
	got, _ := hex.DecodeString(MailgunSignature([]byte(h.o.SigningKey.Reveal()), ts, token))
	if !hmac.Equal(got, want) {
		h.a.refuse(w, log, http.StatusUnauthorized, "bad signature")
		return
	}
	if h.seen(token, now) {
		// Taken before: a retry whose 200 was lost, or a replay.
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"results":[],"replay":true}`+"\n")
		return
	}
	if sp == nil {
		mu := fields["message-url"]
		if mu == "" {
			h.a.refuse(w, log, http.StatusBadRequest, "no body-mime: forward the route to a URL ending in \"mime\" (raw MIME)")
			return
		}
		if h.o.APIKey.IsZero() {
			h.a.refuse(w, log, http.StatusBadRequest, "a store() notification: set MailgunOptions.APIKey to fetch message-url")
			return
		}
		var retry bool
		sp, retry, err = h.fetch(r.Context(), mu)
		if err != nil {
			if retry {
				h.a.retry(w, log, "could not fetch the stored message", err)
			} else {
				h.a.refuse(w, log, http.StatusBadRequest, err.Error())
			}
			return
		}
		defer sp.Close()
	}
	if sp.Size() == 0 {
		h.a.refuse(w, log, http.StatusBadRequest, "empty message")
		return
	}
	rw := &statusWriter{ResponseWriter: w}
	h.o.deliver(rw, r, h.a, splitAddrs(fields["recipient"]), sp)
	if rw.code == http.StatusOK {
		h.remember(token, now)
	}
}

// read returns the small fields and a spool of body-mime (nil without).
func (h *mailgunHandler) read(r *http.Request, body io.Reader) (map[string]string, *transport.Spool, error) {
	fields := map[string]string{}
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "multipart/form-data":
		mr := multipart.NewReader(body, params["boundary"])
		var sp *transport.Spool
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return fields, sp, nil
			}
			if err != nil {
				return fields, sp, err
			}
			name := p.FormName()
			if name == "body-mime" && sp == nil {
				if sp, err = h.o.spool(p); err != nil {
					return fields, nil, err
				}
				continue
			}
			if len(fields) >= maxFields {
				return fields, sp, fmt.Errorf("relay: more than %d form fields", maxFields)
			}
			b, err := io.ReadAll(io.LimitReader(p, maxField))
			if err != nil {
				return fields, sp, err
			}
			if _, ok := fields[name]; !ok {
				fields[name] = string(b)
			}
		}
	case "application/x-www-form-urlencoded":
		b, err := io.ReadAll(body)
		if err != nil {
			return nil, nil, err
		}
		q, err := url.ParseQuery(string(b))
		if err != nil {
			return nil, nil, err
		}
		for k := range q {
			fields[k] = q.Get(k)
		}
		if _, ok := q["body-mime"]; ok {
			sp, err := h.o.spool(strings.NewReader(q.Get("body-mime")))
			return fields, sp, err
		}
		return fields, nil, nil
	default:
		return nil, nil, fmt.Errorf("relay: Mailgun posts a form, not %q", mt)
	}
}

func (h *mailgunHandler) seen(token string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	until, ok := h.tokens[token]
	return ok && now.Before(until)
}

// remember keeps token for the tolerance; past the bound it drops the
// expired ones, then any (the keys still refuse duplicates).
func (h *mailgunHandler) remember(token string, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.tokens) >= h.o.Tokens {
		for t, until := range h.tokens {
			if !now.Before(until) {
				delete(h.tokens, t)
			}
		}
		for t := range h.tokens {
			if len(h.tokens) < h.o.Tokens {
				break
			}
			delete(h.tokens, t)
		}
	}
	h.tokens[token] = now.Add(2 * h.o.Tolerance)
}

// fetch GETs a stored message (message-url, https on a mailgun.net host).
func (h *mailgunHandler) fetch(ctx context.Context, u string) (*transport.Spool, bool, error) {
	p, err := url.Parse(u)
	host := ""
	if err == nil {
		host = strings.ToLower(p.Hostname())
	}
	if err != nil || p.Scheme != "https" || p.User != nil || !(host == "mailgun.net" || strings.HasSuffix(host, ".mailgun.net")) {
		return nil, false, fmt.Errorf("relay: message-url %q is not an https URL on a mailgun.net host", u)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, false, err
	}
	req.SetBasicAuth("api", h.o.APIKey.Reveal())
	req.Header.Set("Accept", "message/rfc2822")
	resp, err := h.o.Client.Do(req)
	if err != nil {
		return nil, true, fmt.Errorf("relay: fetching the stored message: %w", transport.NewRedactor("api", h.o.APIKey).RedactError(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, false, errors.New("relay: the stored message is gone (Mailgun keeps stored messages for 3 days)")
	case resp.StatusCode != http.StatusOK:
		return nil, true, fmt.Errorf("relay: fetching the stored message: %s", resp.Status)
	}
	var m struct {
		BodyMIME *string `json:"body-mime"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, h.o.MaxBodySize)).Decode(&m); err != nil || m.BodyMIME == nil {
		return nil, true, errors.New("relay: the stored message's answer has no body-mime")
	}
	sp, err := h.o.spool(strings.NewReader(*m.BodyMIME))
	return sp, false, err
}

// statusWriter records the status written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}
