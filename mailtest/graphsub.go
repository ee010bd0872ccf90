package mailtest

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Change-notification subscriptions of the GraphServer, after Microsoft's
// reference (https://learn.microsoft.com/graph/change-notifications-delivery-webhooks,
// .../change-notifications-lifecycle-events, .../api/resources/subscription):
//
//	POST   /v1.0/subscriptions                   create: 201 and the subscription
//	GET    /v1.0/subscriptions                   list the caller's
//	GET    /v1.0/subscriptions/{id}
//	PATCH  /v1.0/subscriptions/{id}              renew (expirationDateTime): 200
//	DELETE /v1.0/subscriptions/{id}              204
//	POST   /v1.0/subscriptions/{id}/reauthorize  200
//
// Creating one validates notificationUrl and lifecycleNotificationUrl as
// Graph does: a POST of ?validationToken=... (Content-Type text/plain;
// charset=utf-8) that must be answered within 10 s with 200, a text/plain
// content type and exactly the token; otherwise 400 ValidationError and
// no subscription. The notification URLs must be https, the clientState
// at most 128 characters, the expiration within GraphMaxSubscription (an
// earlier one is raised to 45 minutes); a subscription past its
// expiration is gone (404 ResourceNotFound). A message created in (or
// moved into) a subscribed folder, updated or deleted posts a basic
// change notification (a changeNotificationCollection without resource
// data) to the notificationUrl of each subscription with that changeType;
// a non-2xx answer is retried a few times with backoff (Graph retries for
// up to 4 hours).

// GraphMaxSubscription is the maximum lifetime of a subscription to
// Outlook messages without resource data: 10,080 minutes.
const GraphMaxSubscription = 10080 * time.Minute

type graphSub struct {
	id, resource, user, folder string // user lower-case; folder: id or well-known name as subscribed ("" = all messages)
	changeType                 string
	notifyURL, lifecycleURL    string
	clientState                string
	expires                    time.Time
	token                      string
}

// GraphSubscription describes a subscription the server holds.
type GraphSubscription struct {
	ID, Resource, ChangeType      string
	NotificationURL, LifecycleURL string
	ClientState                   string
	Expires                       time.Time
}

// GraphNotification is one POST the server made to a notification URL.
type GraphNotification struct {
	SubscriptionID string
	URL            string
	// Lifecycle is the lifecycleEvent ("" for a change notification).
	Lifecycle string
	// ChangeType and Resource of a change notification.
	ChangeType, Resource string
	// Status is the answer's HTTP status (0: no answer).
	Status int
}

// SetNotificationClient sets the client the server posts validation
// requests and notifications with (default: a client with a 10 s timeout
// and the system roots). TrustNotificationCert is the usual shortcut.
func (s *GraphServer) SetNotificationClient(c *http.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notifyClient = c
}

// TrustNotificationCert makes the server's notification client trust cert
// (the host's test TLS server).
func (s *GraphServer) TrustNotificationCert(cert *x509.Certificate) {
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = pool
	s.SetNotificationClient(&http.Client{Transport: tr, Timeout: 10 * time.Second})
}

// SetNotificationsPaused stops (true) or resumes posting change
// notifications; the ones due meanwhile are lost, as when Graph drops
// notifications to a slow endpoint (send a "missed" lifecycle event).
func (s *GraphServer) SetNotificationsPaused(p bool) { s.mu.Lock(); s.notifyPaused = p; s.mu.Unlock() }

// Subscriptions returns the live subscriptions, by id.
func (s *GraphServer) Subscriptions() []GraphSubscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireSubsLocked(time.Now())
	var out []GraphSubscription
	for _, g := range s.subs {
		out = append(out, g.public())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Notifications returns the notification POSTs made so far, in order.
func (s *GraphServer) Notifications() []GraphNotification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]GraphNotification(nil), s.notified...)
}

// ExpireSubscription makes a subscription expire now (Graph deletes it
// without a word).
func (s *GraphServer) ExpireSubscription(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.subs[id]
	delete(s.subs, id)
	return ok
}

