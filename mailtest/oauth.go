package mailtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// OAuthServer is an in-process OAuth 2.0 authorization server and OpenID
// Provider laid out like the Microsoft identity platform (v2.0 endpoints)
// and answering with its error bodies, so connect flows, token refresh and
// their failures can be tested without a network:
//
//	GET|POST /{tenant}/oauth2/v2.0/authorize    authorization code (RFC 6749 4.1) with PKCE (RFC 7636), a login form or AutoApprove
//	POST     /{tenant}/oauth2/v2.0/token        authorization_code, refresh_token, client_credentials, device_code (RFC 8628)
//	POST     /{tenant}/oauth2/v2.0/devicecode   device authorization (RFC 8628 3.1)
//	GET|POST /{tenant}/oauth2/v2.0/devicelogin  where a person enters the user code
//	GET|POST /{tenant}/v2.0/adminconsent        Microsoft's admin-consent endpoint
//	GET      /{tenant}/discovery/v2.0/keys      JWKS of the RS256 key signing id_tokens
//
// Followed: RFC 6749 (errors in 4.1.2.1 and 5.2, refresh in 6: a refresh
// token is rotated on use, and a rotated-away token presented again is
// treated as stolen: the whole grant is revoked, as RFC 9700 4.14.2
// advises), RFC 7636 (plain and S256), RFC 8628 (authorization_pending,
// slow_down with the interval raised by 5 seconds, expired_token), OpenID
// Connect Core 1.0 (id_token with nonce, iss, aud, exp; signed RS256), and
// the Microsoft identity platform's error body: error, error_description
// starting with "AADSTSnnnn:", error_codes, timestamp, trace_id,
// correlation_id, error_uri
// (learn.microsoft.com/entra/identity-platform/reference-error-codes).
// The AADSTS numbers used: 50173 grant revoked (password changed), 700082
// refresh token expired by inactivity, 70008 expired code or token, 54005
// code already redeemed, 501481 code_verifier mismatch, 50148 PKCE missing,
// 70016 authorization pending, 70019 device code expired, 65004 consent
// declined, 7000215 invalid client secret, 700016 unknown application,
// 50011 redirect URI mismatch, 1002012 client credentials scope not .default,
// 7000218 no client credential presented, and for client assertions 700027
// bad signature or thumbprint, 700024 outside its time range, 700021 iss or
// sub not the client, 50027 malformed or a replayed jti.
type OAuthServer struct {
	// URL is the server's base, http://127.0.0.1:port.
	URL string
	// Tenant is the tenant ID put in id_tokens and admin-consent answers.
	Tenant string

	srv  *httptest.Server
	opts OAuthOptions
	key  *rsa.PrivateKey

	mu       sync.Mutex
	clients  map[string]OAuthClient
	codes    map[string]*oauthCode
	devices  map[string]*oauthDevice // by device_code
	grants   []*oauthGrant
	refresh  map[string]*oauthRefresh // by refresh token
	access   map[string]*oauthAccess  // by access token
	stats    OAuthStats
	nonceFix func(string) string
	jtis     map[string]time.Time // client assertion jti -> its exp
}

// OAuthOptions configure NewOAuthServer. The zero value serves a login form
// and rotates refresh tokens.
type OAuthOptions struct {
	// AutoApprove, when not empty, approves every authorization and
	// device request at once as this account (no login form).
	AutoApprove string
	// Users are the accounts of the login form: address -> password.
	Users map[string]string
	// AccessTTL is the lifetime of access tokens (default one hour).
	AccessTTL time.Duration
	// DeviceInterval is the polling interval the device endpoint asks for
	// (default 5 seconds; RFC 8628 3.2).
	DeviceInterval time.Duration
	// DeviceTTL is the lifetime of device codes (default 15 minutes).
	DeviceTTL time.Duration
	// DeviceSlowDownFirst answers the first poll of every device code
	// slow_down (RFC 8628 lets the server ask at any time), to test that a
	// client honours it.
	DeviceSlowDownFirst bool
	// NoRotation keeps refresh tokens across refreshes (Google's
	// behaviour); by default each refresh returns a new one.
	NoRotation bool
	// Now is the clock of expiries (default time.Now). Device polling
	// spacing is measured with the real clock, as the client's timer is.
	Now func() time.Time
}

