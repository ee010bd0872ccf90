package mailtest

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"net/textproto"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// GmailServer is an in-process Gmail API v1 endpoint for the resources
// correio uses, over HTTPS on loopback (its certificate is Certificate()).
// It follows Google's REST reference
// (https://developers.google.com/workspace/gmail/api/reference/rest):
//
//	GET    /gmail/v1/users/{userId}/profile                 emailAddress, messagesTotal, historyId
//	GET    /gmail/v1/users/{userId}/history                 startHistoryId, historyTypes, labelId, maxResults, pageToken
//	GET    /gmail/v1/users/{userId}/messages                labelIds, q (is:unread), includeSpamTrash, maxResults, pageToken
//	GET    /gmail/v1/users/{userId}/messages/{id}           format=minimal|metadata|raw
//	POST   /gmail/v1/users/{userId}/messages/{id}/modify    addLabelIds, removeLabelIds
//	POST   /gmail/v1/users/{userId}/messages/{id}/trash
//	POST   /gmail/v1/users/{userId}/messages/send           {"raw": base64url}
//	POST   /upload/gmail/v1/users/{userId}/messages/send    uploadType=media, message/rfc822
//	GET    /gmail/v1/users/{userId}/labels
//	POST   /gmail/v1/users/{userId}/labels                  name, labelListVisibility, messageListVisibility
//	POST   /gmail/v1/users/{userId}/watch                   topicName, labelIds, labelFilterBehavior
//	POST   /gmail/v1/users/{userId}/stop
//	POST   /token                                           the JWT bearer grant of service accounts (RFC 7523)
//	GET    /oauth2/v3/certs                                 the JWKS of the Pub/Sub signer (SetPubSub)
//
// userId is the user's address or "me" (the token's only user). History
// follows the reference: ids are strings of increasing uint64 values with
// gaps; records carry "messages" and "messagesAdded", "labelsAdded",
// "labelsRemoved"; history.list returns the records after startHistoryId,
// oldest first, in pages of maxResults (default 100, at most 500) with
// nextPageToken, and the mailbox's current historyId; a startHistoryId
// older than the oldest the server keeps (ExpireHistory) is 404 notFound.
// messages.list returns the newest first. Errors carry Google's body
// {"error":{"code","message","errors":[{"message","domain","reason"}],"status"}}:
// an unknown bearer token is 401 authError, a token of another user 403
// forbidden, scripted throttling 429 rateLimitExceeded or 403
// userRateLimitExceeded with Retry-After.
//
// With SetPubSub, a watched mailbox (users.watch) whose history gains a
// message with a watched label is pushed to the endpoint as Cloud Pub/Sub
// push does, authenticated with an OIDC ID token the signer signs
// (https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions).
type GmailServer struct {
	// URL is the base, https://127.0.0.1:port (the API is under
	// /gmail/v1).
	URL string

	apiServer

	users     map[string]*gmailUser // by lower-case address
	sas       map[string]*gmailSA   // service accounts by email
	nextID    int
	faults    []gmailFault
	breakAt   int64
	breakSend bool
	sent      []GmailSent
	watches   []GmailWatch
	pubsub    *PubSubSigner
	pushURL   string
	pushCli   *http.Client
	pushes    []int
	pushWG    sync.WaitGroup
	delays    map[string]time.Duration
}

type gmailSA struct {
	key    *rsa.PublicKey
	scopes []string
}

type gmailUser struct {
	email     string
	labels    map[string]*gmailLabel // by id
	msgs      map[string]*gmailMsg
	history   []gmailRecord
	historyID uint64
	minValid  uint64 // the oldest startHistoryId still known
	watch     *gmailWatchState
}

type gmailWatchState struct {
	labels  []string
	expires time.Time
}

type gmailLabel struct{ id, name, kind string }

type gmailMsg struct {
	id, thread string
	raw        []byte
	labels     []string
	internal   time.Time
	historyID  uint64
}

type gmailRecord struct {
	id      uint64
	kind    string // messageAdded, messageDeleted, labelAdded, labelRemoved
	msg     string
	thread  string
	snap    []string // the message's labels after the change
	changed []string // the labels added or removed
	// also are further messages added in the same record (DeliverBatch).
	also []*gmailMsg
}

// GmailFault is a scripted answer InjectFault serves instead of the API.
type GmailFault struct {
	// Status is the HTTP status (429, 403, 500, 503, ...).
	Status int
	// Reason is errors[0].reason (rateLimitExceeded,
	// userRateLimitExceeded, backendError, ...).
	Reason string
	// RetryAfter, when positive, is sent as Retry-After (whole seconds,
	// at least 1).
	RetryAfter time.Duration
	// Break closes the connection without an answer.
	Break bool
}

type gmailFault struct {
	match string
	left  int
	f     GmailFault
}

