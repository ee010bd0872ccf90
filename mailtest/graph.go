package mailtest

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"net/textproto"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// GraphServer is an in-process Microsoft Graph v1.0 endpoint for the mail
// resources correio uses, over HTTPS on loopback (its certificate is
// Certificate()):
//
//	GET    /v1.0/users/{id|upn}/mailFolders?$filter=displayName eq '...'
//	POST   /v1.0/users/{id|upn}/mailFolders
//	GET    /v1.0/users/{id|upn}/mailFolders/{id}/childFolders?$filter=displayName eq '...'
//	POST   /v1.0/users/{id|upn}/mailFolders/{id}/childFolders
//	GET    /v1.0/users/{id|upn}/mailFolders/{id|well-known name}
//	GET    /v1.0/users/{id|upn}/mailFolders/{folder}/messages/delta
//	GET    /v1.0/users/{id|upn}/messages/{id}/$value
//	PATCH  /v1.0/users/{id|upn}/messages/{id}            (isRead)
//	POST   /v1.0/users/{id|upn}/messages/{id}/move       (destinationId)
//	DELETE /v1.0/users/{id|upn}/messages/{id}
//	POST   /v1.0/users/{id|upn}/sendMail                 (base64 MIME, text/plain)
//	POST   /{tenant}/oauth2/v2.0/token                   (client credentials: secret or certificate)
//
// Delta queries follow the reference: $select, $expand of the size
// property (singleValueExtendedProperties, "Integer 0x0E08", here the
// MIME size; Exchange's is the store's size), Prefer:
// odata.maxpagesize, @odata.nextLink pages ($skiptoken), a final
// @odata.deltaLink ($deltatoken), created and updated messages (an isRead
// change is an update), "@removed" entries for messages that left the
// folder, and 410 Gone (syncStateNotFound) for a token the server no
// longer knows (ResetDelta). Errors carry the documented body
// {"error":{"code":...,"message":...,"innerError":{...}}}; a missing or
// unknown bearer token is 401 InvalidAuthenticationToken, a token without
// access to the mailbox 403 ErrorAccessDenied; scripted throttling answers
// 429 or 503 with Retry-After; more than MailboxConcurrency requests in
// flight on one mailbox are 429 ApplicationThrottled, as Exchange Online
// does.
type GraphServer struct {
	// URL is the base, https://127.0.0.1:port (append /v1.0).
	URL string
	// MailboxConcurrency is the cap of concurrent requests per mailbox
	// (Exchange Online's is 4); zero means 4.
	MailboxConcurrency int

	// apiServer's tokens: the users each bearer token may access (none:
	// all, app-only).
	apiServer

	users    map[string]*graphUser // by lower-case UPN
	clients  map[string]string     // tenant/clientID -> secret
	certs    map[string]*x509.Certificate
	epoch    int
	seq      int64
	nextID   int
	throttle []graphThrottle
	breakAt  int64 // >0: $value bytes left before the connection breaks
	breakPut bool  // the next sendMail breaks mid-body
	faults   map[string]int
	sent     []GraphSent
	inflight map[string]int
	delay    time.Duration
	overCap  int

	subs         map[string]*graphSub
	notifyClient *http.Client
	notifyPaused bool
	notified     []GraphNotification
	wg           sync.WaitGroup // notifications in flight
}

type graphUser struct {
	upn      string
	folders  map[string]*graphFolder // by id
	messages map[string]*graphMsg    // by id
	tombs    []graphTomb
}

type graphFolder struct{ id, name, wellKnown, parent string } // parent "": top level

type graphMsg struct {
	id, folder string
	raw        []byte
	isRead     bool
	received   time.Time
	seq        int64
}

type graphTomb struct {
	id, folder string
	seq        int64
}

type graphThrottle struct {
	status int
	after  time.Duration
}

// GraphSent is a message POSTed to sendMail.
type GraphSent struct {
	// User is the mailbox of the URL (users/{id}/sendMail).
	User string
	// To are the recipients Exchange delivers to: the addresses of the
	// To, Cc and Bcc headers.
	To  []string
	Raw []byte
}

var graphWellKnown = []string{"inbox", "archive", "deleteditems", "drafts", "sentitems", "junkemail", "outbox"}

