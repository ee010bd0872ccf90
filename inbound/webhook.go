package inbound

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// The signed push webhook (NewWebhook): a POST whose body is the raw
// message, naming its target in the query (mailbox=<id> or
// recipient=<address>), with two headers:
//
//	Correio-Timestamp: <unix seconds>
//	Correio-Signature: v1=<hex HMAC-SHA256(secret, "v1\n" + timestamp + "\n" + target + "\n" + body)>
//
// where target is "mailbox=<id>" or "recipient=<address>" exactly as in
// the query. PushSignature computes it (cmd/correio-pipe signs with it).
const (
	HeaderPushTimestamp = "Correio-Timestamp"
	HeaderPushSignature = "Correio-Signature"
)

// Defaults of WebhookOptions.
const (
	DefaultWebhookTolerance   = 5 * time.Minute
	DefaultWebhookMaxBodySize = 64 << 20
	// MinWebhookSecret is the shortest secret NewWebhook accepts (bytes).
	MinWebhookSecret = 16
)

// WebhookOptions configure NewWebhook.
type WebhookOptions struct {
	// Secret is the HMAC-SHA256 key shared with the sender (at least
	// MinWebhookSecret bytes).
	Secret mailbox.Secret
	// Tolerance is how far the request's timestamp may be from now
	// (default 5 min): an older request is refused as a replay. A replay
	// within it is a duplicate by key and hands nothing twice.
	Tolerance time.Duration
	// MaxBodySize bounds the request body (default 64 MiB); a larger one
	// is refused with 413. Messages above the mailbox's MaxMessageSize but
	// within this bound are quarantined, as fetched mail is.
	MaxBodySize int64
	// SpoolDir holds bodies above SpoolMemory while the signature is
	// checked (default the system's temporary directory, 1 MiB).
	SpoolMemory int64
	SpoolDir    string
}

// PushSignature returns the Correio-Signature value for body sent to
// target ("mailbox=<id>" or "recipient=<address>") at timestamp ts.
func PushSignature(secret []byte, ts int64, target string, body io.Reader) (string, error) {
	mac := pushMAC(secret, ts, target)
	if _, err := io.Copy(mac, body); err != nil {
		return "", err
	}
	return "v1=" + hex.EncodeToString(mac.Sum(nil)), nil
}

func pushMAC(secret []byte, ts int64, target string) hash.Hash {
	mac := hmac.New(sha256.New, secret)
	fmt.Fprintf(mac, "v1\n%d\n%s\n", ts, target)
	return mac
}

type webhook struct {
	g   *Ingester
	o   WebhookOptions
	key []byte
	now func() time.Time
}

// NewWebhook returns the http.Handler of the signed raw-MIME push webhook
// (see HeaderPushSignature) over g. Its answers, which a sender retries
// on 5xx only:
//
//	200 the message is taken (JSON IngestResult: handled, duplicate or quarantined)
//	400 no target, both targets, a malformed timestamp, or an empty body
//	401 the signature is missing or wrong, or the timestamp is outside the tolerance
//	404 no enabled pushed mailbox for the target
//	405 not a POST
//	413 the body is larger than MaxBodySize
//	503 the message was not taken (store or Handler unavailable): retry; Retry-After is set
func NewWebhook(g *Ingester, o WebhookOptions) (http.Handler, error) {
	if g == nil {
		return nil, errors.New("inbound: NewWebhook needs an Ingester")
	}
	if len(o.Secret.Reveal()) < MinWebhookSecret {
		return nil, fmt.Errorf("inbound: the webhook secret must have at least %d bytes", MinWebhookSecret)
	}
	if o.Tolerance <= 0 {
		o.Tolerance = DefaultWebhookTolerance
	}
	if o.MaxBodySize <= 0 {
		o.MaxBodySize = DefaultWebhookMaxBodySize
	}
	return &webhook{g: g, o: o, key: []byte(o.Secret.Reveal()), now: g.p.clk.Now}, nil
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST the raw message", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	mb, rcpt := q.Get("mailbox"), q.Get("recipient")
	var target string
	switch {
	case (mb == "") == (rcpt == ""):
		http.Error(w, "name exactly one of mailbox= or recipient=", http.StatusBadRequest)
		return
	case mb != "":
		target = "mailbox=" + mb
	default:
		target = "recipient=" + rcpt
	}
	ts, err := strconv.ParseInt(r.Header.Get(HeaderPushTimestamp), 10, 64)
	if err != nil {
		http.Error(w, "missing or malformed "+HeaderPushTimestamp, http.StatusBadRequest)
		return
	}
	if d := h.now().Sub(time.Unix(ts, 0)); d > h.o.Tolerance || d < -h.o.Tolerance {
		http.Error(w, "timestamp outside the tolerance", http.StatusUnauthorized)
		return
	}
	sig, ok := strings.CutPrefix(r.Header.Get(HeaderPushSignature), "v1=")
	want, herr := hex.DecodeString(sig)
	if !ok || herr != nil || len(want) != sha256.Size {
		http.Error(w, "missing or malformed "+HeaderPushSignature, http.StatusUnauthorized)
		return
	}
	mac := pushMAC(h.key, ts, target)
	body := http.MaxBytesReader(w, r.Body, h.o.MaxBodySize)
	sp, err := transport.NewSpool(io.TeeReader(body, mac), -1, h.o.SpoolMemory, h.o.SpoolDir)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "could not read the body", http.StatusBadRequest)
		return
	}
	defer sp.Close()
	if !hmac.Equal(mac.Sum(nil), want) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if sp.Size() == 0 {
		http.Error(w, "empty message", http.StatusBadRequest)
		return
	}
	id := mailbox.ID(mb)
	if rcpt != "" {
		if id, err = h.g.Recipient(rcpt); err != nil {
			http.Error(w, "no such mailbox", http.StatusNotFound)
			return
		}
	}
	res, err := h.g.Ingest(r.Context(), id, sp.Reader())
	switch {
	case errors.Is(err, ErrNotPushed):
		http.Error(w, "no such mailbox", http.StatusNotFound)
	case err != nil:
		h.g.p.log.Warn("inbound: pushed message not taken", "mailbox", string(id), "err", err)
		w.Header().Set("Retry-After", "60")
		http.Error(w, "not taken, retry later", http.StatusServiceUnavailable)
	default:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(res)
	}
}
