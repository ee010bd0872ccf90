package gmail

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/transport"
)

// Watch configures push (https://developers.google.com/workspace/gmail/api/guides/push):
// each session calls users.watch for its mailbox with this topic, and
// renews it every RenewEvery (Google recommends once a day; a watch
// lasts seven days). Gmail then publishes a notification to the Cloud
// Pub/Sub topic at each change, and Pub/Sub pushes it to PushHandler.
// Polling (the engine's timer) stays the fallback.
type Watch struct {
	// TopicName is projects/{project}/topics/{topic}; the topic grants
	// gmail-api-push@system.gserviceaccount.com the Pub/Sub Publisher role.
	TopicName string
	// LabelIDs restricts notifications to these labels (default: the
	// label the mailbox reads).
	LabelIDs []string
	// RenewEvery is how often a watch is renewed (default 24 h); it is
	// also renewed an hour before it expires.
	RenewEvery time.Duration
}

// DefaultRenewEvery is the default of Watch.RenewEvery.
const DefaultRenewEvery = 24 * time.Hour

// hub maps mailbox addresses to the wake-ups of their sessions.
type hub struct {
	mu    sync.Mutex
	boxes map[string]*box
}

// maxBoxes bounds the addresses a hub remembers.
const maxBoxes = 1 << 17

type box struct {
	wake chan struct{} // one pending wake-up

	mu      sync.Mutex
	renewed time.Time // when users.watch last succeeded
	expires time.Time
}

func newHub() *hub { return &hub{boxes: map[string]*box{}} }

func (h *hub) box(addr string) *box {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := strings.ToLower(addr)
	b := h.boxes[k]
	if b == nil {
		b = &box{wake: make(chan struct{}, 1)}
		if len(h.boxes) < maxBoxes {
			h.boxes[k] = b
		}
	}
	return b
}

// notify wakes addr's session (or the next one opened). It reports false
// when the hub is full and addr was never seen.
func (h *hub) notify(addr string) bool {
	h.mu.Lock()
	b := h.boxes[strings.ToLower(addr)]
	full := len(h.boxes) >= maxBoxes
	h.mu.Unlock()
	if b == nil {
		if full {
			return false
		}
		b = h.box(addr)
	}
	select {
	case b.wake <- struct{}{}:
	default: // one is pending already
	}
	return true
}

// Notify wakes the session of the mailbox at address, as a push does:
// for hosts that receive Gmail's notifications their own way (a Pub/Sub
// pull subscriber).
func (s *Source) Notify(address string) bool { return s.hub.notify(address) }

func (s *session) renewEvery() time.Duration {
	if w := s.src.c.cfg.Watch; w != nil && w.RenewEvery > 0 {
		return w.RenewEvery
	}
	return DefaultRenewEvery
}

// renewAt is when the mailbox's watch is due.
func (s *session) renewAt() time.Time {
	s.box.mu.Lock()
	defer s.box.mu.Unlock()
	if s.box.renewed.IsZero() {
		return time.Time{}
	}
	at := s.box.renewed.Add(s.renewEvery())
	if e := s.box.expires.Add(-time.Hour); !s.box.expires.IsZero() && e.Before(at) {
		at = e
	}
	// Never sooner than a minute after the last renewal, whatever
	// expiration the server answered.
	return latest(at, s.box.renewed.Add(time.Minute))
}

// renew calls users.watch, or with onlyIfDue only when the mailbox's
// watch is due (a watch another session of the mailbox set up is
// reused).
func (s *session) renew(ctx context.Context, onlyIfDue bool) error {
	clk := s.src.c.clk
	if at := s.renewAt(); onlyIfDue && !at.IsZero() && clk.Now().Before(at) {
		return nil
	}
	w := s.src.c.cfg.Watch
	labels := w.LabelIDs
	if len(labels) == 0 {
		labels = []string{s.label}
	}
	var resp struct {
		HistoryID  string `json:"historyId"`
		Expiration string `json:"expiration"`
	}
	err := s.k.json(ctx, request{op: "watch", method: http.MethodPost, url: s.k.userURL() + "/watch", contentType: "application/json",
		body: jsonBody(map[string]any{"topicName": w.TopicName, "labelIds": labels, "labelFilterBehavior": "include"})}, &resp)
	if err != nil {
		return err
	}
	ms, err := strconv.ParseInt(resp.Expiration, 10, 64)
	if err != nil {
		return s.k.c.errorf(transport.Protocol, "watch", fmt.Errorf("expiration %q", resp.Expiration), "")
	}
	s.box.mu.Lock()
	s.box.renewed, s.box.expires = clk.Now(), time.UnixMilli(ms)
	s.box.mu.Unlock()
	return nil
}