// NewGraphServer starts a Graph server on 127.0.0.1:0. Close it when done.
func NewGraphServer() *GraphServer {
	s := &GraphServer{users: map[string]*graphUser{}, clients: map[string]string{},
		certs: map[string]*x509.Certificate{}, epoch: 1, faults: map[string]int{}, inflight: map[string]int{}}
	s.URL = s.start(s.serve)
	return s
}

// Close stops the server, after the notifications in flight.
func (s *GraphServer) Close() { s.wg.Wait(); s.srv.Close() }

// Host and Port of the listener.
func (s *GraphServer) Host() string { return "127.0.0.1" }

// AddUser creates a mailbox (its well-known folders) for upn.
func (s *GraphServer) AddUser(upn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := &graphUser{upn: upn, folders: map[string]*graphFolder{}, messages: map[string]*graphMsg{}}
	for _, wk := range graphWellKnown {
		id := s.newID("folder")
		u.folders[id] = &graphFolder{id: id, name: wk, wellKnown: wk}
	}
	s.users[strings.ToLower(upn)] = u
}

// AddToken accepts a bearer token for the users given (a delegated token),
// or for every user when none is given (an app-only token).
func (s *GraphServer) AddToken(token string, users ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = users
}

// AddClient registers an app for the client credentials grant of tenant:
// tokens it issues are app-only.
func (s *GraphServer) AddClient(tenant, clientID, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[tenant+"/"+clientID] = secret
}

// AddClientCertificate registers an app whose credential is a
// certificate: token requests must carry a client assertion (RFC 7523),
// a PS256 or RS256 JWT whose x5t#S256 (or x5t) is the certificate's
// thumbprint, signed with its key, for this token endpoint, issued and
// subject clientID, and not expired (see verifyAssertion).
func (s *GraphServer) AddClientCertificate(tenant, clientID string, cert *x509.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.certs[tenant+"/"+clientID] = cert
}

// TokenURL returns the token endpoint of tenant.
func (s *GraphServer) TokenURL(tenant string) string {
	return s.URL + "/" + tenant + "/oauth2/v2.0/token"
}

func (s *GraphServer) newID(kind string) string {
	s.nextID++
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "AAMk-%s-%06d", kind, s.nextID))
}

// folderID resolves an id, a well-known name, a top-level display name or
// a path of display names below one ("inbox/Support/Tier 2").
func (s *GraphServer) folderID(u *graphUser, name string) string {
	for _, f := range u.folders {
		if f.id == name || strings.EqualFold(f.wellKnown, name) || (f.wellKnown == "" && f.parent == "" && f.name == name) {
			return f.id
		}
	}
	segs := strings.Split(name, "/")
	if len(segs) < 2 {
		return ""
	}
	id := s.folderID(u, segs[0])
	for _, seg := range segs[1:] {
		if id == "" {
			return ""
		}
		id = s.childID(u, id, seg)
	}
	return id
}

func (s *GraphServer) childID(u *graphUser, parent, name string) string {
	for _, f := range u.folders {
		if f.parent == parent && strings.EqualFold(f.name, name) {
			return f.id
		}
	}
	return ""
}

// CreateFolder creates a folder (a top-level name, or a path of names
// below an existing folder, "inbox/Support": the missing levels are
// created) and returns its id (the existing one's when it exists).
func (s *GraphServer) CreateFolder(upn, name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[strings.ToLower(upn)]
	if u == nil {
		return "", ErrUnknownUser
	}
	if id := s.folderID(u, name); id != "" {
		return id, nil
	}
	segs := strings.Split(name, "/")
	parent := ""
	for i, seg := range segs {
		var id string
		if i == 0 {
			id = s.folderID(u, seg)
		} else {
			id = s.childID(u, parent, seg)
		}
		if id == "" {
			id = s.newID("folder")
			u.folders[id] = &graphFolder{id: id, name: seg, parent: parent}
		}
		parent = id
	}
	return parent, nil
}

// Deliver puts raw into folder (an id, a well-known name or a display
// name) of upn's mailbox, unread, and returns its id.
func (s *GraphServer) Deliver(upn, folder string, raw []byte) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[strings.ToLower(upn)]
	if u == nil {
		return "", ErrUnknownUser
	}
	fid := s.folderID(u, folder)
	if fid == "" {
		return "", fmt.Errorf("mailtest: no folder %q", folder)
	}
	s.seq++
	m := &graphMsg{id: s.newID("msg"), folder: fid, raw: append([]byte(nil), raw...), received: time.Now().UTC(), seq: s.seq}
	u.messages[m.id] = m
	s.notifyLocked(u, fid, m.id, "created")
	return m.id, nil
}

