package graph

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// Change notifications (webhooks), after Microsoft's reference:
//
//   - https://learn.microsoft.com/graph/change-notifications-delivery-webhooks
//     (creating, renewing and deleting subscriptions; the notificationUrl
//     validation: POST ?validationToken=..., answered within 10 s with 200,
//     text/plain and the URL-decoded token; notifications answered with a
//     2xx within 3 s, 202 when processed later; clientState checked on
//     every notification)
//   - https://learn.microsoft.com/graph/change-notifications-lifecycle-events
//     (reauthorizationRequired: POST /subscriptions/{id}/reauthorize or a
//     PATCH renewal; subscriptionRemoved: create the subscription again and
//     resynchronise; missed: resynchronise with the delta query)
//   - https://learn.microsoft.com/graph/api/resources/subscription
//     (the maximum lifetime of an Outlook message subscription without
//     resource data: 10,080 minutes, under seven days; earlier versions of
//     the table gave 4,230 minutes; clientState at most 128 characters)
//
// A notification never carries mail here (basic notifications, no
// resource data): it only wakes the mailbox's session, which reads the
// delta query as it would when polling. Polling stays the fallback: a
// session with a live subscription still syncs on the engine's push
// renewal timer (inbound.Options.IdleRenew), and a mailbox whose
// subscription cannot be created polls as before.

// Subscription lifetimes.
const (
	// MaxSubscriptionLifetime is the documented maximum lifetime of a
	// subscription to Outlook messages without resource data.
	MaxSubscriptionLifetime = 10080 * time.Minute
	// DefaultSubscriptionLifetime is what NotifyConfig.Lifetime defaults
	// to: 4,230 minutes, within both the current maximum and the one
	// earlier versions of the reference gave.
	DefaultSubscriptionLifetime = 4230 * time.Minute
	// minSubscriptionLifetime: Graph raises shorter expirations to 45
	// minutes.
	minSubscriptionLifetime = 45 * time.Minute
	// DefaultFallbackInterval is NotifyConfig.FallbackInterval's default.
	DefaultFallbackInterval = 15 * time.Minute
	// DefaultMaxNotificationBody bounds a notification request's body.
	DefaultMaxNotificationBody = 1 << 20
	// maxValidationToken bounds the validation token echoed back.
	maxValidationToken = 8 << 10
)

// Lifecycle events of change notifications.
const (
	LifecycleReauthorizationRequired = "reauthorizationRequired"
	LifecycleSubscriptionRemoved     = "subscriptionRemoved"
	LifecycleMissed                  = "missed"
)

// ErrNotifyConfig is wrapped by the error of an unusable NotifyConfig.
var ErrNotifyConfig = errors.New("graph: change notifications are misconfigured")

// NotifyConfig turns on change notifications for the Source's mailboxes.
// The host mounts Source.NotificationHandler at NotificationURL (and at
// LifecycleURL when it differs): a public HTTPS address Microsoft Graph
// can reach.
type NotifyConfig struct {
	// NotificationURL is the public HTTPS URL of the handler (required).
	NotificationURL string
	// LifecycleURL receives lifecycle notifications (default:
	// NotificationURL; the handler tells them apart by their body).
	LifecycleURL string
	// Key derives each subscription's clientState (HMAC-SHA256 of a random
	// nonce kept with the subscription), so the store holds no secret.
	// Required; at least 16 bytes. Changing it invalidates every
	// subscription (they are created again).
	Key mailbox.Secret
	// Store keeps the subscriptions across restarts, so a restarted host
	// renews the subscriptions it made instead of leaking them (required;
	// NewFileSubscriptions, or the host's own).
	Store SubscriptionStore
	// Lifetime is asked of each subscription (default
	// DefaultSubscriptionLifetime, at most MaxSubscriptionLifetime). A
	// subscription is renewed when less than half of it is left.
	Lifetime time.Duration
	// FallbackInterval is how often a mailbox with a subscription is read
	// without a notification, in case notifications are lost unannounced
	// (default 15 minutes; the engine's push renewal,
	// inbound.Options.IdleRenew, bounds it too).
	FallbackInterval time.Duration
	// MaxBody bounds a notification's body (default 1 MiB); a larger one
	// is answered 413.
	MaxBody int64
	// Logger receives refused notifications and subscription failures
	// (default slog.Default()). clientState values are never logged.
	Logger *slog.Logger
}