// GmailSent is a message users.messages.send accepted.
type GmailSent struct {
	// User is the mailbox of the URL.
	User string
	// To are the recipients Gmail delivers to: the addresses of the To,
	// Cc and Bcc headers.
	To []string
	// Raw is the message as sent (Gmail removes the Bcc header before
	// delivery; it is kept here for tests).
	Raw []byte
	// ID is the id of the copy in the sender's mailbox (label SENT).
	ID string
}

// GmailWatch is one users.watch call the server answered.
type GmailWatch struct {
	User, TopicName string
	LabelIDs        []string
	At, Expiration  time.Time
}

// gmailSystemLabels are the system labels every mailbox has.
var gmailSystemLabels = []string{"INBOX", "SENT", "TRASH", "SPAM", "DRAFT", "UNREAD", "STARRED", "IMPORTANT"}

// NewGmailServer starts a Gmail API server on 127.0.0.1:0. Close it when
// done.
func NewGmailServer() *GmailServer {
	s := &GmailServer{users: map[string]*gmailUser{}, sas: map[string]*gmailSA{}}
	s.URL = s.start(s.serve)
	return s
}

// Close stops the server (after the pushes in flight).
func (s *GmailServer) Close() { s.pushWG.Wait(); s.srv.Close() }

// TokenURL is the server's token endpoint (service accounts).
func (s *GmailServer) TokenURL() string { return s.URL + "/token" }

// JWKSURL is where the server publishes the Pub/Sub signer's keys.
func (s *GmailServer) JWKSURL() string { return s.URL + "/oauth2/v3/certs" }

// AddUser creates the mailbox of email with its system labels.
func (s *GmailServer) AddUser(email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := &gmailUser{email: email, labels: map[string]*gmailLabel{}, msgs: map[string]*gmailMsg{}, historyID: 1000, minValid: 1000}
	for _, l := range gmailSystemLabels {
		u.labels[l] = &gmailLabel{id: l, name: l, kind: "system"}
	}
	s.users[strings.ToLower(email)] = u
}

// AddToken accepts a bearer token for the users given.
func (s *GmailServer) AddToken(token string, users ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = users
}

// AddServiceAccount registers a service account whose domain-wide
// delegation grants scopes: a JWT bearer grant at TokenURL signed with
// the key of pub, for one of these scopes and a sub naming a user of the
// server, gets a token for that user
// (https://developers.google.com/identity/protocols/oauth2/service-account).
func (s *GmailServer) AddServiceAccount(email string, pub *rsa.PublicKey, scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sas[email] = &gmailSA{key: pub, scopes: scopes}
}

// SetPubSub makes the server push the history changes of watched
// mailboxes to endpoint, signed by signer, through client (nil: one that
// trusts nothing but the system roots).
func (s *GmailServer) SetPubSub(signer *PubSubSigner, endpoint string, client *http.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pubsub, s.pushURL, s.pushCli = signer, endpoint, client
	if s.pushCli == nil {
		s.pushCli = &http.Client{Timeout: 10 * time.Second}
	}
}

// Pushes returns the HTTP statuses the push endpoint answered, in order.
func (s *GmailServer) Pushes() []int {
	s.pushWG.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.pushes)
}

// Watches returns the users.watch calls answered, in order.
func (s *GmailServer) Watches() []GmailWatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.watches)
}

func (s *GmailServer) newID() string {
	s.nextID++
	return fmt.Sprintf("%016x", 0x18c0000000000000+uint64(s.nextID)*0x1f3)
}

// bump advances a mailbox's historyId with a gap, as Gmail's ids are
// increasing but not contiguous.
func (u *gmailUser) bump() uint64 {
	u.historyID += 1 + u.historyID%3
	return u.historyID
}

func (u *gmailUser) record(kind string, m *gmailMsg, changed []string) {
	id := u.bump()
	m.historyID = id
	u.history = append(u.history, gmailRecord{id: id, kind: kind, msg: m.id, thread: m.thread, snap: slices.Clone(m.labels), changed: changed})
}

func (s *GmailServer) labelID(u *gmailUser, name string) string {
	if l := u.labels[name]; l != nil {
		return l.id
	}
	for _, l := range u.labels {
		if l.name == name {
			return l.id
		}
	}
	return ""
}

// CreateLabel creates a user label and returns its id (the existing one's
// when it exists).
func (s *GmailServer) CreateLabel(email, name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[strings.ToLower(email)]
	if u == nil {
		return "", ErrUnknownUser
	}
	if id := s.labelID(u, name); id != "" {
		return id, nil
	}
	return s.addLabel(u, name), nil
}