// Wait implements transport.Session: it returns on a push for the
// mailbox, on wake, or when ctx ends; meanwhile it renews the watch when
// due (a failed renewal is logged: the engine's timer still polls).
func (s *session) Wait(ctx context.Context, wake <-chan time.Time) error {
	clk := s.src.c.clk
	for {
		var renew <-chan time.Time
		var t clock.Timer
		if s.push {
			d := max(s.renewAt().Sub(clk.Now()), 0)
			t = clk.NewTimer(d)
			renew = t.C()
		}
		select {
		case <-ctx.Done():
		case <-wake:
		case <-s.box.wake:
		case <-renew:
			if err := s.renew(ctx, true); err != nil {
				s.src.c.log.Warn("gmail: renewing users.watch failed", "mailbox", s.m.ID, "err", err)
				s.push = false // polled until the next session sets it up again
			}
			continue
		}
		if t != nil {
			t.Stop()
		}
		return nil
	}
}

// PushConfig configures PushHandler: how a push is authenticated. A
// Pub/Sub push subscription with authentication sends
// "Authorization: Bearer <ID token>" signed by Google
// (https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions);
// the handler checks its RS256 signature against Google's keys, the
// issuer (accounts.google.com), the audience, the service account's email
// (verified) and the expiry.
type PushConfig struct {
	// Audience is the subscription's audience (required; Pub/Sub uses
	// the endpoint URL when the subscription names none).
	Audience string
	// ServiceAccount is the email the subscription's tokens are issued
	// for (required).
	ServiceAccount string
	// JWKSURL is where Google's signing keys are (default
	// https://www.googleapis.com/oauth2/v3/certs), fetched through the
	// Source's connections and cached; Keys, when set, are used instead.
	JWKSURL string
	Keys    map[string]*rsa.PublicKey
	// MaxBody bounds a push's body (default 64 KiB).
	MaxBody int64
	// Clock checks expiry (default the Source's).
	Clock clock.Clock
}

// DefaultJWKSURL is Google's OAuth2 signing keys.
const DefaultJWKSURL = "https://www.googleapis.com/oauth2/v3/certs"

// ErrPushAuth is wrapped by the reasons a push is refused.
var ErrPushAuth = errors.New("gmail: push not authenticated")

// PushHandler returns the endpoint of a Pub/Sub push subscription on the
// topic of Config.Watch. It answers 204 once the notified mailbox's
// session is woken (or the wake-up is pending for its next session), 401
// to a push whose token does not verify, 400 to a body that is not a
// Gmail notification, 405 to anything but POST, 413 to a body over
// MaxBody and 503 when it can remember no more mailboxes (Pub/Sub then
// retries).
func (s *Source) PushHandler(cfg PushConfig) http.Handler {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 64 << 10
	}
	if cfg.JWKSURL == "" {
		cfg.JWKSURL = DefaultJWKSURL
	}
	clk := clock.OrReal(cfg.Clock)
	if cfg.Clock == nil {
		clk = s.c.clk
	}
	return &pushHandler{s: s, cfg: cfg, clk: clk, keys: cfg.Keys}
}

type pushHandler struct {
	s   *Source
	cfg PushConfig
	clk clock.Clock

	mu      sync.Mutex
	keys    map[string]*rsa.PublicKey
	fetched time.Time
	maxAge  time.Duration
}

