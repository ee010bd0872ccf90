package relay

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// Common are the settings every relay handler shares.
type Common struct {
	// Ingester takes the messages (required): the same pipeline as
	// fetched mail, for mailboxes of transport kind push.
	Ingester *inbound.Ingester
	// Mailbox, when set, receives every message of this handler;
	// otherwise each envelope recipient the provider reports is mapped to
	// a pushed mailbox by its address (Ingester.Recipient), and a message
	// for several of them is taken by each.
	Mailbox mailbox.ID
	// MaxBodySize bounds the request body (default: the provider's, see
	// each constructor). A larger body is refused for good; a message
	// above its mailbox's MaxMessageSize but within it is quarantined.
	MaxBodySize int64
	// SpoolMemory is the size up to which a body stays in memory; larger
	// ones go to a temporary file in SpoolDir (defaults of transport.NewSpool).
	SpoolMemory int64
	SpoolDir    string
	// Logger receives a warning for each request refused or not taken
	// (never a secret); default discard.
	Logger *slog.Logger
	// Clock tells the time of signature timestamps; default the real one.
	Clock clock.Clock
}

func (c *Common) check(defaultMax int64) error {
	if c.Ingester == nil {
		return errors.New("relay: an Ingester is required")
	}
	if c.MaxBodySize <= 0 {
		c.MaxBodySize = defaultMax
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Clock = clock.OrReal(c.Clock)
	return nil
}

// Response is the JSON body of a 200 answer: what became of the message
// in each mailbox it was taken by.
type Response struct {
	Results []inbound.IngestResult `json:"results"`
}

// answers maps the kinds of refusal to a provider's status codes: a
// provider retries some codes and drops the message on others, so each
// handler says which code means "do not retry" to its relay.
type answers struct {
	provider string
	// permanent replaces 400, 404 and 413 where the provider retries
	// every code but one (Mailgun: 406, Postmark: 403); 0 keeps them.
	permanent int
}

func (a answers) refuse(w http.ResponseWriter, log *slog.Logger, code int, msg string) {
	if a.permanent != 0 && code != http.StatusUnauthorized && code != http.StatusForbidden && code != http.StatusMethodNotAllowed {
		code = a.permanent
	}
	log.Warn("relay: request refused", "provider", a.provider, "status", code, "reason", msg)
	http.Error(w, msg, code)
}

func (a answers) retry(w http.ResponseWriter, log *slog.Logger, msg string, err error) {
	log.Warn("relay: message not taken, the relay retries", "provider", a.provider, "err", err)
	w.Header().Set("Retry-After", "60")
	http.Error(w, msg, http.StatusServiceUnavailable)
}

// post refuses anything but POST.
func (a answers) post(w http.ResponseWriter, r *http.Request, log *slog.Logger) bool {
	if r.Method == http.MethodPost {
		return true
	}
	w.Header().Set("Allow", http.MethodPost)
	a.refuse(w, log, http.StatusMethodNotAllowed, "POST only")
	return false
}

// readErr answers a body that could not be read: too large (refused) or
// broken off (the relay retries).
func (a answers) readErr(w http.ResponseWriter, log *slog.Logger, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		a.refuse(w, log, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", mbe.Limit))
		return
	}
	a.refuse(w, log, http.StatusBadRequest, "could not read the body")
}

// spool reads r whole into a spool.
func (c *Common) spool(r io.Reader) (*transport.Spool, error) {
	return transport.NewSpool(r, -1, c.SpoolMemory, c.SpoolDir)
}

// targets returns the mailboxes a message for rcpts goes to.
func (c *Common) targets(rcpts []string) ([]mailbox.ID, error) {
	if c.Mailbox != "" {
		return []mailbox.ID{c.Mailbox}, nil
	}
	var ids []mailbox.ID
	seen := map[mailbox.ID]bool{}
	for _, rc := range rcpts {
		id, err := c.Ingester.Recipient(rc)
		if err != nil {
			continue
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w for the recipients %q", inbound.ErrNotPushed, rcpts)
	}
	return ids, nil
}

// deliver takes sp for rcpts through the Ingester and answers: 200 only
// once every target's outcome is durable (handled, duplicate or
// quarantined), 503 with Retry-After when one was not taken (the relay
// retries; the keys make the retry a duplicate where it was taken), the
// permanent refusal when no pushed mailbox takes it.
func (c *Common) deliver(w http.ResponseWriter, r *http.Request, a answers, rcpts []string, sp *transport.Spool) {
	ids, err := c.targets(rcpts)
	if err != nil {
		a.refuse(w, c.Logger, http.StatusNotFound, "no pushed mailbox for the recipient")
		return
	}
	var out Response
	for _, id := range ids {
		res, err := c.Ingester.Ingest(r.Context(), id, sp.Reader())
		switch {
		case errors.Is(err, inbound.ErrNotPushed):
			c.Logger.Warn("relay: not a pushed mailbox", "provider", a.provider, "mailbox", string(id))
			continue
		case err != nil:
			a.retry(w, c.Logger, "not taken, retry later", err)
			return
		}
		out.Results = append(out.Results, res)
	}
	if len(out.Results) == 0 {
		a.refuse(w, c.Logger, http.StatusNotFound, "no pushed mailbox for the recipient")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// basicAuth reports whether r carries user and pass (compared in
// constant time).
func basicAuth(r *http.Request, user string, pass mailbox.Secret) bool {
	u, p, ok := r.BasicAuth()
	if !ok {
		return false
	}
	okU := subtle.ConstantTimeCompare([]byte(u), []byte(user)) == 1
	okP := subtle.ConstantTimeCompare([]byte(p), []byte(pass.Reveal())) == 1
	return okU && okP
}

func splitAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}