// OAuthClient is a registered application.
type OAuthClient struct {
	ID string
	// Secret is empty for a public client (PKCE only).
	Secret string
	// RedirectURIs are compared exactly (RFC 6749 3.1.2.3).
	RedirectURIs []string
	// Certificate, when set, is a certificate credential: the client may
	// authenticate with a client assertion (RFC 7523 2.2) instead of the
	// secret. The server checks the assertion's signature with this
	// certificate's key, its x5t#S256 or x5t thumbprint, aud (this
	// tenant's token endpoint), iss = sub = the client ID, exp, nbf, and
	// refuses a jti seen before while it is unexpired (RFC 7523 3, item 7).
	Certificate *x509.Certificate
}

// OAuthStats counts what the server answered.
type OAuthStats struct {
	CodesIssued, TokensIssued, Refreshes, Rotations int
	// ReuseDetected counts rotated-away refresh tokens presented again.
	ReuseDetected int
	// SlowDowns counts slow_down answers; Violations counts polls made
	// before the raised interval had passed after one.
	SlowDowns, Violations, Pending int
	// Assertions counts accepted client assertions; AssertionsRefused
	// those refused (signature, claims, time or replay).
	Assertions, AssertionsRefused int
}

type oauthGrant struct {
	account, client string
	scopes          []string
	revoked         string // AADSTS reason when dead
}

type oauthCode struct {
	grant             *oauthGrant
	redirect, nonce   string
	challenge, method string
	expires           time.Time
	used              bool
}

type oauthDevice struct {
	client, userCode string
	scopes           []string
	expires          time.Time
	approved         string // account
	declined, done   bool
	interval         time.Duration
	last             time.Time // real clock
	slowed           bool
}

type oauthRefresh struct {
	grant   *oauthGrant
	rotated bool // replaced by a newer one
}

type oauthAccess struct {
	grant   *oauthGrant
	expires time.Time
}