func (h *pushHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		h.refuse(w, r, errors.New("no bearer token"))
		return
	}
	if err := h.verify(r.Context(), strings.TrimSpace(tok)); err != nil {
		h.refuse(w, r, err)
		return
	}
	var body struct {
		Message struct {
			Data string `json:"data"`
		} `json:"message"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	if err := dec.Decode(&body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "not a Pub/Sub push", http.StatusBadRequest)
		return
	}
	data, err := base64.StdEncoding.DecodeString(body.Message.Data)
	if err != nil {
		data, err = base64.URLEncoding.DecodeString(body.Message.Data)
	}
	var note struct {
		Email     string          `json:"emailAddress"`
		HistoryID json.RawMessage `json:"historyId"`
	}
	if err != nil || json.Unmarshal(data, &note) != nil || note.Email == "" || len(note.Email) > 320 {
		http.Error(w, "not a Gmail notification", http.StatusBadRequest)
		return
	}
	if !h.s.hub.notify(note.Email) {
		http.Error(w, "too many mailboxes", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *pushHandler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	h.s.c.log.Warn("gmail: push refused", "remote", r.RemoteAddr, "err", err)
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	http.Error(w, "unauthorized", http.StatusUnauthorized)
}

// verify checks a Google-signed ID token.
func (h *pushHandler) verify(ctx context.Context, tok string) error {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(tok) > 16<<10 {
		return fmt.Errorf("%w: not a JWT", ErrPushAuth)
	}
	dec := base64.RawURLEncoding
	hb, e1 := dec.DecodeString(parts[0])
	cb, e2 := dec.DecodeString(parts[1])
	sig, e3 := dec.DecodeString(parts[2])
	var head struct{ Alg, Kid string }
	if e1 != nil || e2 != nil || e3 != nil || json.Unmarshal(hb, &head) != nil {
		return fmt.Errorf("%w: a malformed JWT", ErrPushAuth)
	}
	if head.Alg != "RS256" {
		return fmt.Errorf("%w: algorithm %q, want RS256", ErrPushAuth, head.Alg)
	}
	key, err := h.key(ctx, head.Kid)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig) != nil {
		return fmt.Errorf("%w: bad signature", ErrPushAuth)
	}
	var c struct {
		Iss           string          `json:"iss"`
		Aud           json.RawMessage `json:"aud"`
		Email         string          `json:"email"`
		EmailVerified json.RawMessage `json:"email_verified"`
		Exp           json.Number     `json:"exp"`
		Iat           json.Number     `json:"iat"`
	}
	d := json.NewDecoder(strings.NewReader(string(cb)))
	d.UseNumber()
	if err := d.Decode(&c); err != nil {
		return fmt.Errorf("%w: claims: %v", ErrPushAuth, err)
	}
	now := h.clk.Now()
	const leeway = time.Minute
	exp, err1 := c.Exp.Int64()
	iat, _ := c.Iat.Int64()
	switch {
	case c.Iss != "accounts.google.com" && c.Iss != "https://accounts.google.com":
		return fmt.Errorf("%w: issuer %q", ErrPushAuth, c.Iss)
	case !audience(c.Aud, h.cfg.Audience):
		return fmt.Errorf("%w: wrong audience", ErrPushAuth)
	case h.cfg.ServiceAccount == "" || !strings.EqualFold(c.Email, h.cfg.ServiceAccount):
		return fmt.Errorf("%w: email %q is not the subscription's service account", ErrPushAuth, c.Email)
	case string(c.EmailVerified) != "true" && string(c.EmailVerified) != `"true"`:
		return fmt.Errorf("%w: email not verified", ErrPushAuth)
	case err1 != nil || !now.Before(time.Unix(exp, 0).Add(leeway)):
		return fmt.Errorf("%w: expired", ErrPushAuth)
	case iat > 0 && time.Unix(iat, 0).After(now.Add(leeway)):
		return fmt.Errorf("%w: issued in the future", ErrPushAuth)
	}
	return nil
}

func audience(raw json.RawMessage, want string) bool {
	if want == "" {
		return false
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	return json.Unmarshal(raw, &many) == nil && slices.Contains(many, want)
}

// key returns the signing key kid: from the static set, or from the
// JWKS, fetched again when kid is unknown (at most once a minute) or the
// cache is older than its max-age.
func (h *pushHandler) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cfg.Keys != nil {
		if k := h.keys[kid]; k != nil {
			return k, nil
		}
		return nil, fmt.Errorf("%w: unknown key %q", ErrPushAuth, kid)
	}
	now := h.clk.Now()
	k := h.keys[kid]
	stale := h.fetched.IsZero() || now.Sub(h.fetched) > max(h.maxAge, time.Minute)
	if k == nil && now.Sub(h.fetched) > time.Minute {
		stale = true
	}
	if stale {
		keys, age, err := h.fetch(ctx)
		if err != nil {
			if k != nil {
				return k, nil // keep the cached key while Google's keys cannot be read
			}
			return nil, err
		}
		h.keys, h.fetched, h.maxAge = keys, now, age
		k = keys[kid]
	}
	if k == nil {
		return nil, fmt.Errorf("%w: unknown key %q", ErrPushAuth, kid)
	}
	return k, nil
}

func (h *pushHandler) fetch(ctx context.Context) (map[string]*rsa.PublicKey, time.Duration, error) {
	// Other pushes wait for this fetch: keep it short.
	ctx, cancel := context.WithTimeout(ctx, min(h.s.c.cfg.Timeout, 10*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.cfg.JWKSURL, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := h.s.c.http.Do(req)
	if err != nil {
		return nil, 0, h.s.c.netError("jwks", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, h.s.c.errorf(transport.Temporary, "jwks", fmt.Errorf("HTTP %d", resp.StatusCode), "Google's signing keys could not be read")
	}
	var set struct {
		Keys []struct {
			Kty, Kid, N, E, Alg string
		} `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, 0, h.s.c.errorf(transport.Protocol, "jwks", err, "")
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		n, e1 := base64.RawURLEncoding.DecodeString(k.N)
		e, e2 := base64.RawURLEncoding.DecodeString(k.E)
		if k.Kty != "RSA" || e1 != nil || e2 != nil || len(e) == 0 || len(e) > 4 || len(n) < 256 {
			continue
		}
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	age := time.Hour
	for _, d := range strings.Split(resp.Header.Get("Cache-Control"), ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(d), "max-age="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				age = time.Duration(n) * time.Second
			}
		}
	}
	return keys, age, nil
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