func (s *GmailServer) addLabel(u *gmailUser, name string) string {
	n := 1
	for _, l := range u.labels {
		if l.kind == "user" {
			n++
		}
	}
	id := "Label_" + strconv.Itoa(n)
	u.labels[id] = &gmailLabel{id: id, name: name, kind: "user"}
	return id
}

// Deliver adds raw to email's mailbox with the labels INBOX and UNREAD
// plus the label names or ids given, and returns its id.
func (s *GmailServer) Deliver(email string, raw []byte, labels ...string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[strings.ToLower(email)]
	if u == nil {
		return "", ErrUnknownUser
	}
	ls := []string{"INBOX", "UNREAD"}
	for _, l := range labels {
		id := s.labelID(u, l)
		if id == "" {
			return "", fmt.Errorf("mailtest: no label %q", l)
		}
		if !slices.Contains(ls, id) {
			ls = append(ls, id)
		}
	}
	id := s.newID()
	m := &gmailMsg{id: id, thread: id, raw: slices.Clone(raw), labels: ls, internal: time.Now().UTC()}
	u.msgs[id] = m
	u.record("messageAdded", m, nil)
	s.notify(u, m)
	return id, nil
}

// DeliverBatch adds several messages to email's INBOX in one history
// record (Gmail may report several messagesAdded in one record), and
// returns their ids.
func (s *GmailServer) DeliverBatch(email string, raws ...[]byte) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[strings.ToLower(email)]
	if u == nil {
		return nil, ErrUnknownUser
	}
	if len(raws) == 0 {
		return nil, nil
	}
	var ids []string
	var msgs []*gmailMsg
	for _, raw := range raws {
		id := s.newID()
		m := &gmailMsg{id: id, thread: id, raw: slices.Clone(raw), labels: []string{"INBOX", "UNREAD"}, internal: time.Now().UTC()}
		u.msgs[id] = m
		ids, msgs = append(ids, id), append(msgs, m)
	}
	u.record("messageAdded", msgs[0], nil)
	rec := &u.history[len(u.history)-1]
	for _, m := range msgs[1:] {
		m.historyID = rec.id
		rec.also = append(rec.also, m)
	}
	s.notify(u, msgs[0])
	return ids, nil
}

// notify pushes a change of u to the Pub/Sub endpoint when u is watched
// and m carries a watched label. Called with s.mu held.
func (s *GmailServer) notify(u *gmailUser, m *gmailMsg) {
	if s.pubsub == nil || u.watch == nil || time.Now().After(u.watch.expires) {
		return
	}
	if len(u.watch.labels) > 0 && !slices.ContainsFunc(u.watch.labels, func(l string) bool { return slices.Contains(m.labels, l) }) {
		return
	}
	signer, endpoint, cli := s.pubsub, s.pushURL, s.pushCli
	email, hid := u.email, u.historyID
	s.pushWG.Add(1)
	go func() {
		defer s.pushWG.Done()
		req, err := signer.PushRequest(endpoint, email, hid, time.Now())
		status := 0
		if err == nil {
			if resp, err := cli.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
			}
		}
		s.mu.Lock()
		s.pushes = append(s.pushes, status)
		s.mu.Unlock()
	}()
}

// Count returns the messages carrying label (a name or an id; TRASH and
// SPAM excluded unless asked for) and the unread ones among them.
func (s *GmailServer) Count(email, label string) (messages, unread int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[strings.ToLower(email)]
	if u == nil {
		return 0, 0
	}
	id := s.labelID(u, label)
	for _, m := range u.msgs {
		if id == "" || !slices.Contains(m.labels, id) {
			continue
		}
		if id != "TRASH" && id != "SPAM" && (slices.Contains(m.labels, "TRASH") || slices.Contains(m.labels, "SPAM")) {
			continue
		}
		messages++
		if slices.Contains(m.labels, "UNREAD") {
			unread++
		}
	}
	return messages, unread
}

// Labels returns the label ids of message id ("" when it does not exist).
func (s *GmailServer) Labels(email, id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[strings.ToLower(email)]; u != nil && u.msgs[id] != nil {
		return slices.Clone(u.msgs[id].labels)
	}
	return nil
}

// HistoryID returns the mailbox's current historyId.
func (s *GmailServer) HistoryID(email string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[strings.ToLower(email)]; u != nil {
		return u.historyID
	}
	return 0
}

// ExpireHistory forgets every history record so far: a startHistoryId
// older than now is answered 404, as Gmail does for an out-of-date one.
func (s *GmailServer) ExpireHistory(email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[strings.ToLower(email)]; u != nil {
		u.minValid = u.bump()
		u.history = nil
	}
}

// Remove deletes message id for good (as another client emptying the
// trash would).
func (s *GmailServer) Remove(email, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[strings.ToLower(email)]; u != nil && u.msgs[id] != nil {
		m := u.msgs[id]
		delete(u.msgs, id)
		u.record("messageDeleted", m, nil)
	}
}

