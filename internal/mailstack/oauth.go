package mailstack

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"time"
)

// TokenServer is a loopback OAuth2 authorisation server for XOAUTH2 tests:
// a token endpoint (refresh_token grant) and an RFC 7662 introspection
// endpoint that Dovecot's oauth2 passdb asks whether a bearer token is
// valid. Access tokens expire after TTL; Revoke ends a refresh token.
type TokenServer struct {
	URL string
	// TTL of issued access tokens (default one hour).
	TTL time.Duration

	srv *http.Server
	mu  sync.Mutex
	// access token -> owner and expiry; refresh token -> owner
	access  map[string]grant
	refresh map[string]string
	issued  int
}

type grant struct {
	user    string
	expires time.Time
}

// StartTokenServer listens on 127.0.0.1.
func StartTokenServer() (*TokenServer, error) {
	ln, err := net.Listen("tcp", Host+":0")
	if err != nil {
		return nil, err
	}
	ts := &TokenServer{URL: "http://" + ln.Addr().String(), TTL: time.Hour, access: map[string]grant{}, refresh: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", ts.token)
	mux.HandleFunc("POST /introspect", ts.introspect)
	ts.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = ts.srv.Serve(ln) }()
	return ts, nil
}

// TokenURL is the token endpoint for an oauth2.Config.
func (ts *TokenServer) TokenURL() string { return ts.URL + "/token" }

// IntrospectionURL is what Dovecot asks.
func (ts *TokenServer) IntrospectionURL() string { return ts.URL + "/introspect" }

// Close stops the server.
func (ts *TokenServer) Close() error { return ts.srv.Close() }

func randToken(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Grant issues a refresh token for user, as the consent screen would.
func (ts *TokenServer) Grant(user string) (refreshToken string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	rt := randToken("rt-")
	ts.refresh[rt] = user
	return rt
}

// Issue returns an access token for user valid for ttl (may be negative to
// make an already expired token).
func (ts *TokenServer) Issue(user string, ttl time.Duration) string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	at := randToken("at-")
	ts.access[at] = grant{user: user, expires: time.Now().Add(ttl)}
	ts.issued++
	return at
}

// Issued counts access tokens issued so far.
func (ts *TokenServer) Issued() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.issued
}

// ExpireAll makes every access token issued so far invalid.
func (ts *TokenServer) ExpireAll() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for k, g := range ts.access {
		g.expires = time.Now().Add(-time.Second)
		ts.access[k] = g
	}
}

// Revoke invalidates a refresh token.
func (ts *TokenServer) Revoke(refreshToken string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	delete(ts.refresh, refreshToken)
}

func (ts *TokenServer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "refresh_token" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "unsupported_grant_type"})
		return
	}
	rt := r.Form.Get("refresh_token")
	ts.mu.Lock()
	user, ok := ts.refresh[rt]
	ts.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_grant"})
		return
	}
	at := ts.Issue(user, ts.TTL)
	writeJSON(w, http.StatusOK, map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": int(ts.TTL.Seconds()), "refresh_token": rt})
}

func (ts *TokenServer) introspect(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	tok := r.Form.Get("token")
	ts.mu.Lock()
	g, ok := ts.access[tok]
	ts.mu.Unlock()
	if !ok || time.Now().After(g.expires) {
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"active": true, "username": g.user, "exp": g.expires.Unix()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