// Subscription is a change-notification subscription this transport made
// for one mailbox, as a SubscriptionStore keeps it. It holds no secret:
// the clientState is derived from NotifyConfig.Key and Nonce.
type Subscription struct {
	Mailbox mailbox.ID `json:"mailbox"`
	// ID is Graph's subscription id.
	ID string `json:"id"`
	// Resource is the subscribed resource
	// (/users/{user}/mailFolders('{folder}')/messages).
	Resource string `json:"resource"`
	// NotificationURL is the URL it was created with; a subscription of
	// another URL is deleted and created again.
	NotificationURL string `json:"notificationUrl"`
	LifecycleURL    string `json:"lifecycleUrl,omitempty"`
	// Nonce is random; clientState = base64url(HMAC-SHA256(Key, Nonce)).
	Nonce string `json:"nonce"`
	// KeyID names the NotifyConfig.Key the clientState was derived
	// with (a short HMAC of a constant, not the key): a subscription of
	// another key is created again.
	KeyID   string    `json:"keyId"`
	Expires time.Time `json:"expires"`
}

// SubscriptionStore keeps one Subscription per mailbox. Implementations
// are safe for concurrent use.
type SubscriptionStore interface {
	// Subscription returns the mailbox's subscription; ok is false when
	// it has none.
	Subscription(ctx context.Context, mb mailbox.ID) (s Subscription, ok bool, err error)
	// PutSubscription adds or replaces the subscription of s.Mailbox.
	PutSubscription(ctx context.Context, s Subscription) error
	// DeleteSubscription removes the mailbox's subscription (none: nil).
	DeleteSubscription(ctx context.Context, mb mailbox.ID) error
	// Subscriptions lists every subscription kept.
	Subscriptions(ctx context.Context) ([]Subscription, error)
}

// notifier is the Source's notification state: the subscriptions it knows
// (by Graph id) and the wake channel of each mailbox with a session open.
type notifier struct {
	cfg NotifyConfig
	log *slog.Logger
	err error // the config's error, reported by Open's log and Validate

	mu     sync.Mutex
	byID   map[string]*subState // Graph subscription id -> state
	byMb   map[mailbox.ID]*subState
	wakers map[mailbox.ID]chan struct{}
	stats  NotifyStats
}

// subState is one known subscription.
type subState struct {
	sub   Subscription
	state string // clientState
	// reauth and removed are lifecycle events still to act on.
	reauth, removed bool
}

// NotifyStats counts what the notification handler saw.
type NotifyStats struct {
	// Validations answered, notifications accepted (they woke or would
	// have woken a mailbox), lifecycle events accepted.
	Validations, Accepted, Lifecycle int
	// Refused: unknown subscription ids or wrong clientState values.
	Refused int
}

func newNotifier(cfg *NotifyConfig) *notifier {
	n := &notifier{byID: map[string]*subState{}, byMb: map[mailbox.ID]*subState{}, wakers: map[mailbox.ID]chan struct{}{}}
	n.cfg = *cfg
	n.log = n.cfg.Logger
	if n.log == nil {
		n.log = slog.Default()
	}
	if n.cfg.LifecycleURL == "" {
		n.cfg.LifecycleURL = n.cfg.NotificationURL
	}
	if n.cfg.Lifetime <= 0 {
		n.cfg.Lifetime = DefaultSubscriptionLifetime
	}
	n.cfg.Lifetime = min(max(n.cfg.Lifetime, minSubscriptionLifetime), MaxSubscriptionLifetime)
	if n.cfg.FallbackInterval <= 0 {
		n.cfg.FallbackInterval = DefaultFallbackInterval
	}
	if n.cfg.MaxBody <= 0 {
		n.cfg.MaxBody = DefaultMaxNotificationBody
	}
	for _, u := range []string{n.cfg.NotificationURL, n.cfg.LifecycleURL} {
		pu, err := url.Parse(u)
		if err != nil || pu.Scheme != "https" || pu.Host == "" {
			n.err = fmt.Errorf("%w: the notification URL %q is not an absolute https URL", ErrNotifyConfig, u)
		}
	}
	switch {
	case len(n.cfg.Key.Reveal()) < 16:
		n.err = fmt.Errorf("%w: the key must have at least 16 bytes", ErrNotifyConfig)
	case n.cfg.Store == nil:
		n.err = fmt.Errorf("%w: no subscription store", ErrNotifyConfig)
	}
	return n
}