// Sent returns the messages users.messages.send accepted, in order.
func (s *GmailServer) Sent() []GmailSent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent)
}

// InjectFault answers the next n API requests whose "METHOD path"
// contains match ("" matches all) with f instead of serving them.
func (s *GmailServer) InjectFault(match string, n int, f GmailFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, gmailFault{match: match, left: n, f: f})
}

// Throttle answers the next n API requests with status (429
// rateLimitExceeded, or 403 userRateLimitExceeded) and Retry-After: after
// (none when after is zero).
func (s *GmailServer) Throttle(n, status int, after time.Duration) {
	reason := "rateLimitExceeded"
	if status == http.StatusForbidden {
		reason = "userRateLimitExceeded"
	}
	s.InjectFault("", n, GmailFault{Status: status, Reason: reason, RetryAfter: after})
}

// SetDelay makes every API request whose "METHOD path" contains match
// take at least d (to widen the moment a test kills a client in).
func (s *GmailServer) SetDelay(match string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.delays == nil {
		s.delays = map[string]time.Duration{}
	}
	s.delays[match] = d
}

// BreakAfter breaks the connection after the next n bytes of messages.get
// responses of format raw.
func (s *GmailServer) BreakAfter(n int64) { s.mu.Lock(); s.breakAt = max(n, 1); s.mu.Unlock() }

// BreakNextSend breaks the connection in the middle of the next
// messages.send request body: nothing is sent.
func (s *GmailServer) BreakNextSend() { s.mu.Lock(); s.breakSend = true; s.mu.Unlock() }

var gmailStatus = map[int]string{400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
	409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}

// GmailError writes Google's JSON error body
// (https://developers.google.com/workspace/gmail/api/guides/handle-errors).
func gmailError(w http.ResponseWriter, code int, reason, domain, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg,
		"errors": []map[string]any{{"message": msg, "domain": domain, "reason": reason}}, "status": gmailStatus[code]}})
}

func gmailJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}

func notFound(w http.ResponseWriter) {
	gmailError(w, http.StatusNotFound, "notFound", "global", "Requested entity was not found.")
}

func (s *GmailServer) serve(w http.ResponseWriter, r *http.Request) {
	line := r.Method + " " + r.URL.Path
	if !s.admit(w, r) {
		return
	}
	switch r.URL.Path {
	case "/token":
		s.token(w, r)
		return
	case "/oauth2/v3/certs":
		s.mu.Lock()
		ps := s.pubsub
		s.mu.Unlock()
		if ps == nil {
			notFound(w)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(ps.JWKS())
		return
	}
	upload := strings.HasPrefix(r.URL.Path, "/upload/gmail/v1/users/")
	rest, ok := strings.CutPrefix(strings.TrimPrefix(r.URL.Path, "/upload"), "/gmail/v1/users/")
	if !ok {
		notFound(w)
		return
	}
	userID, rest, _ := strings.Cut(rest, "/")

	s.mu.Lock()
	_, allowed, ok := s.bearer(r)
	if !ok {
		s.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
		gmailError(w, http.StatusUnauthorized, "authError", "global", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return
	}
	for i := range s.faults {
		f := &s.faults[i]
		if f.left > 0 && strings.Contains(line, f.match) {
			f.left--
			ff := f.f
			s.mu.Unlock()
			if ff.Break {
				hijackClose(w)
				return
			}
			if ff.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(max(1, int(ff.RetryAfter/time.Second))))
			}
			domain, msg := "global", "Backend Error"
			switch ff.Reason {
			case "rateLimitExceeded":
				domain, msg = "usageLimits", "Too many concurrent requests for user."
			case "userRateLimitExceeded":
				domain, msg = "usageLimits", "User-rate limit exceeded."
			}
			gmailError(w, ff.Status, ff.Reason, domain, msg)
			return
		}
	}
	var delay time.Duration
	for m, d := range s.delays {
		if strings.Contains(line, m) {
			delay = max(delay, d)
		}
	}
	if delay > 0 {
		s.mu.Unlock()
		time.Sleep(delay)
		s.mu.Lock()
	}
	if userID == "me" && len(allowed) == 1 {
		userID = allowed[0]
	}
	u := s.users[strings.ToLower(userID)]
	if u == nil || !containsFold(allowed, userID) {
		s.mu.Unlock()
		gmailError(w, http.StatusForbidden, "forbidden", "global", "Delegation denied for "+userID)
		return
	}
	s.mu.Unlock()

	parts := strings.Split(rest, "/")
	switch {
	case upload && rest == "messages/send" && r.Method == http.MethodPost:
		s.send(w, r, u, true)
	case upload:
		notFound(w)
	case rest == "profile" && r.Method == http.MethodGet:
		s.profile(w, u)
	case rest == "history" && r.Method == http.MethodGet:
		s.historyList(w, r, u)
	case rest == "messages" && r.Method == http.MethodGet:
		s.messagesList(w, r, u)
	case rest == "messages/send" && r.Method == http.MethodPost:
		s.send(w, r, u, false)
	case len(parts) == 2 && parts[0] == "messages" && r.Method == http.MethodGet:
		s.messageGet(w, r, u, parts[1])
	case len(parts) == 3 && parts[0] == "messages" && parts[2] == "modify" && r.Method == http.MethodPost:
		s.modify(w, r, u, parts[1])
	case len(parts) == 3 && parts[0] == "messages" && parts[2] == "trash" && r.Method == http.MethodPost:
		s.trash(w, u, parts[1])
	case rest == "labels":
		s.labels(w, r, u)
	case rest == "watch" && r.Method == http.MethodPost:
		s.watch(w, r, u)
	case rest == "stop" && r.Method == http.MethodPost:
		s.mu.Lock()
		u.watch = nil
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		notFound(w)
	}
}