// SendLifecycle posts a lifecycle notification (reauthorizationRequired,
// subscriptionRemoved or missed) for subscription id to its
// lifecycleNotificationUrl and returns the answer's status. A
// subscriptionRemoved event deletes the subscription first, as Graph
// does.
func (s *GraphServer) SendLifecycle(ctx context.Context, id, event string) (int, error) {
	s.mu.Lock()
	g := s.subs[id]
	if g == nil {
		s.mu.Unlock()
		return 0, fmt.Errorf("mailtest: no subscription %q", id)
	}
	if g.lifecycleURL == "" {
		s.mu.Unlock()
		return 0, errors.New("mailtest: the subscription has no lifecycleNotificationUrl")
	}
	if event == "subscriptionRemoved" {
		delete(s.subs, id)
	}
	body := map[string]any{"value": []map[string]any{{"subscriptionId": g.id, "subscriptionExpirationDateTime": g.expires.Format(time.RFC3339Nano),
		"tenantId": graphTenantID, "clientState": g.clientState, "lifecycleEvent": event}}}
	client := s.notifyClientLocked()
	s.mu.Unlock()
	st := s.post(ctx, client, g.lifecycleURL, body)
	s.mu.Lock()
	s.notified = append(s.notified, GraphNotification{SubscriptionID: g.id, URL: g.lifecycleURL, Lifecycle: event, Status: st})
	s.mu.Unlock()
	if st == 0 {
		return 0, errors.New("mailtest: the lifecycle notification got no answer")
	}
	return st, nil
}

const graphTenantID = "84bd8158-6d4d-4958-8b9f-9d6445542f95"

func (g *graphSub) public() GraphSubscription {
	return GraphSubscription{ID: g.id, Resource: g.resource, ChangeType: g.changeType, NotificationURL: g.notifyURL,
		LifecycleURL: g.lifecycleURL, ClientState: g.clientState, Expires: g.expires}
}

func (g *graphSub) json() map[string]any {
	var lc any
	if g.lifecycleURL != "" {
		lc = g.lifecycleURL
	}
	return map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
		"id": g.id, "resource": g.resource, "applicationId": "24d3b144-21ae-4080-943f-7067b395b913", "changeType": g.changeType,
		"clientState": g.clientState, "notificationUrl": g.notifyURL, "lifecycleNotificationUrl": lc,
		"expirationDateTime": g.expires.UTC().Format("2006-01-02T15:04:05.0000000Z"), "creatorId": "8ee44408-0679-472c-bc2a-692812af3437",
		"includeResourceData": false, "latestSupportedTlsVersion": "v1_2", "encryptionCertificate": nil, "encryptionCertificateId": nil,
		"notificationQueryOptions": nil, "notificationUrlAppId": nil}
}

func (s *GraphServer) notifyClientLocked() *http.Client {
	if s.notifyClient != nil {
		return s.notifyClient
	}
	return &http.Client{Timeout: 10 * time.Second}
}

func (s *GraphServer) expireSubsLocked(now time.Time) {
	for id, g := range s.subs {
		if !now.Before(g.expires) {
			delete(s.subs, id)
		}
	}
}

// parseSubResource parses a message resource: users/{u}/messages,
// users/{u}/mailFolders('{f}')/messages or the same under me/.
func parseSubResource(res string) (user, folder string, ok bool) {
	p := strings.TrimPrefix(res, "/")
	var rest string
	switch {
	case strings.HasPrefix(strings.ToLower(p), "me/"):
		user, rest = "me", p[3:]
	case strings.HasPrefix(strings.ToLower(p), "users/"):
		u, r, found := strings.Cut(p[len("users/"):], "/")
		if !found {
			return "", "", false
		}
		uu, err := url.PathUnescape(u)
		if err != nil {
			return "", "", false
		}
		user, rest = uu, r
	default:
		return "", "", false
	}
	l := strings.ToLower(rest)
	if l == "messages" {
		return user, "", true
	}
	for _, pre := range []string{"mailfolders('", "mailfolders/"} {
		if strings.HasPrefix(l, pre) {
			r := rest[len(pre):]
			var f string
			if pre == "mailfolders('" {
				i := strings.Index(r, "')/")
				if i < 0 {
					return "", "", false
				}
				f, r = strings.ReplaceAll(r[:i], "''", "'"), r[i+3:]
			} else {
				var found bool
				f, r, found = strings.Cut(r, "/")
				if !found {
					return "", "", false
				}
			}
			if strings.ToLower(r) != "messages" || f == "" {
				return "", "", false
			}
			return user, f, true
		}
	}
	return "", "", false
}