// clientState derives a subscription's clientState: 43 characters, within
// Graph's 128.
func (n *notifier) clientState(nonce string) string {
	m := hmac.New(sha256.New, []byte(n.cfg.Key.Reveal()))
	m.Write([]byte("correio graph clientState\x00" + nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// keyID is the KeyID of subscriptions made with the configured key.
func (n *notifier) keyID() string {
	m := hmac.New(sha256.New, []byte(n.cfg.Key.Reveal()))
	m.Write([]byte("correio graph key id"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:9])
}

// NotifyStats returns the counters of the notification handler (zero when
// notifications are off).
func (s *Source) NotifyStats() NotifyStats {
	if s.n == nil {
		return NotifyStats{}
	}
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	return s.n.stats
}

// NotificationHandler returns the http.Handler the host mounts at
// NotifyConfig.NotificationURL (and LifecycleURL), or nil when the Source
// has no NotifyConfig. It answers the validation handshake, checks each
// notification's subscription id and clientState, wakes the mailbox's
// session, and answers 202 at once; it never calls Graph itself.
func (s *Source) NotificationHandler() http.Handler {
	if s.n == nil {
		return nil
	}
	return s.n
}

// ServeHTTP implements http.Handler.
func (n *notifier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// The validation handshake: echo the URL-decoded token as text/plain
	// (r.URL.Query decodes it). The token is opaque; nosniff keeps a
	// browser from reading it as anything but text.
	if q := r.URL.Query(); q.Has("validationToken") {
		tok := q.Get("validationToken")
		if tok == "" || len(tok) > maxValidationToken {
			http.Error(w, "bad validation token", http.StatusBadRequest)
			return
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
		n.mu.Lock()
		n.stats.Validations++
		n.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, tok)
		return
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		http.Error(w, "expected application/json", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, n.cfg.MaxBody+1))
	if err != nil {
		http.Error(w, "cannot read the body", http.StatusBadRequest)
		return
	}
	if int64(len(body)) > n.cfg.MaxBody {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	var coll struct {
		Value []struct {
			SubscriptionID string `json:"subscriptionId"`
			ClientState    string `json:"clientState"`
			ChangeType     string `json:"changeType"`
			Resource       string `json:"resource"`
			LifecycleEvent string `json:"lifecycleEvent"`
		} `json:"value"`
	}
	if err := json.Unmarshal(body, &coll); err != nil {
		http.Error(w, "not a change notification collection", http.StatusBadRequest)
		return
	}
	refused, firstRefused := 0, ""
	n.mu.Lock()
	for _, v := range coll.Value {
		st := n.byID[v.SubscriptionID]
		if st == nil || v.SubscriptionID == "" ||
			subtle.ConstantTimeCompare([]byte(v.ClientState), []byte(st.state)) != 1 {
			n.stats.Refused++
			if refused == 0 {
				firstRefused = truncate(v.SubscriptionID, 64)
			}
			refused++
			continue
		}
		mb := st.sub.Mailbox
		switch v.LifecycleEvent {
		case "":
			n.stats.Accepted++
		case LifecycleMissed:
			n.stats.Lifecycle++
		case LifecycleReauthorizationRequired:
			n.stats.Lifecycle++
			st.reauth = true
		case LifecycleSubscriptionRemoved:
			n.stats.Lifecycle++
			st.removed = true
		default:
			n.stats.Lifecycle++ // an event added after this was written: syncing is the safe answer
		}
		if ch := n.wakers[mb]; ch != nil {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	n.mu.Unlock()
	if refused > 0 {
		// One line per request, the clientState never in it.
		n.log.Warn("graph: refused change notifications: unknown subscription or wrong clientState",
			"refused", refused, "of", len(coll.Value), "subscription", firstRefused, "remote", r.RemoteAddr)
	}
	w.WriteHeader(http.StatusAccepted)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// register gives the mailbox's session its wake channel.
func (n *notifier) register(mb mailbox.ID) chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	ch := make(chan struct{}, 1)
	n.wakers[mb] = ch
	return ch
}

func (n *notifier) unregister(mb mailbox.ID, ch chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.wakers[mb] == ch {
		delete(n.wakers, mb)
	}
}

// index makes sub known to the handler.
func (n *notifier) index(sub Subscription) *subState {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := &subState{sub: sub, state: n.clientState(sub.Nonce)}
	if old := n.byMb[sub.Mailbox]; old != nil {
		delete(n.byID, old.sub.ID)
		if old.sub.ID == sub.ID { // lifecycle events no session acted on yet
			st.reauth, st.removed = old.reauth, old.removed
		}
	}
	n.byID[sub.ID] = st
	n.byMb[sub.Mailbox] = st
	return st
}

func (n *notifier) forget(mb mailbox.ID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if old := n.byMb[mb]; old != nil {
		delete(n.byID, old.sub.ID)
		delete(n.byMb, mb)
	}
}

// pending returns and clears the lifecycle events owed to mb's
// subscription.
func (n *notifier) pending(mb mailbox.ID) (reauth, removed bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.byMb[mb]
	if st == nil {
		return false, false
	}
	reauth, removed = st.reauth, st.removed
	st.reauth, st.removed = false, false
	return reauth, removed
}

// subscriptionJSON is Graph's subscription resource, as far as we use it.
type subscriptionJSON struct {
	ID                       string    `json:"id,omitempty"`
	ChangeType               string    `json:"changeType,omitempty"`
	NotificationURL          string    `json:"notificationUrl,omitempty"`
	LifecycleNotificationURL string    `json:"lifecycleNotificationUrl,omitempty"`
	Resource                 string    `json:"resource,omitempty"`
	ExpirationDateTime       time.Time `json:"expirationDateTime"`
	ClientState              string    `json:"clientState,omitempty"`
	LatestSupportedTLS       string    `json:"latestSupportedTlsVersion,omitempty"`
}

// resource is the subscribed resource of a session's folder.
func (s *session) resource() string {
	return "/users/" + url.PathEscape(s.k.user) + "/mailFolders('" + strings.ReplaceAll(s.folder, "'", "''") + "')/messages"
}

// subscribe makes sure the session's mailbox has a live subscription:
// the stored one, renewed when less than half of its lifetime is left,
// else a new one (a stored one of another resource or URL is deleted
// first). It returns the subscription's state, or nil when it could not be
// made (logged: the mailbox polls).
func (s *session) subscribe(ctx context.Context) *subState {
	n := s.n
	if n.err != nil {
		n.log.Warn("graph: change notifications are off for this mailbox; it polls", "mailbox", string(s.m.ID), "err", n.err)
		return nil
	}
	st := n.cfg.Store
	now := time.Now()
	sub, ok, err := st.Subscription(ctx, s.m.ID)
	if err != nil {
		n.log.Warn("graph: cannot read the mailbox's subscription; it polls", "mailbox", string(s.m.ID), "err", err)
		return nil
	}
	if ok && (sub.Resource != s.resource() || sub.NotificationURL != n.cfg.NotificationURL ||
		sub.LifecycleURL != n.cfg.LifecycleURL || sub.KeyID != n.keyID()) {
		s.deleteRemote(ctx, sub.ID)
		_ = st.DeleteSubscription(ctx, s.m.ID)
		n.forget(s.m.ID)
		ok = false
	}
	if ok && sub.Expires.After(now.Add(time.Minute)) {
		state := n.index(sub)
		if sub.Expires.Sub(now) < n.cfg.Lifetime/2 {
			if !s.renew(ctx, state) {
				return s.create(ctx)
			}
		}
		return state
	}
	if ok { // expired: Graph has deleted it
		_ = st.DeleteSubscription(ctx, s.m.ID)
		n.forget(s.m.ID)
	}
	return s.create(ctx)
}

// create makes a new subscription and stores it.
func (s *session) create(ctx context.Context) *subState {
	n := s.n
	var nb [18]byte
	if _, err := rand.Read(nb[:]); err != nil {
		n.log.Warn("graph: no randomness for a subscription; the mailbox polls", "mailbox", string(s.m.ID), "err", err)
		return nil
	}
	nonce := base64.RawURLEncoding.EncodeToString(nb[:])
	exp := time.Now().Add(n.cfg.Lifetime).UTC().Truncate(time.Second)
	req := subscriptionJSON{ChangeType: "created", NotificationURL: n.cfg.NotificationURL, LifecycleNotificationURL: n.cfg.LifecycleURL,
		Resource: s.resource(), ExpirationDateTime: exp, ClientState: n.clientState(nonce), LatestSupportedTLS: "v1_2"}
	var got subscriptionJSON
	err := s.k.json(ctx, request{op: "subscribe", method: http.MethodPost, url: s.k.c.base + "/subscriptions",
		body: jsonBody(req), contentType: "application/json"}, &got)
	if err == nil && got.ID == "" {
		err = errors.New("the created subscription has no id")
	}
	if err != nil {
		n.log.Warn("graph: cannot create a change-notification subscription; the mailbox polls", "mailbox", string(s.m.ID), "err", err)
		return nil
	}
	if !got.ExpirationDateTime.IsZero() {
		exp = got.ExpirationDateTime
	}
	sub := Subscription{Mailbox: s.m.ID, ID: got.ID, Resource: req.Resource, NotificationURL: n.cfg.NotificationURL,
		LifecycleURL: n.cfg.LifecycleURL, Nonce: nonce, KeyID: n.keyID(), Expires: exp}
	// Indexed before it is stored: the first notification may come at
	// once.
	state := n.index(sub)
	if err := n.cfg.Store.PutSubscription(ctx, sub); err != nil {
		// Not kept: delete it rather than leak it.
		n.log.Warn("graph: cannot store the new subscription; deleted, the mailbox polls", "mailbox", string(s.m.ID), "err", err)
		s.deleteRemote(context.WithoutCancel(ctx), got.ID)
		n.forget(s.m.ID)
		return nil
	}
	return state
}

// renew extends the subscription (PATCH expirationDateTime), which also
// reauthorises it. False when Graph no longer has it (404) or refuses.
func (s *session) renew(ctx context.Context, st *subState) bool {
	n := s.n
	exp := time.Now().Add(n.cfg.Lifetime).UTC().Truncate(time.Second)
	var got subscriptionJSON
	err := s.k.json(ctx, request{op: "renew", method: http.MethodPatch, url: s.k.c.base + "/subscriptions/" + url.PathEscape(st.sub.ID),
		body: jsonBody(map[string]time.Time{"expirationDateTime": exp}), contentType: "application/json"}, &got)
	if err != nil {
		if transport.ClassOf(err) == transport.Temporary && st.sub.Expires.After(time.Now().Add(renewRetry)) {
			// Graph unreachable or throttling: the subscription still
			// lives; try again later.
			n.log.Warn("graph: cannot renew the subscription yet; retrying", "mailbox", string(s.m.ID), "err", err)
			s.retryRenew = time.Now().Add(renewRetry)
			return true
		}
		if errCode(err) == http.StatusNotFound {
			n.log.Info("graph: the subscription is gone; creating it again", "mailbox", string(s.m.ID))
		} else {
			n.log.Warn("graph: cannot renew the subscription; creating it again", "mailbox", string(s.m.ID), "err", err)
			s.deleteRemote(ctx, st.sub.ID)
		}
		_ = n.cfg.Store.DeleteSubscription(ctx, s.m.ID)
		n.forget(s.m.ID)
		return false
	}
	if !got.ExpirationDateTime.IsZero() {
		exp = got.ExpirationDateTime
	}
	sub := st.sub
	sub.Expires = exp
	if err := n.cfg.Store.PutSubscription(ctx, sub); err != nil {
		n.log.Warn("graph: cannot store the renewed subscription", "mailbox", string(s.m.ID), "err", err)
	}
	n.mu.Lock()
	st.sub.Expires = exp
	n.mu.Unlock()
	s.retryRenew = time.Time{}
	return true
}

// renewRetry is how long a session waits before trying a renewal again
// after a temporary failure.
const renewRetry = time.Minute

// deleteRemote deletes a subscription on Graph (best effort: a leftover
// expires by itself).
func (s *session) deleteRemote(ctx context.Context, id string) {
	err := s.k.json(ctx, request{op: "unsubscribe", method: http.MethodDelete, url: s.k.c.base + "/subscriptions/" + url.PathEscape(id)}, nil)
	if err != nil && errCode(err) != http.StatusNotFound {
		s.n.log.Warn("graph: cannot delete a subscription; it expires by itself", "mailbox", string(s.m.ID), "err", err)
	}
}

// LoadSubscriptions makes the handler know every subscription of the
// store, so notifications that arrive after a restart, before the
// mailboxes' sessions open, are recognised (they wake nothing yet: each
// session syncs when it opens) rather than refused as unknown. Call it
// once at start, before serving the handler; expired ones are skipped.
func (s *Source) LoadSubscriptions(ctx context.Context) error {
	if s.n == nil {
		return nil
	}
	if s.n.err != nil {
		return s.n.err
	}
	subs, err := s.n.cfg.Store.Subscriptions(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, sub := range subs {
		if sub.Expires.After(now) && sub.KeyID == s.n.keyID() {
			s.n.index(sub)
		}
	}
	return nil
}

// Unsubscribe deletes the subscription of a mailbox (one removed or
// disabled by the host, or moved off Graph): on Graph and in the store.
// A mailbox without one is not an error.
func (s *Source) Unsubscribe(ctx context.Context, m *mailbox.Mailbox) error {
	if s.n == nil || m == nil || m.Inbound == nil {
		return nil
	}
	if s.n.err != nil {
		return s.n.err
	}
	sub, ok, err := s.n.cfg.Store.Subscription(ctx, m.ID)
	if err != nil || !ok {
		return err
	}
	k, err := s.c.open(m.Inbound.Credentials, m.Address)
	if err != nil {
		return err
	}
	err = k.json(ctx, request{op: "unsubscribe", method: http.MethodDelete, url: s.c.base + "/subscriptions/" + url.PathEscape(sub.ID)}, nil)
	if err != nil && errCode(err) != http.StatusNotFound {
		return err
	}
	s.n.forget(m.ID)
	return s.n.cfg.Store.DeleteSubscription(ctx, m.ID)
}

// lifecycle acts on the lifecycle events the handler recorded: a
// reauthorisation renews (PATCH also reauthorises, and a failed one
// creates anew), a removal creates the subscription again. It returns
// false when the mailbox lost its subscription (it then polls).
func (s *session) lifecycle(ctx context.Context) bool {
	reauth, removed := s.n.pending(s.m.ID)
	switch {
	case removed:
		_ = s.n.cfg.Store.DeleteSubscription(ctx, s.m.ID)
		s.n.forget(s.m.ID)
		s.sub = s.create(ctx)
	case reauth && s.sub != nil:
		if !s.renew(ctx, s.sub) {
			s.sub = s.create(ctx)
		}
	}
	return s.sub != nil
}

// renewAt is when the session's subscription is due for renewal.
func (s *session) renewAt() time.Time {
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	at := s.sub.sub.Expires.Add(-s.n.cfg.Lifetime / 2)
	if s.retryRenew.After(at) {
		at = s.retryRenew
	}
	return at
}

// waitPush is Wait with a subscription: it returns on a notification (the
// engine then syncs), on the engine's timer, or when ctx ends; it renews
// the subscription when due and acts on lifecycle events on the way.
func (s *session) waitPush(ctx context.Context, wake <-chan time.Time) error {
	fallback := time.NewTimer(s.n.cfg.FallbackInterval)
	defer fallback.Stop()
	for {
		if s.sub == nil {
			select {
			case <-ctx.Done():
			case <-wake:
			case <-s.wake:
			case <-fallback.C:
			}
			return nil
		}
		d := time.Until(s.renewAt())
		t := time.NewTimer(max(d, time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-wake:
			t.Stop()
			return nil
		case <-fallback.C:
			t.Stop()
			return nil // sync anyway: notifications can be lost
		case <-s.wake:
			t.Stop()
			s.lifecycle(ctx)
			return nil // sync now: a new message, a missed batch, or a new subscription
		case <-t.C:
			if !s.renew(ctx, s.sub) {
				s.sub = s.create(ctx)
				return nil // notifications may have been lost meanwhile
			}
		}
	}
}