func (s *GmailServer) profile(w http.ResponseWriter, u *gmailUser) {
	s.mu.Lock()
	defer s.mu.Unlock()
	threads := map[string]bool{}
	for _, m := range u.msgs {
		threads[m.thread] = true
	}
	gmailJSON(w, map[string]any{"emailAddress": u.email, "messagesTotal": len(u.msgs), "threadsTotal": len(threads),
		"historyId": strconv.FormatUint(u.historyID, 10)})
}

// pageState is what a pageToken stands for.
type pageState struct {
	After uint64 `json:"a"` // history: the last record id served; list: the offset
	Upto  uint64 `json:"u"` // history: the historyId of the first page
}

func encodePage(p pageState) string {
	b, _ := json.Marshal(p)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePage(t string) (pageState, bool) {
	var p pageState
	b, err := base64.RawURLEncoding.DecodeString(t)
	return p, err == nil && json.Unmarshal(b, &p) == nil
}

func maxResults(q url.Values) (int, bool) {
	v := q.Get("maxResults")
	if v == "" {
		return 100, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, false
	}
	return min(n, 500), true
}

func msgRef(id, thread string, labels []string) map[string]any {
	m := map[string]any{"id": id, "threadId": thread}
	if labels != nil {
		m["labelIds"] = labels
	}
	return m
}

// historyList serves users.history.list
// (https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.history/list).
func (s *GmailServer) historyList(w http.ResponseWriter, r *http.Request, u *gmailUser) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := r.URL.Query()
	start, err := strconv.ParseUint(q.Get("startHistoryId"), 10, 64)
	if err != nil {
		gmailError(w, http.StatusBadRequest, "invalidArgument", "global", "Invalid startHistoryId")
		return
	}
	if start < u.minValid || start > u.historyID {
		notFound(w)
		return
	}
	size, ok := maxResults(q)
	if !ok {
		gmailError(w, http.StatusBadRequest, "invalidArgument", "global", "Invalid maxResults")
		return
	}
	p := pageState{After: start, Upto: u.historyID}
	if t := q.Get("pageToken"); t != "" {
		if p, ok = decodePage(t); !ok || p.After < start {
			gmailError(w, http.StatusBadRequest, "invalidArgument", "global", "Invalid pageToken")
			return
		}
	}
	types := q["historyTypes"]
	label := q.Get("labelId")
	var out []map[string]any
	next := ""
	for _, rec := range u.history {
		if rec.id <= p.After || rec.id > p.Upto {
			continue
		}
		if len(types) > 0 && !slices.Contains(types, rec.kind) {
			continue
		}
		if label != "" && !slices.Contains(rec.snap, label) && !slices.Contains(rec.changed, label) {
			continue
		}
		if len(out) == size {
			next = encodePage(pageState{After: p.After, Upto: p.Upto})
			break
		}
		h := map[string]any{"id": strconv.FormatUint(rec.id, 10), "messages": []any{msgRef(rec.msg, rec.thread, nil)}}
		ref := msgRef(rec.msg, rec.thread, rec.snap)
		switch rec.kind {
		case "messageAdded":
			added := []any{map[string]any{"message": ref}}
			msgs := []any{msgRef(rec.msg, rec.thread, nil)}
			for _, m := range rec.also {
				added = append(added, map[string]any{"message": msgRef(m.id, m.thread, slices.Clone(m.labels))})
				msgs = append(msgs, msgRef(m.id, m.thread, nil))
			}
			h["messagesAdded"], h["messages"] = added, msgs
		case "messageDeleted":
			h["messagesDeleted"] = []any{map[string]any{"message": msgRef(rec.msg, rec.thread, nil)}}
		case "labelAdded":
			h["labelsAdded"] = []any{map[string]any{"message": ref, "labelIds": rec.changed}}
		case "labelRemoved":
			h["labelsRemoved"] = []any{map[string]any{"message": ref, "labelIds": rec.changed}}
		}
		out = append(out, h)
		p.After = rec.id
	}
	resp := map[string]any{"historyId": strconv.FormatUint(u.historyID, 10)}
	if len(out) > 0 {
		resp["history"] = out
	}
	if next != "" {
		resp["nextPageToken"] = next
	}
	gmailJSON(w, resp)
}