// subscriptions serves /v1.0/subscriptions[/{id}[/reauthorize]]; the
// caller checked the bearer token (allowed: the users it may access, none
// = all).
func (s *GraphServer) subscriptions(w http.ResponseWriter, r *http.Request, tok string, allowed []string, rest string) {
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	if rest == "" {
		parts = nil
	}
	switch {
	case len(parts) == 0 && r.Method == http.MethodPost:
		s.createSub(w, r, tok, allowed)
	case len(parts) == 0 && r.Method == http.MethodGet:
		s.mu.Lock()
		s.expireSubsLocked(time.Now())
		var out []map[string]any
		for _, g := range s.subs {
			if g.token == tok || len(allowed) == 0 {
				out = append(out, g.json())
			}
		}
		s.mu.Unlock()
		sort.Slice(out, func(i, j int) bool { return out[i]["id"].(string) < out[j]["id"].(string) })
		graphJSON(w, http.StatusOK, map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions", "value": out})
	case len(parts) == 1 || (len(parts) == 2 && parts[1] == "reauthorize" && r.Method == http.MethodPost):
		s.mu.Lock()
		defer s.mu.Unlock()
		s.expireSubsLocked(time.Now())
		g := s.subs[parts[0]]
		if g == nil || (len(allowed) > 0 && !containsFold(allowed, g.user)) {
			graphError(w, http.StatusNotFound, "ResourceNotFound", "The object was not found.")
			return
		}
		if len(parts) == 2 {
			w.WriteHeader(http.StatusOK)
			return
		}
		switch r.Method {
		case http.MethodGet:
			graphJSON(w, http.StatusOK, g.json())
		case http.MethodDelete:
			delete(s.subs, g.id)
			w.WriteHeader(http.StatusNoContent)
		case http.MethodPatch:
			var body struct {
				Expiration *time.Time `json:"expirationDateTime"`
			}
			if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil || body.Expiration == nil {
				graphError(w, http.StatusBadRequest, "InvalidRequest", "expirationDateTime is required to renew a subscription.")
				return
			}
			exp, msg := subExpiration(*body.Expiration, time.Now())
			if msg != "" {
				graphError(w, http.StatusBadRequest, "InvalidRequest", msg)
				return
			}
			g.expires = exp
			graphJSON(w, http.StatusOK, g.json())
		default:
			graphError(w, http.StatusMethodNotAllowed, "BadRequest", "The HTTP method is not allowed.")
		}
	default:
		graphError(w, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+rest+"'.")
	}
}

// subExpiration checks a requested expiration: at most the maximum
// ahead; an earlier one than 45 minutes ahead is raised to 45 minutes.
func subExpiration(t, now time.Time) (time.Time, string) {
	if t.After(now.Add(GraphMaxSubscription)) {
		return t, fmt.Sprintf("Subscription expiration can only be %d minutes in the future.", int(GraphMaxSubscription/time.Minute))
	}
	if t.Before(now.Add(45 * time.Minute)) {
		t = now.Add(45 * time.Minute)
	}
	return t.UTC(), ""
}

func (s *GraphServer) createSub(w http.ResponseWriter, r *http.Request, tok string, allowed []string) {
	var body struct {
		ChangeType, NotificationURL, LifecycleNotificationURL, Resource, ClientState string
		ExpirationDateTime                                                           *time.Time
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	if err := dec.Decode(&body); err != nil {
		graphError(w, http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload.")
		return
	}
	now := time.Now()
	for _, c := range []struct {
		ok  bool
		msg string
	}{
		{body.ChangeType != "", "changeType is a required property for subscription creation."},
		{body.NotificationURL != "", "notificationUrl is a required property for subscription creation."},
		{body.Resource != "", "resource is a required property for subscription creation."},
		{body.ExpirationDateTime != nil, "expirationDateTime is a required property for subscription creation."},
		{len(body.ClientState) <= 128, "clientState must be at most 128 characters."},
	} {
		if !c.ok {
			graphError(w, http.StatusBadRequest, "InvalidRequest", c.msg)
			return
		}
	}
	for _, ct := range strings.Split(body.ChangeType, ",") {
		if ct = strings.TrimSpace(ct); ct != "created" && ct != "updated" && ct != "deleted" {
			graphError(w, http.StatusBadRequest, "InvalidRequest", "Invalid changeType '"+ct+"'.")
			return
		}
	}
	for _, u := range []string{body.NotificationURL, body.LifecycleNotificationURL} {
		if u == "" {
			continue
		}
		if pu, err := url.Parse(u); err != nil || pu.Scheme != "https" || pu.Host == "" {
			graphError(w, http.StatusBadRequest, "InvalidRequest", "The Notification Url must be HTTPS.")
			return
		}
	}
	user, folder, ok := parseSubResource(body.Resource)
	if !ok {
		graphError(w, http.StatusBadRequest, "ExtensionError", "Operation: Create; Exception: [Status Code: BadRequest; Reason: The resource '"+body.Resource+"' is not supported.]")
		return
	}
	if user == "me" {
		if len(allowed) != 1 {
			graphError(w, http.StatusBadRequest, "ExtensionError", "/me request is only valid with delegated authentication flow.")
			return
		}
		user = allowed[0]
	}
	exp, msg := subExpiration(*body.ExpirationDateTime, now)
	if msg != "" {
		graphError(w, http.StatusBadRequest, "InvalidRequest", msg)
		return
	}
	s.mu.Lock()
	u := s.users[strings.ToLower(user)]
	if u == nil || (len(allowed) > 0 && !containsFold(allowed, user)) {
		s.mu.Unlock()
		graphError(w, http.StatusForbidden, "ExtensionError", "Operation: Create; Exception: [Status Code: Forbidden; Reason: Access is denied.]")
		return
	}
	if folder != "" && s.folderIDStrict(u, folder) == "" {
		s.mu.Unlock()
		graphError(w, http.StatusNotFound, "ExtensionError", "Operation: Create; Exception: [Status Code: NotFound; Reason: The specified folder could not be found in the store.]")
		return
	}
	client := s.notifyClientLocked()
	s.mu.Unlock()
	// Validate each URL: the handshake, outside the lock.
	urls := []string{body.NotificationURL}
	if body.LifecycleNotificationURL != "" {
		urls = append(urls, body.LifecycleNotificationURL)
	}
	for _, nu := range urls {
		if msg := s.validate(r.Context(), client, nu); msg != "" {
			graphError(w, http.StatusBadRequest, "ValidationError", msg)
			return
		}
	}
	id := newGUID(s)
	s.mu.Lock()
	g := &graphSub{id: id, resource: body.Resource, user: strings.ToLower(u.upn), folder: folder, changeType: body.ChangeType,
		notifyURL: body.NotificationURL, lifecycleURL: body.LifecycleNotificationURL, clientState: body.ClientState, expires: exp, token: tok}
	if s.subs == nil {
		s.subs = map[string]*graphSub{}
	}
	s.subs[g.id] = g
	j := g.json()
	s.mu.Unlock()
	graphJSON(w, http.StatusCreated, j)
}

func newGUID(s *GraphServer) string {
	s.mu.Lock()
	s.nextID++
	n := s.nextID
	s.mu.Unlock()
	return fmt.Sprintf("7f105c7d-2dc5-4530-97cd-%012x", n)
}

// validate runs the validation handshake against u and returns "" or the
// error message Graph gives.
func (s *GraphServer) validate(ctx context.Context, client *http.Client, u string) string {
	s.mu.Lock()
	s.nextID++
	token := fmt.Sprintf("Validation: Testing client application reachability for subscription Request-Id: %08x-6f5f-4b1c-a1f0-%012x", s.nextID, s.nextID)
	s.mu.Unlock()
	target := u
	if strings.Contains(u, "?") {
		target += "&"
	} else {
		target += "?"
	}
	target += "validationToken=" + url.QueryEscape(token)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, nil)
	if err != nil {
		return "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request."
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := client.Do(req)
	if err != nil {
		return "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request."
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case resp.StatusCode != http.StatusOK:
		return "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request."
	case ct != "text/plain":
		return "Subscription validation request failed. Response must be of content type text/plain."
	case string(b) != token:
		return "Subscription validation request failed. Response must exactly match validationToken query parameter."
	}
	return ""
}

// notifyLocked posts a change notification for message id of upn's
// folder fid to each matching subscription (asynchronously).
func (s *GraphServer) notifyLocked(u *graphUser, fid, id, changeType string) {
	if s.notifyPaused || len(s.subs) == 0 {
		return
	}
	s.expireSubsLocked(time.Now())
	client := s.notifyClientLocked()
	for _, g := range s.subs {
		if g.user != strings.ToLower(u.upn) || !strings.Contains(","+strings.ReplaceAll(g.changeType, " ", "")+",", ","+changeType+",") {
			continue
		}
		if g.folder != "" && s.folderIDStrict(u, g.folder) != fid {
			continue
		}
		res := "Users/" + u.upn + "/Messages/" + id
		s.nextID++
		body := map[string]any{"value": []map[string]any{{"id": fmt.Sprintf("lsgTZMr9KwAAA%06d", s.nextID), "subscriptionId": g.id,
			"subscriptionExpirationDateTime": g.expires.Format(time.RFC3339Nano), "clientState": g.clientState, "changeType": changeType,
			"resource": res, "tenantId": graphTenantID, "resourceData": map[string]any{"@odata.type": "#Microsoft.Graph.Message",
				"@odata.id": res, "@odata.etag": `W/"CQAAABYAAADkrWGo7bouTKlsgTZMr9KwAAAUWRHf"`, "id": id}}}}
		n := GraphNotification{SubscriptionID: g.id, URL: g.notifyURL, ChangeType: changeType, Resource: res}
		s.wg.Add(1)
		go func(url string) {
			defer s.wg.Done()
			for attempt := range 4 {
				if attempt > 0 {
					time.Sleep(time.Duration(100<<attempt) * time.Millisecond)
				}
				n.Status = s.post(context.Background(), client, url, body)
				if n.Status >= 200 && n.Status < 300 {
					break
				}
			}
			s.mu.Lock()
			s.notified = append(s.notified, n)
			s.mu.Unlock()
		}(g.notifyURL)
	}
}

// post sends a notification collection and returns the status (0: none).
func (s *GraphServer) post(ctx context.Context, client *http.Client, u string, body any) int {
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode
}
