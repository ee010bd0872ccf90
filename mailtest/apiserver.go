package mailtest

import (
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
)

// apiServer is what the HTTPS API servers (GraphServer, GmailServer)
// share: the TLS listener on loopback, the log of requests served, the
// scripted outage and refusal of tokens, and the bearer tokens accepted.
// Its mu guards the embedding server's state too.
type apiServer struct {
	mu       sync.Mutex
	srv      *httptest.Server
	tokens   map[string][]string // bearer token -> users it may access
	requests []string
	down     bool
	refuse   bool
}

// start serves h over HTTPS on 127.0.0.1:0 and returns the base URL.
func (s *apiServer) start(h http.HandlerFunc) string {
	s.tokens = map[string][]string{}
	s.srv = httptest.NewUnstartedServer(h)
	s.srv.StartTLS()
	return s.srv.URL
}

// Client returns an HTTP client that trusts the server's certificate.
func (s *apiServer) Client() *http.Client { return s.srv.Client() }

// Port of the listener.
func (s *apiServer) Port() int { return s.srv.Listener.Addr().(*net.TCPAddr).Port }

// Certificate returns the server's certificate: add it to the client's
// RootCAs.
func (s *apiServer) Certificate() *x509.Certificate { return s.srv.Certificate() }

// Requests returns "METHOD path?query" of every request served, in order.
func (s *apiServer) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// SetDown makes the server close every connection at once (true).
func (s *apiServer) SetDown(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

// SetTokensRefused makes the server refuse every bearer token with 401.
func (s *apiServer) SetTokensRefused(refuse bool) { s.mu.Lock(); s.refuse = refuse; s.mu.Unlock() }

// admit logs r and, while the server is down, closes the connection and
// returns false.
func (s *apiServer) admit(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
	down := s.down
	s.mu.Unlock()
	if down {
		hijackClose(w)
		return false
	}
	return true
}

// bearer returns r's bearer token and the users it may access; ok is
// false when the token is missing, unknown or refused. Called with mu
// held.
func (s *apiServer) bearer(r *http.Request) (tok string, allowed []string, ok bool) {
	tok, isBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	allowed, known := s.tokens[tok]
	return tok, allowed, isBearer && known && tok != "" && !s.refuse
}

// hijackClose closes the connection under w without an answer.
func hijackClose(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			_ = c.Close()
		}
	}
}