// messagesList serves users.messages.list, newest first.
func (s *GmailServer) messagesList(w http.ResponseWriter, r *http.Request, u *gmailUser) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := r.URL.Query()
	size, ok := maxResults(q)
	if !ok {
		gmailError(w, http.StatusBadRequest, "invalidArgument", "global", "Invalid maxResults")
		return
	}
	query := strings.TrimSpace(q.Get("q"))
	if query != "" && query != "is:unread" {
		gmailError(w, http.StatusBadRequest, "invalidArgument", "global", "This test server understands the query is:unread only")
		return
	}
	spamTrash := q.Get("includeSpamTrash") == "true"
	var all []*gmailMsg
	for _, m := range u.msgs {
		if !spamTrash && (slices.Contains(m.labels, "SPAM") || slices.Contains(m.labels, "TRASH")) {
			continue
		}
		if !slices.ContainsFunc(q["labelIds"], func(l string) bool { return !slices.Contains(m.labels, l) }) &&
			(query == "" || slices.Contains(m.labels, "UNREAD")) {
			all = append(all, m)
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].internal.Equal(all[j].internal) {
			return all[i].internal.After(all[j].internal)
		}
		return all[i].historyID > all[j].historyID
	})
	off := 0
	if t := q.Get("pageToken"); t != "" {
		p, ok := decodePage(t)
		if !ok {
			gmailError(w, http.StatusBadRequest, "invalidArgument", "global", "Invalid pageToken")
			return
		}
		off = int(min(p.After, uint64(len(all))))
	}
	resp := map[string]any{"resultSizeEstimate": len(all)}
	end := min(off+size, len(all))
	var list []any
	for _, m := range all[off:end] {
		list = append(list, msgRef(m.id, m.thread, nil))
	}
	if len(list) > 0 {
		resp["messages"] = list
	}
	if end < len(all) {
		resp["nextPageToken"] = encodePage(pageState{After: uint64(end)})
	}
	gmailJSON(w, resp)
}

func (s *GmailServer) messageJSON(m *gmailMsg, format string) map[string]any {
	snippet := ""
	if i := bytes.Index(m.raw, []byte("\r\n\r\n")); i >= 0 {
		snippet = strings.TrimSpace(string(m.raw[i+4 : min(len(m.raw), i+4+100)]))
	}
	v := map[string]any{"id": m.id, "threadId": m.thread, "labelIds": m.labels, "snippet": snippet,
		"historyId": strconv.FormatUint(m.historyID, 10), "internalDate": strconv.FormatInt(m.internal.UnixMilli(), 10),
		"sizeEstimate": len(m.raw)}
	if format == "raw" {
		v["raw"] = base64.URLEncoding.EncodeToString(m.raw)
	}
	return v
}