// Count returns the messages of folder and the unread ones among them.
func (s *GraphServer) Count(upn, folder string) (messages, unread int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[strings.ToLower(upn)]
	if u == nil {
		return 0, 0
	}
	fid := s.folderID(u, folder)
	for _, m := range u.messages {
		if m.folder == fid && fid != "" {
			messages++
			if !m.isRead {
				unread++
			}
		}
	}
	return messages, unread
}

// Sent returns the messages sendMail accepted, in order.
func (s *GraphServer) Sent() []GraphSent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]GraphSent(nil), s.sent...)
}

// SetDelay makes every mailbox request take at least d (to hold requests
// in flight).
func (s *GraphServer) SetDelay(d time.Duration) { s.mu.Lock(); s.delay = d; s.mu.Unlock() }

// OverConcurrency returns how many requests were refused with 429 for
// exceeding MailboxConcurrency.
func (s *GraphServer) OverConcurrency() int { s.mu.Lock(); defer s.mu.Unlock(); return s.overCap }

// ResetDelta forgets every delta and skip token issued: clients must
// synchronise again (410 Gone, syncStateNotFound).
func (s *GraphServer) ResetDelta() { s.mu.Lock(); s.epoch++; s.mu.Unlock() }

// Throttle answers the next n Graph requests with status (429 or 503) and
// Retry-After: after (whole seconds, at least 1).
func (s *GraphServer) Throttle(n, status int, after time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.throttle = append(s.throttle, graphThrottle{status, after})
	}
}

// FailSend makes sendMail refuse the next n messages with status and the
// error code (400 ErrorInvalidRecipients, 403 ErrorSendAsDenied, ...).
func (s *GraphServer) FailSend(n, status int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[strconv.Itoa(status)+" "+code] = n
}

// BreakNextSend breaks the connection in the middle of the next sendMail
// request body: nothing is sent.
func (s *GraphServer) BreakNextSend() { s.mu.Lock(); s.breakPut = true; s.mu.Unlock() }

// BreakAfter breaks the connection after the next n bytes of message
// content ($value) the server sends.
func (s *GraphServer) BreakAfter(n int64) { s.mu.Lock(); s.breakAt = max(n, 1); s.mu.Unlock() }

func graphError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", "00000000-0000-0000-0000-000000000000")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg,
		"innerError": map[string]any{"date": time.Now().UTC().Format("2006-01-02T15:04:05"), "request-id": "00000000-0000-0000-0000-000000000000"}}})
}

func graphJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *GraphServer) serve(w http.ResponseWriter, r *http.Request) {
	if !s.admit(w, r) {
		return
	}
	if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		s.token(w, r)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1.0/users/")
	subRest, isSub := strings.CutPrefix(r.URL.Path, "/v1.0/subscriptions")
	isSub = isSub && (subRest == "" || strings.HasPrefix(subRest, "/"))
	if !ok && !isSub {
		graphError(w, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+strings.TrimPrefix(r.URL.Path, "/")+"'.")
		return
	}
	upn, rest, _ := strings.Cut(rest, "/")
	upn, _ = url.PathUnescape(upn)

	s.mu.Lock()
	tok, allowed, ok := s.bearer(r)
	if !ok {
		s.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
		graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
		return
	}
	if isSub && len(s.throttle) == 0 {
		s.mu.Unlock()
		s.subscriptions(w, r, tok, allowed, subRest)
		return
	}
	if len(s.throttle) > 0 {
		th := s.throttle[0]
		s.throttle = s.throttle[1:]
		s.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(th.after/time.Second))))
		if th.status == http.StatusServiceUnavailable {
			graphError(w, th.status, "ServiceUnavailable", "The service is temporarily unavailable.")
		} else {
			graphError(w, http.StatusTooManyRequests, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.")
		}
		return
	}
	u := s.users[strings.ToLower(upn)]
	if u == nil {
		s.mu.Unlock()
		graphError(w, http.StatusNotFound, "ErrorInvalidUser", "The requested user '"+upn+"' is invalid.")
		return
	}
	if len(allowed) > 0 && !containsFold(allowed, upn) {
		s.mu.Unlock()
		graphError(w, http.StatusForbidden, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
		return
	}
	limit := s.MailboxConcurrency
	if limit <= 0 {
		limit = 4
	}
	key := strings.ToLower(upn)
	if s.inflight[key] >= limit {
		s.overCap++
		s.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		graphError(w, http.StatusTooManyRequests, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.")
		return
	}
	s.inflight[key]++
	delay := s.delay
	s.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	defer func() { s.mu.Lock(); s.inflight[key]--; s.mu.Unlock() }()

	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 1 && parts[0] == "mailFolders":
		s.folders(w, r, u, "")
	case len(parts) == 3 && parts[0] == "mailFolders" && parts[2] == "childFolders":
		s.folders(w, r, u, parts[1])
	case len(parts) == 2 && parts[0] == "mailFolders" && r.Method == http.MethodGet:
		s.folder(w, u, parts[1])
	case len(parts) == 4 && parts[0] == "mailFolders" && parts[2] == "messages" && parts[3] == "delta" && r.Method == http.MethodGet:
		s.delta(w, r, u, parts[1])
	case len(parts) == 3 && parts[0] == "messages" && parts[2] == "$value" && r.Method == http.MethodGet:
		s.value(w, u, parts[1])
	case len(parts) == 3 && parts[0] == "messages" && parts[2] == "move" && r.Method == http.MethodPost:
		s.move(w, r, u, parts[1])
	case len(parts) == 2 && parts[0] == "messages":
		s.message(w, r, u, parts[1])
	case len(parts) == 1 && parts[0] == "sendMail" && r.Method == http.MethodPost:
		s.sendMail(w, r, u)
	default:
		graphError(w, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+rest+"'.")
	}
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func (s *GraphServer) token(w http.ResponseWriter, r *http.Request) {
	tenant := strings.TrimPrefix(strings.TrimSuffix(r.URL.Path, "/oauth2/v2.0/token"), "/")
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		graphJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request", "error_description": "AADSTS900144: The request body must contain the following parameter: 'grant_type'."})
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	s.mu.Lock()
	want, known := s.clients[tenant+"/"+id]
	if !ok && r.PostForm.Get("client_assertion_type") != "" {
		cert := s.certs[tenant+"/"+id]
		_, err := verifyAssertion(r.PostForm.Get("client_assertion"), s.TokenURL(tenant), id, cert, time.Now())
		known = r.PostForm.Get("client_assertion_type") == clientAssertionType && err == nil
		secret, want = "", ""
	}
	s.mu.Unlock()
	switch {
	case r.PostForm.Get("grant_type") != "client_credentials":
		graphJSON(w, http.StatusBadRequest, map[string]any{"error": "unsupported_grant_type", "error_description": "AADSTS70003: The app requested an unsupported grant type."})
	case !known || secret != want:
		graphJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})
	case r.PostForm.Get("scope") != "https://graph.microsoft.com/.default":
		graphJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_scope", "error_description": "AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier."})
	default:
		s.mu.Lock()
		tok := "app-" + s.newID("token")
		s.tokens[tok] = nil
		s.mu.Unlock()
		graphJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": tok})
	}
}

func (s *GraphServer) folderJSON(u *graphUser, f *graphFolder) map[string]any {
	total, unread := 0, 0
	for _, m := range u.messages {
		if m.folder == f.id {
			total++
			if !m.isRead {
				unread++
			}
		}
	}
	name := f.name
	if f.wellKnown != "" {
		name = strings.ToUpper(name[:1]) + name[1:]
	}
	parent, children := f.parent, 0
	if parent == "" {
		parent = "AAMkAGroot-msgfolderroot"
	}
	for _, c := range u.folders {
		if c.parent == f.id {
			children++
		}
	}
	return map[string]any{"id": f.id, "displayName": name, "parentFolderId": parent, "childFolderCount": children,
		"unreadItemCount": unread, "totalItemCount": total, "isHidden": false}
}