// NewOAuthServer starts a server; Close stops it.
func NewOAuthServer(opts OAuthOptions) (*OAuthServer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	if opts.AccessTTL <= 0 {
		opts.AccessTTL = time.Hour
	}
	if opts.DeviceInterval <= 0 {
		opts.DeviceInterval = 5 * time.Second
	}
	if opts.DeviceTTL <= 0 {
		opts.DeviceTTL = 15 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &OAuthServer{
		Tenant: "9188040d-6c67-4c5b-b112-36a304b66dad", opts: opts, key: key,
		clients: map[string]OAuthClient{}, codes: map[string]*oauthCode{}, devices: map[string]*oauthDevice{},
		refresh: map[string]*oauthRefresh{}, access: map[string]*oauthAccess{}, jtis: map[string]time.Time{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/{tenant}/oauth2/v2.0/authorize", s.authorize)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.token)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/devicecode", s.deviceCode)
	mux.HandleFunc("/{tenant}/oauth2/v2.0/devicelogin", s.deviceLogin)
	mux.HandleFunc("/{tenant}/v2.0/adminconsent", s.adminConsent)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", s.jwks)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	return s, nil
}

// Close stops the server.
func (s *OAuthServer) Close() { s.srv.Close() }

// AddClient registers an application.
func (s *OAuthServer) AddClient(c OAuthClient) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[c.ID] = c
}

// AuthURL, TokenURL, DeviceAuthURL, AdminConsentURL and JWKSURL are the
// endpoints for tenant ("common", "organizations" or a tenant ID).
func (s *OAuthServer) AuthURL(tenant string) string {
	return s.URL + "/" + tenant + "/oauth2/v2.0/authorize"
}

// TokenURL is the token endpoint of tenant.
func (s *OAuthServer) TokenURL(tenant string) string {
	return s.URL + "/" + tenant + "/oauth2/v2.0/token"
}

// DeviceAuthURL is the device authorization endpoint of tenant.
func (s *OAuthServer) DeviceAuthURL(tenant string) string {
	return s.URL + "/" + tenant + "/oauth2/v2.0/devicecode"
}

// AdminConsentURL is the admin-consent endpoint of tenant.
func (s *OAuthServer) AdminConsentURL(tenant string) string {
	return s.URL + "/" + tenant + "/v2.0/adminconsent"
}

// JWKSURL is the key set of tenant.
func (s *OAuthServer) JWKSURL(tenant string) string {
	return s.URL + "/" + tenant + "/discovery/v2.0/keys"
}

// Issuer is the iss of the id_tokens this server signs.
func (s *OAuthServer) Issuer() string { return s.URL + "/" + s.Tenant + "/v2.0" }

// Stats returns the counters.
func (s *OAuthServer) Stats() OAuthStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// RevokeGrant kills every grant of account as a password change or an
// admin's "revoke sessions" does: its refresh tokens then fail with
// invalid_grant AADSTS50173 and its access tokens stop being valid.
func (s *OAuthServer) RevokeGrant(account string) { s.kill(account, "50173") }

// ExpireGrant makes account's refresh tokens fail as inactive for too long
// (invalid_grant AADSTS700082).
func (s *OAuthServer) ExpireGrant(account string) { s.kill(account, "700082") }

func (s *OAuthServer) kill(account, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.grants {
		if strings.EqualFold(g.account, account) && g.revoked == "" {
			g.revoked = code
		}
	}
}

// SetNonceOverride makes the server put f(nonce) in id_tokens instead of
// the nonce of the request (a scripted fault: a replayed id_token); nil
// restores the normal behaviour.
func (s *OAuthServer) SetNonceOverride(f func(string) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nonceFix = f
}

// CheckAccessToken reports the account and scopes of a live access token,
// for test servers of the APIs the token is presented to.
func (s *OAuthServer) CheckAccessToken(tok string) (account string, scopes []string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.access[tok]
	if a == nil || a.grant.revoked != "" || !s.opts.Now().Before(a.expires) {
		return "", nil, false
	}
	return a.grant.account, slices.Clone(a.grant.scopes), true
}

// ApproveDevice approves the pending device request with userCode as
// account (what a person does at the verification URI).
func (s *OAuthServer) ApproveDevice(userCode, account string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.devices {
		if d.userCode == userCode && !d.done {
			d.approved = account
			return true
		}
	}
	return false
}

// Microsoft identity platform error texts (reference-error-codes).
var aadsts = map[string]string{
	"50173":   "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.",
	"700082":  "The refresh token has expired due to inactivity.",
	"70008":   "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
	"54005":   "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
	"501481":  "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
	"50148":   "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
	"70016":   "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
	"70019":   "Verification code expired.",
	"65004":   "User declined to consent to access the app.",
	"7000215": "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
	"700016":  "Application was not found in the directory.",
	"50011":   "The redirect URI specified in the request does not match the redirect URIs configured for the application.",
	"1002012": "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.",
	"9002313": "Invalid request. Request is malformed or invalid.",
	"7000218": "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
	"700027":  "Client assertion failed signature validation.",
	"700024":  "Client assertion is not within its valid time range.",
	"700021":  "Client assertion application identifier doesn't match 'client_id' parameter.",
	"50027":   "JWT token is invalid or malformed.",
	"70000":   "The provided grant is invalid or malformed.",
}

func (s *OAuthServer) newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// oauthError writes the identity platform's error body.
func (s *OAuthServer) oauthError(w http.ResponseWriter, status int, code, aad, extra string) {
	now := s.opts.Now().UTC()
	trace, corr := s.newID(), s.newID()
	desc := ""
	var codes []int
	if aad != "" {
		desc = "AADSTS" + aad + ": " + aadsts[aad]
		var n int
		_, _ = fmt.Sscan(aad, &n)
		codes = []int{n}
	}
	if extra != "" {
		desc += " " + extra
	}
	desc += "\r\nTrace ID: " + trace + "\r\nCorrelation ID: " + corr + "\r\nTimestamp: " + now.Format("2006-01-02 15:04:05Z")
	body := map[string]any{
		"error": code, "error_description": desc, "error_codes": codes,
		"timestamp": now.Format("2006-01-02 15:04:05Z"), "trace_id": trace, "correlation_id": corr,
	}
	if aad != "" {
		body["error_uri"] = "https://login.microsoftonline.com/error?code=" + aad
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func randToken(prefix string) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// redirectWith sends the browser back to the client (RFC 6749 4.1.2).
func redirectWith(w http.ResponseWriter, r *http.Request, to string, v url.Values) {
	u, err := url.Parse(to)
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	q := u.Query()
	for k, vs := range v {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

var oauthLoginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Sign in (mailtest)</title></head><body>
<h1>Sign in to {{.Client}}</h1>
<p>Requested: {{.Scope}}</p>
{{if .Failed}}<p id="login-error">Wrong address or password.</p>{{end}}
<form method="post" id="login">
{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<label>Address <input name="login" id="login-name" value="{{.Hint}}"></label>
<label>Password <input name="passwd" id="login-password" type="password"></label>
<button name="decision" value="accept" id="login-accept">Accept</button>
<button name="decision" value="deny" id="login-deny">Cancel</button>
</form></body></html>`))

func (s *OAuthServer) login(w http.ResponseWriter, r *http.Request, hidden url.Values, client, scope string) (account string, denied, shown bool) {
	if s.opts.AutoApprove != "" {
		return s.opts.AutoApprove, false, false
	}
	if r.Method == http.MethodPost && r.PostForm.Get("decision") != "" {
		if r.PostForm.Get("decision") == "deny" {
			return "", true, false
		}
		user := r.PostForm.Get("login")
		want, ok := s.opts.Users[strings.ToLower(user)]
		if ok && subtle.ConstantTimeCompare([]byte(want), []byte(r.PostForm.Get("passwd"))) == 1 {
			return strings.ToLower(user), false, false
		}
		s.showLogin(w, hidden, client, scope, user, true)
		return "", false, true
	}
	s.showLogin(w, hidden, client, scope, hidden.Get("login_hint"), false)
	return "", false, true
}

func (s *OAuthServer) showLogin(w http.ResponseWriter, hidden url.Values, client, scope, hint string, failed bool) {
	h := map[string]string{}
	for k := range hidden {
		h[k] = hidden.Get(k)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = oauthLoginPage.Execute(w, map[string]any{"Client": client, "Scope": scope, "Hidden": h, "Hint": hint, "Failed": failed})
}

func (s *OAuthServer) authorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	q := r.Form
	params := url.Values{}
	for _, k := range []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method", "login_hint", "prompt", "access_type"} {
		if v := q.Get(k); v != "" {
			params.Set(k, v)
		}
	}
	s.mu.Lock()
	c, ok := s.clients[q.Get("client_id")]
	s.mu.Unlock()
	// RFC 6749 4.1.2.1: an unknown client or a redirect URI not registered
	// is shown to the person, never redirected to.
	if !ok {
		http.Error(w, "AADSTS700016: "+aadsts["700016"], http.StatusBadRequest)
		return
	}
	redirect := q.Get("redirect_uri")
	if !slices.Contains(c.RedirectURIs, redirect) {
		http.Error(w, "AADSTS50011: "+aadsts["50011"], http.StatusBadRequest)
		return
	}
	fail := func(code, aad string) {
		v := url.Values{"error": {code}, "state": {q.Get("state")}}
		if aad != "" {
			v.Set("error_description", "AADSTS"+aad+": "+aadsts[aad])
		}
		redirectWith(w, r, redirect, v)
	}
	if q.Get("response_type") != "code" {
		fail("unsupported_response_type", "")
		return
	}
	method := q.Get("code_challenge_method")
	if q.Get("code_challenge") != "" && method == "" {
		method = "plain"
	}
	if method != "" && method != "plain" && method != "S256" {
		fail("invalid_request", "9002313")
		return
	}
	if c.Secret == "" && q.Get("code_challenge") == "" {
		fail("invalid_request", "50148") // public clients must use PKCE
		return
	}
	account, denied, shown := s.login(w, r, params, c.ID, q.Get("scope"))
	if shown {
		return
	}
	if denied {
		fail("access_denied", "65004")
		return
	}
	scopes := strings.Fields(q.Get("scope"))
	if q.Get("access_type") == "offline" && !slices.Contains(scopes, "offline_access") {
		scopes = append(scopes, "offline_access") // Google's way of asking for a refresh token
	}
	code := randToken("code.")
	s.mu.Lock()
	g := &oauthGrant{account: account, client: c.ID, scopes: scopes}
	s.grants = append(s.grants, g)
	s.codes[code] = &oauthCode{grant: g, redirect: redirect, nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), method: method,
		expires: s.opts.Now().Add(10 * time.Minute)}
	s.stats.CodesIssued++
	s.mu.Unlock()
	redirectWith(w, r, redirect, url.Values{"code": {code}, "state": {q.Get("state")}})
}

// clientAuth authenticates the client of a token request: HTTP Basic or
// client_secret in the body (RFC 6749 2.3.1), a client assertion (RFC 7523
// 2.2) for a client with a certificate, or none for a public client.
// confidential reports that the client proved a credential.
func (s *OAuthServer) clientAuth(w http.ResponseWriter, r *http.Request) (c OAuthClient, confidential, ok bool) {
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if at := r.PostForm.Get("client_assertion_type"); at != "" || r.PostForm.Get("client_assertion") != "" {
		return s.assertionAuth(w, r, id, at)
	}
	s.mu.Lock()
	c, ok = s.clients[id]
	s.mu.Unlock()
	if !ok {
		s.oauthError(w, http.StatusBadRequest, "unauthorized_client", "700016", "")
		return c, false, false
	}
	if c.Secret == "" && c.Certificate != nil {
		// A confidential client must present its credential.
		s.oauthError(w, http.StatusUnauthorized, "invalid_client", "7000218", "")
		return c, false, false
	}
	if c.Secret != "" && subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) != 1 {
		s.oauthError(w, http.StatusUnauthorized, "invalid_client", "7000215", "")
		return c, false, false
	}
	return c, c.Secret != "", true
}

// assertionAuth authenticates a client by its client assertion. The
// client_id parameter is optional (RFC 7523 3: iss identifies the client);
// when sent it must be the assertion's iss.
func (s *OAuthServer) assertionAuth(w http.ResponseWriter, r *http.Request, id, typ string) (OAuthClient, bool, bool) {
	jwt := r.PostForm.Get("client_assertion")
	if typ != clientAssertionType || jwt == "" {
		s.oauthError(w, http.StatusBadRequest, "invalid_request", "50027", "client_assertion_type must be "+clientAssertionType+".")
		return OAuthClient{}, false, false
	}
	if id == "" {
		id = unverifiedIss(jwt)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, known := s.clients[id]
	if !known {
		s.oauthError(w, http.StatusBadRequest, "unauthorized_client", "700016", "")
		return c, false, false
	}
	now := s.opts.Now()
	a, err := verifyAssertion(jwt, s.URL+"/"+r.PathValue("tenant")+"/oauth2/v2.0/token", c.ID, c.Certificate, now)
	if err == nil {
		for j, exp := range s.jtis {
			if !now.Before(exp) {
				delete(s.jtis, j)
			}
		}
		if _, seen := s.jtis[a.jti]; seen {
			err = errAssertionJTI
		} else {
			s.jtis[a.jti] = a.exp
		}
	}
	if err != nil {
		s.stats.AssertionsRefused++
		code := map[error]string{errAssertionSignature: "700027", errAssertionTime: "700024", errAssertionClaims: "700021"}[err]
		if code == "" {
			code = "50027"
		}
		s.oauthError(w, http.StatusUnauthorized, "invalid_client", code, err.Error()+".")
		return c, false, false
	}
	s.stats.Assertions++
	return c, true, true
}

// unverifiedIss reads the iss of a JWT without checking it, to find the
// client whose certificate then checks it.
func unverifiedIss(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct{ Iss string }
	_ = json.Unmarshal(b, &c)
	return c.Iss
}

func (s *OAuthServer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.oauthError(w, http.StatusBadRequest, "invalid_request", "9002313", "")
		return
	}
	c, confidential, ok := s.clientAuth(w, r)
	if !ok {
		return
	}
	f := r.PostForm
	switch f.Get("grant_type") {
	case "authorization_code":
		s.codeGrant(w, c, f)
	case "refresh_token":
		s.refreshGrant(w, c, f)
	case "client_credentials":
		if !confidential {
			s.oauthError(w, http.StatusUnauthorized, "invalid_client", "7000218", "")
			return
		}
		scope := f.Get("scope")
		if !strings.HasSuffix(scope, "/.default") {
			s.oauthError(w, http.StatusBadRequest, "invalid_scope", "1002012", "")
			return
		}
		s.mu.Lock()
		g := &oauthGrant{account: "app:" + c.ID, client: c.ID, scopes: []string{scope}}
		s.grants = append(s.grants, g)
		s.mu.Unlock()
		s.issue(w, g, "", false)
	case "urn:ietf:params:oauth:grant-type:device_code":
		s.deviceGrant(w, c, f)
	default:
		s.oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "70000", "")
	}
}

func pkceOK(method, challenge, verifier string) bool {
	if verifier == "" {
		return false
	}
	if method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
	}
	return subtle.ConstantTimeCompare([]byte(verifier), []byte(challenge)) == 1
}

func (s *OAuthServer) codeGrant(w http.ResponseWriter, c OAuthClient, f url.Values) {
	s.mu.Lock()
	code := s.codes[f.Get("code")]
	switch {
	case code == nil:
		s.mu.Unlock()
		s.oauthError(w, http.StatusBadRequest, "invalid_grant", "70000", "")
		return
	case code.used:
		// RFC 6749 4.1.2: a code used twice revokes what it gave.
		code.grant.revoked = "54005"
		s.mu.Unlock()
		s.oauthError(w, http.StatusBadRequest, "invalid_grant", "54005", "")
		return
	}
	code.used = true
	switch {
	case code.grant.client != c.ID:
		s.mu.Unlock()
		s.oauthError(w, http.StatusBadRequest, "invalid_grant", "70000", "The code was issued to another client.")
		return
	case code.redirect != f.Get("redirect_uri"):
		s.mu.Unlock()
		s.oauthError(w, http.StatusBadRequest, "invalid_grant", "50011", "")
		return
	case !s.opts.Now().Before(code.expires):
		s.mu.Unlock()
		s.oauthError(w, http.StatusBadRequest, "invalid_grant", "70008", "")
		return
	case code.challenge != "" && !pkceOK(code.method, code.challenge, f.Get("code_verifier")):
		s.mu.Unlock()
		s.oauthError(w, http.StatusBadRequest, "invalid_grant", "501481", "")
		return
	}
	nonce := code.nonce
	if s.nonceFix != nil {
		nonce = s.nonceFix(nonce)
	}
	s.mu.Unlock()
	s.issue(w, code.grant, nonce, true)
}

func (s *OAuthServer) refreshGrant(w http.ResponseWriter, c OAuthClient, f url.Values) {
	s.mu.Lock()
	rt := s.refresh[f.Get("refresh_token")]
	switch {
	case rt == nil || rt.grant.client != c.ID:
		s.mu.Unlock()
		s.oauthError(w, http.StatusBadRequest, "invalid_grant", "70000", "")
		return
	case rt.grant.revoked != "":
		why := rt.grant.revoked
		s.mu.Unlock()
		s.oauthError(w, http.StatusBadRequest, "invalid_grant", why, "")
		return
	case rt.rotated:
		// Reuse of a rotated-away token: revoke the grant (RFC 9700 4.14.2).
		rt.grant.revoked = "70008"
		s.stats.ReuseDetected++
		s.mu.Unlock()
		s.oauthError(w, http.StatusBadRequest, "invalid_grant", "70008", "The refresh token was already used; the grant is revoked.")
		return
	}
	if sc := strings.Fields(f.Get("scope")); len(sc) > 0 {
		for _, x := range sc {
			if x != "openid" && x != "profile" && x != "email" && !slices.Contains(rt.grant.scopes, x) {
				s.mu.Unlock()
				s.oauthError(w, http.StatusBadRequest, "invalid_scope", "70000", "A scope not granted was asked for.")
				return
			}
		}
	}
	s.stats.Refreshes++
	if !s.opts.NoRotation {
		rt.rotated = true
		s.stats.Rotations++
	}
	s.mu.Unlock()
	if s.opts.NoRotation {
		s.issueKeep(w, rt.grant, f.Get("refresh_token"))
		return
	}
	s.issue(w, rt.grant, "", false)
}

// issue answers a token request with a new access token, a refresh token
// when offline_access was granted, and an id_token when openid was (and a
// nonce when the request had one).
func (s *OAuthServer) issue(w http.ResponseWriter, g *oauthGrant, nonce string, withID bool) {
	s.issueWith(w, g, nonce, withID, "")
}

func (s *OAuthServer) issueKeep(w http.ResponseWriter, g *oauthGrant, rt string) {
	s.issueWith(w, g, "", false, rt)
}

func (s *OAuthServer) issueWith(w http.ResponseWriter, g *oauthGrant, nonce string, withID bool, keepRT string) {
	now := s.opts.Now()
	at := randToken("at.")
	body := map[string]any{"token_type": "Bearer", "access_token": at, "expires_in": int(s.opts.AccessTTL / time.Second),
		"ext_expires_in": int(s.opts.AccessTTL / time.Second), "scope": strings.Join(g.scopes, " ")}
	s.mu.Lock()
	s.access[at] = &oauthAccess{grant: g, expires: now.Add(s.opts.AccessTTL)}
	if slices.Contains(g.scopes, "offline_access") {
		rt := keepRT
		if rt == "" {
			rt = randToken("rt.")
			s.refresh[rt] = &oauthRefresh{grant: g}
		}
		body["refresh_token"] = rt
	}
	s.stats.TokensIssued++
	s.mu.Unlock()
	if withID && slices.Contains(g.scopes, "openid") {
		claims := map[string]any{
			"iss": s.Issuer(), "aud": g.client, "sub": fmt.Sprintf("%x", sha256.Sum256([]byte(g.account)))[:32],
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "tid": s.Tenant, "ver": "2.0",
			"preferred_username": g.account, "email": g.account, "name": g.account,
		}
		if nonce != "" {
			claims["nonce"] = nonce
		}
		idt, err := s.sign(claims)
		if err != nil {
			s.oauthError(w, http.StatusInternalServerError, "server_error", "", "signing failed")
			return
		}
		body["id_token"] = idt
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	_ = json.NewEncoder(w).Encode(body)
}

const oauthKeyID = "mailtest-rs256"

// sign makes a compact JWS (RFC 7515) with RS256.
func (s *OAuthServer) sign(claims map[string]any) (string, error) {
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": oauthKeyID})
	p, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

func (s *OAuthServer) jwks(w http.ResponseWriter, _ *http.Request) {
	pub := s.key.PublicKey
	k := map[string]string{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": oauthKeyID,
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{k}})
}

// userCode is 8 letters without vowels, as RFC 8628 6.1 suggests.
func userCode() string {
	const alphabet = "BCDFGHJKLMNPQRSTVWXZ"
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func (s *OAuthServer) deviceCode(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.oauthError(w, http.StatusBadRequest, "invalid_request", "9002313", "")
		return
	}
	s.mu.Lock()
	c, ok := s.clients[r.PostForm.Get("client_id")]
	s.mu.Unlock()
	if !ok {
		s.oauthError(w, http.StatusBadRequest, "unauthorized_client", "700016", "")
		return
	}
	dc, uc := randToken("dc."), userCode()
	d := &oauthDevice{client: c.ID, userCode: uc, scopes: strings.Fields(r.PostForm.Get("scope")),
		expires: s.opts.Now().Add(s.opts.DeviceTTL), interval: s.opts.DeviceInterval}
	if s.opts.AutoApprove != "" {
		d.approved = s.opts.AutoApprove
	}
	s.mu.Lock()
	s.devices[dc] = d
	s.mu.Unlock()
	verify := s.URL + "/" + r.PathValue("tenant") + "/oauth2/v2.0/devicelogin"
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"device_code": dc, "user_code": uc, "verification_uri": verify,
		"expires_in": int(s.opts.DeviceTTL / time.Second), "interval": int(s.opts.DeviceInterval / time.Second),
		"message": "To sign in, use a web browser to open the page " + verify + " and enter the code " + uc + " to authenticate.",
	})
}

func (s *OAuthServer) deviceGrant(w http.ResponseWriter, c OAuthClient, f url.Values) {
	now := time.Now() // the client's timer is on the real clock
	s.mu.Lock()
	d := s.devices[f.Get("device_code")]
	if d == nil || d.client != c.ID || d.done {
		s.mu.Unlock()
		s.oauthError(w, http.StatusBadRequest, "invalid_grant", "70000", "")
		return
	}
	if !s.opts.Now().Before(d.expires) {
		d.done = true
		s.mu.Unlock()
		s.oauthError(w, http.StatusBadRequest, "expired_token", "70019", "")
		return
	}
	// RFC 8628 3.5: slow_down when the client polls faster than asked;
	// the interval is then 5 seconds longer for this and every later poll.
	// Arrival times jitter with the network and scheduling, so a poll is
	// too early only when it comes more than a second before the interval.
	early := !d.last.IsZero() && now.Sub(d.last) < d.interval-time.Second
	scripted := d.last.IsZero() && s.opts.DeviceSlowDownFirst
	d.last = now
	if early || scripted {
		if early && d.slowed {
			s.stats.Violations++
		}
		d.interval += 5 * time.Second
		d.slowed = true
		s.stats.SlowDowns++
		s.mu.Unlock()
		s.oauthError(w, http.StatusBadRequest, "slow_down", "70016", "Slow down: poll less often.")
		return
	}
	switch {
	case d.declined:
		d.done = true
		s.mu.Unlock()
		s.oauthError(w, http.StatusBadRequest, "authorization_declined", "65004", "")
		return
	case d.approved == "":
		s.stats.Pending++
		s.mu.Unlock()
		s.oauthError(w, http.StatusBadRequest, "authorization_pending", "70016", "")
		return
	}
	d.done = true
	g := &oauthGrant{account: d.approved, client: c.ID, scopes: d.scopes}
	s.grants = append(s.grants, g)
	s.mu.Unlock()
	s.issue(w, g, "", true)
}

var deviceLoginPage = template.Must(template.New("device").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Device sign-in (mailtest)</title></head><body>
<h1>Enter code</h1>{{if .Msg}}<p id="device-msg">{{.Msg}}</p>{{end}}
<form method="post"><input name="otc" id="device-code"><input name="login" id="login-name"><input name="passwd" id="login-password" type="password">
<button name="decision" value="accept" id="device-accept">Next</button><button name="decision" value="deny" id="device-deny">Cancel</button></form></body></html>`))

func (s *OAuthServer) deviceLogin(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	msg := ""
	if r.Method == http.MethodPost {
		code := strings.ToUpper(strings.TrimSpace(r.PostForm.Get("otc")))
		user := strings.ToLower(r.PostForm.Get("login"))
		want, ok := s.opts.Users[user]
		s.mu.Lock()
		var dev *oauthDevice
		for _, d := range s.devices {
			if d.userCode == code && !d.done {
				dev = d
			}
		}
		switch {
		case dev == nil:
			msg = "Unknown or expired code."
		case r.PostForm.Get("decision") == "deny":
			dev.declined = true
			msg = "Declined."
		case !ok || subtle.ConstantTimeCompare([]byte(want), []byte(r.PostForm.Get("passwd"))) != 1:
			msg = "Wrong address or password."
		default:
			dev.approved = user
			msg = "Signed in. You can close this page."
		}
		s.mu.Unlock()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = deviceLoginPage.Execute(w, map[string]string{"Msg": msg})
}

func (s *OAuthServer) adminConsent(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	q := r.Form
	s.mu.Lock()
	c, ok := s.clients[q.Get("client_id")]
	s.mu.Unlock()
	if !ok {
		http.Error(w, "AADSTS700016: "+aadsts["700016"], http.StatusBadRequest)
		return
	}
	redirect := q.Get("redirect_uri")
	if !slices.Contains(c.RedirectURIs, redirect) {
		http.Error(w, "AADSTS50011: "+aadsts["50011"], http.StatusBadRequest)
		return
	}
	params := url.Values{}
	for _, k := range []string{"client_id", "redirect_uri", "scope", "state"} {
		params.Set(k, q.Get(k))
	}
	_, denied, shown := s.login(w, r, params, c.ID, q.Get("scope"))
	if shown {
		return
	}
	if denied {
		// As documented: error and error_description, and the state.
		redirectWith(w, r, redirect, url.Values{"error": {"access_denied"}, "error_description": {"AADSTS65004: " + aadsts["65004"]}, "state": {q.Get("state")}})
		return
	}
	redirectWith(w, r, redirect, url.Values{"admin_consent": {"True"}, "tenant": {s.Tenant}, "scope": {q.Get("scope")}, "state": {q.Get("state")}})
}