// messageGet serves users.messages.get
// (https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages/get).
func (s *GmailServer) messageGet(w http.ResponseWriter, r *http.Request, u *gmailUser, id string) {
	format := r.URL.Query().Get("format")
	switch format {
	case "":
		format = "full"
	case "minimal", "metadata", "raw", "full":
	default:
		gmailError(w, http.StatusBadRequest, "invalidArgument", "global", "Invalid value at 'format'")
		return
	}
	s.mu.Lock()
	m := u.msgs[id]
	if m == nil {
		s.mu.Unlock()
		notFound(w)
		return
	}
	v := s.messageJSON(m, format)
	body, _ := json.Marshal(v)
	breakAt := int64(0)
	if format == "raw" && s.breakAt > 0 {
		breakAt = s.breakAt
		if breakAt < int64(len(body)) {
			s.breakAt = 0
		} else {
			s.breakAt -= int64(len(body))
			breakAt = 0
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if breakAt > 0 {
		_, _ = w.Write(body[:breakAt])
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		hijackClose(w)
		return
	}
	_, _ = w.Write(body)
}

// modify serves users.messages.modify.
func (s *GmailServer) modify(w http.ResponseWriter, r *http.Request, u *gmailUser, id string) {
	var body struct {
		Add    []string `json:"addLabelIds"`
		Remove []string `json:"removeLabelIds"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil {
		gmailError(w, http.StatusBadRequest, "invalidArgument", "global", "Invalid JSON payload received.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := u.msgs[id]
	if m == nil {
		notFound(w)
		return
	}
	for _, l := range append(slices.Clone(body.Add), body.Remove...) {
		if u.labels[l] == nil {
			gmailError(w, http.StatusBadRequest, "invalidArgument", "global", "Invalid label: "+l)
			return
		}
	}
	s.change(u, m, body.Add, body.Remove)
	gmailJSON(w, s.messageJSON(m, "minimal"))
}

// change applies label changes to m and records them in its history.
func (s *GmailServer) change(u *gmailUser, m *gmailMsg, add, remove []string) {
	var added, removed []string
	for _, l := range add {
		if !slices.Contains(m.labels, l) {
			m.labels = append(m.labels, l)
			added = append(added, l)
		}
	}
	for _, l := range remove {
		if i := slices.Index(m.labels, l); i >= 0 {
			m.labels = slices.Delete(m.labels, i, i+1)
			removed = append(removed, l)
		}
	}
	if len(added) > 0 {
		u.record("labelAdded", m, added)
	}
	if len(removed) > 0 {
		u.record("labelRemoved", m, removed)
	}
}

// trash serves users.messages.trash: the message gets the TRASH label
// and leaves the inbox (it is not deleted for good).
func (s *GmailServer) trash(w http.ResponseWriter, u *gmailUser, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := u.msgs[id]
	if m == nil {
		notFound(w)
		return
	}
	s.change(u, m, []string{"TRASH"}, []string{"INBOX"})
	gmailJSON(w, s.messageJSON(m, "minimal"))
}

func (s *GmailServer) labels(w http.ResponseWriter, r *http.Request, u *gmailUser) {
	switch r.Method {
	case http.MethodGet:
		s.mu.Lock()
		var out []map[string]any
		ids := make([]string, 0, len(u.labels))
		for id := range u.labels {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			l := u.labels[id]
			out = append(out, map[string]any{"id": l.id, "name": l.name, "type": l.kind,
				"messageListVisibility": "show", "labelListVisibility": "labelShow"})
		}
		s.mu.Unlock()
		gmailJSON(w, map[string]any{"labels": out})
	case http.MethodPost:
		var body struct {
			Name string `json:"name"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil || strings.TrimSpace(body.Name) == "" {
			gmailError(w, http.StatusBadRequest, "invalidArgument", "global", "Invalid label name")
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, l := range u.labels {
			if strings.EqualFold(l.name, body.Name) {
				gmailError(w, http.StatusConflict, "duplicate", "global", "Label name exists or conflicts")
				return
			}
		}
		id := s.addLabel(u, body.Name)
		gmailJSON(w, map[string]any{"id": id, "name": body.Name, "type": "user",
			"messageListVisibility": "show", "labelListVisibility": "labelShow"})
	default:
		notFound(w)
	}
}

// watch serves users.watch
// (https://developers.google.com/workspace/gmail/api/reference/rest/v1/users/watch):
// the watch lasts seven days.
func (s *GmailServer) watch(w http.ResponseWriter, r *http.Request, u *gmailUser) {
	var body struct {
		TopicName string   `json:"topicName"`
		LabelIDs  []string `json:"labelIds"`
		Behavior  string   `json:"labelFilterBehavior"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil ||
		!strings.HasPrefix(body.TopicName, "projects/") || !strings.Contains(body.TopicName, "/topics/") {
		gmailError(w, http.StatusBadRequest, "invalidArgument", "global", "Invalid topicName does not match projects/{project}/topics/{topic}")
		return
	}
	if body.Behavior != "" && body.Behavior != "include" {
		gmailError(w, http.StatusBadRequest, "invalidArgument", "global", "This test server supports labelFilterBehavior include only")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	exp := now.Add(7 * 24 * time.Hour)
	u.watch = &gmailWatchState{labels: body.LabelIDs, expires: exp}
	s.watches = append(s.watches, GmailWatch{User: u.email, TopicName: body.TopicName, LabelIDs: body.LabelIDs, At: now, Expiration: exp})
	gmailJSON(w, map[string]any{"historyId": strconv.FormatUint(u.historyID, 10), "expiration": strconv.FormatInt(exp.UnixMilli(), 10)})
}

// send serves users.messages.send, as JSON {"raw": base64url} or as a
// media upload of the message itself.
func (s *GmailServer) send(w http.ResponseWriter, r *http.Request, u *gmailUser, upload bool) {
	s.mu.Lock()
	brk := s.breakSend
	s.breakSend = false
	s.mu.Unlock()
	if brk {
		_, _ = io.CopyN(io.Discard, r.Body, 1024)
		hijackClose(w)
		return
	}
	const limit = 36 << 20 // the documented maximum message size
	var raw []byte
	if upload {
		if r.URL.Query().Get("uploadType") != "media" || !strings.HasPrefix(r.Header.Get("Content-Type"), "message/") {
			gmailError(w, http.StatusBadRequest, "badContent", "global", "Media type not supported: use uploadType=media and message/rfc822")
			return
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil {
			return
		}
		raw = b
	} else {
		var body struct {
			Raw string `json:"raw"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, limit*4/3+1024)).Decode(&body); err != nil {
			gmailError(w, http.StatusBadRequest, "invalidArgument", "global", "Invalid JSON payload received.")
			return
		}
		b, err := base64.URLEncoding.DecodeString(body.Raw)
		if err != nil {
			b, err = base64.RawURLEncoding.DecodeString(body.Raw)
		}
		if err != nil {
			gmailError(w, http.StatusBadRequest, "invalidArgument", "global", "Invalid value for ByteString")
			return
		}
		raw = b
	}
	if len(raw) > limit {
		gmailError(w, http.StatusRequestEntityTooLarge, "uploadTooLarge", "global", "Request Entity Too Large")
		return
	}
	var to []string
	if h, err := textproto.NewReader(bufioReader(raw)).ReadMIMEHeader(); err == nil || len(h) > 0 {
		for _, f := range []string{"To", "Cc", "Bcc"} {
			for _, v := range h.Values(f) {
				if list, err := mail.ParseAddressList(v); err == nil {
					for _, a := range list {
						to = append(to, a.Address)
					}
				}
			}
		}
	}
	if len(to) == 0 {
		gmailError(w, http.StatusBadRequest, "invalidArgument", "global", "Recipient address required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newID()
	m := &gmailMsg{id: id, thread: id, raw: raw, labels: []string{"SENT"}, internal: time.Now().UTC()}
	u.msgs[id] = m
	u.record("messageAdded", m, nil)
	s.sent = append(s.sent, GmailSent{User: u.email, To: to, Raw: raw, ID: id})
	gmailJSON(w, map[string]any{"id": id, "threadId": id, "labelIds": []string{"SENT"}})
}

// token serves the JWT bearer grant of a service account with domain-wide
// delegation: the assertion is an RS256 JWT with iss the service account,
// scope, aud the token URL, iat and exp at most an hour apart, and sub the
// user to act as.
func (s *GmailServer) token(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, desc string) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		fail(http.StatusBadRequest, "invalid_request", "Invalid request")
		return
	}
	if r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		fail(http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+r.PostForm.Get("grant_type"))
		return
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		fail(http.StatusBadRequest, "invalid_grant", "Invalid JWT Signature.")
		return
	}
	dec := base64.RawURLEncoding
	hb, e1 := dec.DecodeString(parts[0])
	cb, e2 := dec.DecodeString(parts[1])
	sig, e3 := dec.DecodeString(parts[2])
	var head struct{ Alg string }
	var cl struct {
		Iss, Scope, Aud, Sub string
		Iat, Exp             int64
	}
	if e1 != nil || e2 != nil || e3 != nil || json.Unmarshal(hb, &head) != nil || json.Unmarshal(cb, &cl) != nil || head.Alg != "RS256" {
		fail(http.StatusBadRequest, "invalid_grant", "Invalid JWT Signature.")
		return
	}
	s.mu.Lock()
	sa := s.sas[cl.Iss]
	s.mu.Unlock()
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	now := time.Now().Unix()
	switch {
	case sa == nil:
		fail(http.StatusBadRequest, "invalid_grant", "Invalid grant: account not found")
		return
	case rsa.VerifyPKCS1v15(sa.key, crypto.SHA256, sum[:], sig) != nil:
		fail(http.StatusBadRequest, "invalid_grant", "Invalid JWT Signature.")
		return
	case cl.Aud != s.TokenURL():
		fail(http.StatusBadRequest, "invalid_grant", "Invalid JWT: audience must be "+s.TokenURL())
		return
	case cl.Exp <= now-60 || cl.Iat > now+60 || cl.Exp-cl.Iat > 3600:
		fail(http.StatusBadRequest, "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.")
		return
	}
	for _, sc := range strings.Fields(cl.Scope) {
		if !slices.Contains(sa.scopes, sc) {
			fail(http.StatusUnauthorized, "unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.")
			return
		}
	}
	s.mu.Lock()
	_, isUser := s.users[strings.ToLower(cl.Sub)]
	if cl.Sub == "" || !isUser || cl.Scope == "" {
		s.mu.Unlock()
		fail(http.StatusUnauthorized, "unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.")
		return
	}
	s.nextID++
	tok := "ya29.sa-" + strconv.Itoa(s.nextID)
	s.tokens[tok] = []string{cl.Sub}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "expires_in": 3599, "token_type": "Bearer"})
}
