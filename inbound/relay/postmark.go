package relay

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/correio-dev/correio/mailbox"
)

// Postmark inbound.
//
// Postmark receives the mail (its inbound address, or an inbound domain's
// MX pointing at inbound.postmarkapp.com) and POSTs each message as JSON
// to the inbound stream's webhook URL. What NewPostmark follows:
//
//   - "Inbound webhook" (https://postmarkapp.com/developer/webhooks/inbound-webhook)
//     and "Parse an email" (https://postmarkapp.com/developer/user-guide/inbound/parse-an-email):
//     the JSON document (OriginalRecipient, ToFull, CcFull, BccFull,
//     MessageID, ...); a non-200 answer is retried (10 times, at growing
//     intervals), except 403, which stops the retries.
//   - The JSON carries the raw message only in RawEmail, present when the
//     inbound settings' "Include raw email content in JSON payload" is
//     checked. Postmark documents no way to rebuild the message from the
//     parsed fields (headers and parts are decoded), so RawEmail is
//     required, as Rails Action Mailbox's Postmark ingress requires it.
//   - Postmark does not sign inbound webhooks: it authenticates by HTTP
//     basic credentials in the webhook URL (https://user:pass@host/path),
//     which is safe over HTTPS only.

// DefaultPostmarkMaxBody is PostmarkOptions.MaxBodySize's default:
// Postmark takes inbound messages of up to 35 MB, and the JSON carries
// them twice (parsed and raw).
const DefaultPostmarkMaxBody = 128 << 20

// PostmarkOptions configure NewPostmark.
type PostmarkOptions struct {
	Common
	// Username and Password are the HTTP basic credentials of the webhook
	// URL (required).
	Username string
	Password mailbox.Secret
}

type postmarkHandler struct {
	o PostmarkOptions
	a answers
}

// NewPostmark returns the http.Handler of a Postmark inbound webhook. It
// answers 200 once the message is taken, 401 for missing or wrong
// credentials (Postmark retries: a fixed password takes it then), 403 for
// what no retry can fix (no RawEmail, malformed, too large, no such
// mailbox; Postmark stops retrying), 503 when it could not take the
// message (retried).
func NewPostmark(o PostmarkOptions) (http.Handler, error) {
	if err := o.check(DefaultPostmarkMaxBody); err != nil {
		return nil, err
	}
	if o.Username == "" || o.Password.IsZero() {
		return nil, errors.New("relay: NewPostmark needs the basic credentials of the webhook URL (Postmark does not sign inbound webhooks)")
	}
	return &postmarkHandler{o: o, a: answers{provider: "postmark", permanent: http.StatusForbidden}}, nil
}

type postmarkAddress struct {
	Email string
}

type postmarkInbound struct {
	OriginalRecipient string
	ToFull            []postmarkAddress
	CcFull            []postmarkAddress
	BccFull           []postmarkAddress
	RawEmail          *string
}

func (h *postmarkHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.o.Logger
	if !h.a.post(w, r, log) {
		return
	}
	if !basicAuth(r, h.o.Username, h.o.Password) {
		w.Header().Set("WWW-Authenticate", `Basic realm="inbound"`)
		h.a.refuse(w, log, http.StatusUnauthorized, "credentials required")
		return
	}
	var m postmarkInbound
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, h.o.MaxBodySize)).Decode(&m); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.a.readErr(w, log, err)
			return
		}
		h.a.refuse(w, log, http.StatusBadRequest, "not a Postmark inbound JSON document")
		return
	}
	if m.RawEmail == nil || *m.RawEmail == "" {
		h.a.refuse(w, log, http.StatusBadRequest, "no RawEmail: check \"Include raw email content in JSON payload\" in the inbound stream's settings")
		return
	}
	sp, err := h.o.spool(strings.NewReader(*m.RawEmail))
	if err != nil {
		h.a.retry(w, log, "could not spool the message", err)
		return
	}
	defer sp.Close()
	// The envelope recipient; without it, the header recipients.
	rcpts := []string{m.OriginalRecipient}
	if m.OriginalRecipient == "" {
		rcpts = nil
		for _, l := range [][]postmarkAddress{m.ToFull, m.CcFull, m.BccFull} {
			for _, a := range l {
				rcpts = append(rcpts, a.Email)
			}
		}
	}
	h.o.deliver(w, r, h.a, rcpts, sp)
}