// folders lists or creates the folders below parent (a URL segment: an
// id or a well-known name; "" for the top level, /mailFolders).
func (s *GraphServer) folders(w http.ResponseWriter, r *http.Request, u *graphUser, parent string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pid := ""
	if parent != "" {
		if pid = s.folderIDStrict(u, parent); pid == "" {
			graphError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
			return
		}
	}
	switch r.Method {
	case http.MethodGet:
		filter := r.URL.Query().Get("$filter")
		var want string
		if filter != "" {
			v, ok := strings.CutPrefix(filter, "displayName eq '")
			if !ok || !strings.HasSuffix(v, "'") {
				graphError(w, http.StatusBadRequest, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes.")
				return
			}
			want = strings.ReplaceAll(strings.TrimSuffix(v, "'"), "''", "'")
		}
		var out []map[string]any
		ids := make([]string, 0, len(u.folders))
		for id := range u.folders {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			f := u.folders[id]
			if f.parent != pid {
				continue
			}
			j := s.folderJSON(u, f)
			if filter == "" || strings.EqualFold(j["displayName"].(string), want) {
				out = append(out, j)
			}
		}
		graphJSON(w, http.StatusOK, map[string]any{"@odata.context": s.URL + "/v1.0/$metadata#users('" + u.upn + "')/mailFolders", "value": out})
	case http.MethodPost:
		var body struct {
			DisplayName string `json:"displayName"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil || body.DisplayName == "" {
			graphError(w, http.StatusBadRequest, "ErrorInvalidRequest", "The request is invalid.")
			return
		}
		for _, f := range u.folders {
			if f.parent == pid && strings.EqualFold(f.name, body.DisplayName) {
				graphError(w, http.StatusConflict, "ErrorFolderExists", "A folder with the specified name already exists.")
				return
			}
		}
		id := s.newID("folder")
		f := &graphFolder{id: id, name: body.DisplayName, parent: pid}
		u.folders[id] = f
		graphJSON(w, http.StatusCreated, s.folderJSON(u, f))
	default:
		graphError(w, http.StatusMethodNotAllowed, "BadRequest", "The HTTP method is not allowed.")
	}
}

func (s *GraphServer) folder(w http.ResponseWriter, u *graphUser, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fid := s.folderIDStrict(u, name)
	if fid == "" {
		graphError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	graphJSON(w, http.StatusOK, s.folderJSON(u, u.folders[fid]))
}

// folderIDStrict resolves a URL segment: an id or a well-known name only,
// as Graph does.
func (s *GraphServer) folderIDStrict(u *graphUser, seg string) string {
	for _, f := range u.folders {
		if f.id == seg || (f.wellKnown != "" && strings.EqualFold(f.wellKnown, seg)) {
			return f.id
		}
	}
	return ""
}

// deltaState is what a delta or skip token stands for: the changes with
// since < seq <= upto, after the change after (a page boundary).
type deltaState struct {
	Epoch  int    `json:"e"`
	Since  int64  `json:"s"`
	Upto   int64  `json:"u"`
	After  int64  `json:"a"`
	Select string `json:"f"`
	Expand string `json:"x"`
	Size   int    `json:"p"`
}

func encodeState(st deltaState) string {
	b, _ := json.Marshal(st)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeState(tok string) (deltaState, bool) {
	var st deltaState
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || json.Unmarshal(b, &st) != nil {
		return st, false
	}
	return st, true
}

func (s *GraphServer) delta(w http.ResponseWriter, r *http.Request, u *graphUser, folder string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fid := s.folderIDStrict(u, folder)
	if fid == "" {
		graphError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	q := r.URL.Query()
	var st deltaState
	switch {
	case q.Get("$deltatoken") != "" || q.Get("$skiptoken") != "":
		tok := q.Get("$deltatoken")
		skip := tok == ""
		if skip {
			tok = q.Get("$skiptoken")
		}
		var ok bool
		st, ok = decodeState(tok)
		if !ok || st.Epoch != s.epoch {
			graphError(w, http.StatusGone, "syncStateNotFound", "The sync state generation is not found. The delta token is expired and data must be synchronized again.")
			return
		}
		if !skip { // a delta token: the changes since it, up to now
			st.Since, st.After, st.Upto = st.Upto, st.Upto, s.seq
		}
	default:
		st = deltaState{Epoch: s.epoch, Since: 0, After: 0, Upto: s.seq, Select: q.Get("$select"), Expand: q.Get("$expand")}
	}
	size := 10 // Outlook's default page of message delta
	if p := r.Header.Get("Prefer"); p != "" {
		for _, part := range strings.Split(p, ",") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(part), "odata.maxpagesize="); ok {
				if n, err := strconv.Atoi(v); err == nil && n > 0 {
					size = n
					w.Header().Set("Preference-Applied", "odata.maxpagesize="+v)
				}
			}
		}
	}
	type change struct {
		seq int64
		v   map[string]any
	}
	var changes []change
	fields := map[string]bool{}
	for _, f := range strings.Split(st.Select, ",") {
		if f = strings.TrimSpace(f); f != "" {
			fields[f] = true
		}
	}
	for _, m := range u.messages {
		if m.folder == fid && m.seq > st.After && m.seq <= st.Upto {
			v := s.messageJSON(u, m, fields)
			if strings.Contains(st.Expand, "singleValueExtendedProperties") && strings.Contains(st.Expand, "0x0E08") {
				v["singleValueExtendedProperties"] = []map[string]any{{"id": "Integer 0xe08", "value": strconv.Itoa(len(m.raw))}}
			}
			changes = append(changes, change{m.seq, v})
		}
	}
	if st.Since > 0 { // an initial sync reports no removals
		for _, t := range u.tombs {
			if t.folder == fid && t.seq > st.After && t.seq <= st.Upto {
				changes = append(changes, change{t.seq, map[string]any{"@odata.type": "#microsoft.graph.message", "id": t.id, "@removed": map[string]any{"reason": "deleted"}}})
			}
		}
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].seq < changes[j].seq })
	base := s.URL + "/v1.0/users/" + url.PathEscape(u.upn) + "/mailFolders/" + url.PathEscape(folder) + "/messages/delta"
	resp := map[string]any{"@odata.context": s.URL + "/v1.0/$metadata#Collection(message)"}
	if len(changes) > size {
		changes = changes[:size]
		next := st
		next.After = changes[len(changes)-1].seq
		resp["@odata.nextLink"] = base + "?%24skiptoken=" + encodeState(next)
	} else {
		done := st
		done.Since, done.After = st.Upto, st.Upto
		resp["@odata.deltaLink"] = base + "?%24deltatoken=" + encodeState(done)
	}
	vals := make([]map[string]any, 0, len(changes))
	for _, c := range changes {
		vals = append(vals, c.v)
	}
	resp["value"] = vals
	graphJSON(w, http.StatusOK, resp)
}

func (s *GraphServer) messageJSON(u *graphUser, m *graphMsg, fields map[string]bool) map[string]any {
	subject, mid := "", ""
	if h, err := textproto.NewReader(bufioReader(m.raw)).ReadMIMEHeader(); err == nil || len(h) > 0 {
		subject, mid = h.Get("Subject"), h.Get("Message-Id")
	}
	all := map[string]any{
		"@odata.type": "#microsoft.graph.message", "@odata.etag": fmt.Sprintf(`W/"CQAAABYAAA%d"`, m.seq),
		"id": m.id, "receivedDateTime": m.received.Format(time.RFC3339), "isRead": m.isRead,
		"subject": subject, "internetMessageId": mid, "parentFolderId": m.folder, "hasAttachments": false,
	}
	if len(fields) == 0 {
		return all
	}
	out := map[string]any{"@odata.type": all["@odata.type"], "@odata.etag": all["@odata.etag"], "id": m.id}
	for f := range fields {
		if v, ok := all[f]; ok {
			out[f] = v
		}
	}
	return out
}

// findMsg returns the message by id, or writes 404.
func (s *GraphServer) findMsg(w http.ResponseWriter, u *graphUser, id string) *graphMsg {
	m := u.messages[id]
	if m == nil {
		graphError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
	}
	return m
}

func (s *GraphServer) value(w http.ResponseWriter, u *graphUser, id string) {
	s.mu.Lock()
	m := s.findMsg(w, u, id)
	if m == nil {
		s.mu.Unlock()
		return
	}
	raw := m.raw
	breakAt := s.breakAt
	if breakAt > 0 {
		if breakAt < int64(len(raw)) {
			s.breakAt = 0
		} else {
			s.breakAt -= int64(len(raw))
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
	w.WriteHeader(http.StatusOK)
	if breakAt > 0 && breakAt < int64(len(raw)) {
		_, _ = w.Write(raw[:breakAt])
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		hijackClose(w)
		return
	}
	_, _ = w.Write(raw)
}

func (s *GraphServer) message(w http.ResponseWriter, r *http.Request, u *graphUser, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.findMsg(w, u, id)
	if m == nil {
		return
	}
	switch r.Method {
	case http.MethodGet:
		graphJSON(w, http.StatusOK, s.messageJSON(u, m, nil))
	case http.MethodPatch:
		var body map[string]json.RawMessage
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil {
			graphError(w, http.StatusBadRequest, "RequestBodyRead", "Unable to read JSON request payload.")
			return
		}
		if v, ok := body["isRead"]; ok {
			var b bool
			if json.Unmarshal(v, &b) != nil {
				graphError(w, http.StatusBadRequest, "RequestBodyRead", "Cannot convert the literal to the expected type 'Edm.Boolean'.")
				return
			}
			if m.isRead != b {
				m.isRead = b
				s.seq++
				m.seq = s.seq // an update, seen by the next delta
				s.notifyLocked(u, m.folder, m.id, "updated")
			}
		}
		graphJSON(w, http.StatusOK, s.messageJSON(u, m, nil))
	case http.MethodDelete:
		s.seq++
		u.tombs = append(u.tombs, graphTomb{m.id, m.folder, s.seq})
		delete(u.messages, m.id)
		s.notifyLocked(u, m.folder, m.id, "deleted")
		w.WriteHeader(http.StatusNoContent)
	default:
		graphError(w, http.StatusMethodNotAllowed, "BadRequest", "The HTTP method is not allowed.")
	}
}

func (s *GraphServer) move(w http.ResponseWriter, r *http.Request, u *graphUser, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.findMsg(w, u, id)
	if m == nil {
		return
	}
	var body struct {
		DestinationID string `json:"destinationId"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil || body.DestinationID == "" {
		graphError(w, http.StatusBadRequest, "ErrorInvalidRequest", "The request is invalid.")
		return
	}
	dest := s.folderIDStrict(u, body.DestinationID)
	if dest == "" {
		graphError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	// A moved message gets a new id, as in Exchange Online.
	s.seq++
	u.tombs = append(u.tombs, graphTomb{m.id, m.folder, s.seq})
	delete(u.messages, m.id)
	s.seq++
	n := &graphMsg{id: s.newID("msg"), folder: dest, raw: m.raw, isRead: m.isRead, received: m.received, seq: s.seq}
	u.messages[n.id] = n
	s.notifyLocked(u, m.folder, m.id, "deleted")
	s.notifyLocked(u, dest, n.id, "created")
	graphJSON(w, http.StatusCreated, s.messageJSON(u, n, nil))
}

func (s *GraphServer) sendMail(w http.ResponseWriter, r *http.Request, u *graphUser) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		graphError(w, http.StatusBadRequest, "ErrorInvalidRequest", "This test server takes the MIME form of sendMail only (Content-Type: text/plain).")
		return
	}
	s.mu.Lock()
	brk := s.breakPut
	s.breakPut = false
	s.mu.Unlock()
	if brk {
		_, _ = io.CopyN(io.Discard, r.Body, 1024)
		hijackClose(w)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20+1))
	if len(body) > 4<<20 {
		graphError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "The request is larger than 4 MB.")
		return
	}
	if err != nil {
		return // the connection broke mid-request: nothing is sent
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(body)))
	if err != nil || len(raw) == 0 {
		graphError(w, http.StatusBadRequest, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, n := range s.faults {
		if n > 0 {
			s.faults[k] = n - 1
			st, code, _ := strings.Cut(k, " ")
			status, _ := strconv.Atoi(st)
			graphError(w, status, code, "The message was refused by the test server's script.")
			return
		}
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
		graphError(w, http.StatusBadRequest, "ErrorInvalidRecipients", "At least one recipient isn't valid., Recipient is missing.")
		return
	}
	s.sent = append(s.sent, GraphSent{User: u.upn, To: to, Raw: raw})
	if fid := s.folderIDStrict(u, "sentitems"); fid != "" {
		s.seq++
		m := &graphMsg{id: s.newID("msg"), folder: fid, raw: raw, isRead: true, received: time.Now().UTC(), seq: s.seq}
		u.messages[m.id] = m
	}
	w.WriteHeader(http.StatusAccepted)
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
