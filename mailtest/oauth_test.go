package mailtest_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailtest"
)

const cb = "http://127.0.0.1:9/cb"

func newOAuth(t *testing.T, opts mailtest.OAuthOptions) *mailtest.OAuthServer {
	t.Helper()
	s, err := mailtest.NewOAuthServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	s.AddClient(mailtest.OAuthClient{ID: "c", Secret: "s", RedirectURIs: []string{cb}})
	s.AddClient(mailtest.OAuthClient{ID: "public", RedirectURIs: []string{cb}})
	return s
}

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type tokenAnswer struct {
	Status                           int
	AccessToken, RefreshToken, Error string
	Description                      string `json:"error_description"`
	Codes                            []int  `json:"error_codes"`
	TraceID                          string `json:"trace_id"`
	CorrelationID                    string `json:"correlation_id"`
	Timestamp, URI                   string
}

func token(t *testing.T, s *mailtest.OAuthServer, form url.Values) tokenAnswer {
	t.Helper()
	resp, err := http.PostForm(s.TokenURL("organizations"), form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	a := tokenAnswer{Status: resp.StatusCode}
	str := func(k string) string { v, _ := raw[k].(string); return v }
	a.AccessToken, a.RefreshToken, a.Error, a.Description = str("access_token"), str("refresh_token"), str("error"), str("error_description")
	a.TraceID, a.CorrelationID, a.Timestamp, a.URI = str("trace_id"), str("correlation_id"), str("timestamp"), str("error_uri")
	if cs, ok := raw["error_codes"].([]any); ok {
		for _, c := range cs {
			a.Codes = append(a.Codes, int(c.(float64)))
		}
	}
	return a
}

func code(t *testing.T, s *mailtest.OAuthServer, q url.Values) url.Values {
	t.Helper()
	resp, err := noFollow.Get(s.AuthURL("organizations") + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d", resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	return loc.Query()
}

func TestOAuthServerAuthorizeRefusesUnknownClientAndRedirect(t *testing.T) {
	s := newOAuth(t, mailtest.OAuthOptions{AutoApprove: "a@x.example"})
	for name, q := range map[string]url.Values{
		"unknown client":        {"client_id": {"nope"}, "redirect_uri": {cb}, "response_type": {"code"}},
		"unregistered redirect": {"client_id": {"c"}, "redirect_uri": {"http://evil.example/cb"}, "response_type": {"code"}},
	} {
		resp, err := noFollow.Get(s.AuthURL("organizations") + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d to %q; RFC 6749 4.1.2.1 says show an error, never redirect", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	q := code(t, s, url.Values{"client_id": {"public"}, "redirect_uri": {cb}, "response_type": {"code"}, "state": {"st"}})
	if q.Get("error") != "invalid_request" || q.Get("state") != "st" || !strings.HasPrefix(q.Get("error_description"), "AADSTS50148") {
		t.Fatalf("public client without PKCE: %v", q)
	}
}

func TestOAuthServerCodeAndRefreshRotation(t *testing.T) {
	s := newOAuth(t, mailtest.OAuthOptions{AutoApprove: "a@x.example"})
	verifier := "verifier-0123456789-0123456789-0123456789-abc"
	sum := sha256.Sum256([]byte(verifier))
	q := code(t, s, url.Values{"client_id": {"c"}, "redirect_uri": {cb}, "response_type": {"code"}, "scope": {"openid offline_access x"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}})
	ex := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {cb}, "client_id": {"c"}, "client_secret": {"s"}, "code_verifier": {verifier}}
	first := token(t, s, ex)
	if first.Status != 200 || first.AccessToken == "" || first.RefreshToken == "" {
		t.Fatalf("code exchange: %+v", first)
	}
	// The code again: refused, and what it gave is revoked (RFC 6749 4.1.2).
	again := token(t, s, ex)
	if again.Error != "invalid_grant" || len(again.Codes) != 1 || again.Codes[0] != 54005 {
		t.Fatalf("code reused: %+v", again)
	}
	if _, _, ok := s.CheckAccessToken(first.AccessToken); ok {
		t.Fatal("the access token of a reused code still works")
	}

	// A fresh grant for the rotation checks.
	q = code(t, s, url.Values{"client_id": {"c"}, "redirect_uri": {cb}, "response_type": {"code"}, "scope": {"offline_access x"}})
	g := token(t, s, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {cb}, "client_id": {"c"}, "client_secret": {"s"}})
	r1 := token(t, s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.RefreshToken}, "client_id": {"c"}, "client_secret": {"s"}, "scope": {"x"}})
	if r1.Status != 200 || r1.RefreshToken == "" || r1.RefreshToken == g.RefreshToken {
		t.Fatalf("refresh did not rotate: %+v", r1)
	}
	reuse := token(t, s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.RefreshToken}, "client_id": {"c"}, "client_secret": {"s"}})
	if reuse.Error != "invalid_grant" || s.Stats().ReuseDetected != 1 {
		t.Fatalf("rotated-away token reused: %+v", reuse)
	}
	after := token(t, s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r1.RefreshToken}, "client_id": {"c"}, "client_secret": {"s"}})
	if after.Error != "invalid_grant" {
		t.Fatalf("after reuse detection the newest refresh token still works: %+v", after)
	}
	// The identity platform's error body.
	if !strings.HasPrefix(after.Description, "AADSTS") || after.TraceID == "" || after.CorrelationID == "" || after.Timestamp == "" ||
		!strings.HasPrefix(after.URI, "https://login.microsoftonline.com/error?code=") || len(after.Codes) != 1 {
		t.Fatalf("error body %+v", after)
	}
}

func TestOAuthServerClientCredentialsAndDevice(t *testing.T) {
	s := newOAuth(t, mailtest.OAuthOptions{})
	bad := token(t, s, url.Values{"grant_type": {"client_credentials"}, "client_id": {"c"}, "client_secret": {"s"}, "scope": {"https://graph.microsoft.com/Mail.Read"}})
	if bad.Error != "invalid_scope" || bad.Codes[0] != 1002012 {
		t.Fatalf("client credentials without /.default: %+v", bad)
	}
	wrong := token(t, s, url.Values{"grant_type": {"client_credentials"}, "client_id": {"c"}, "client_secret": {"x"}, "scope": {"https://graph.microsoft.com/.default"}})
	if wrong.Status != 401 || wrong.Error != "invalid_client" || wrong.Codes[0] != 7000215 {
		t.Fatalf("wrong client secret: %+v", wrong)
	}
	ok := token(t, s, url.Values{"grant_type": {"client_credentials"}, "client_id": {"c"}, "client_secret": {"s"}, "scope": {"https://graph.microsoft.com/.default"}})
	if ok.AccessToken == "" || ok.RefreshToken != "" {
		t.Fatalf("client credentials: %+v (no refresh token expected)", ok)
	}
	resp, err := http.PostForm(s.DeviceAuthURL("organizations"), url.Values{"client_id": {"public"}, "scope": {"offline_access"}})
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		DeviceCode      string `json:"device_code"`
		UserCode        string `json:"user_code"`
		VerificationURI string `json:"verification_uri"`
		Interval        int    `json:"interval"`
		ExpiresIn       int    `json:"expires_in"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if d.DeviceCode == "" || len(d.UserCode) != 8 || d.Interval != 5 || d.ExpiresIn != 900 || d.VerificationURI == "" {
		t.Fatalf("device authorization %+v", d)
	}
	p := token(t, s, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {d.DeviceCode}, "client_id": {"public"}})
	if p.Error != "authorization_pending" || p.Codes[0] != 70016 {
		t.Fatalf("first poll: %+v", p)
	}
	fast := token(t, s, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {d.DeviceCode}, "client_id": {"public"}})
	if fast.Error != "slow_down" {
		t.Fatalf("a poll right after the first: %+v, want slow_down", fast)
	}
	if !s.ApproveDevice(d.UserCode, "a@x.example") || s.ApproveDevice("NOSUCHCD", "a@x.example") {
		t.Fatal("ApproveDevice")
	}
}

func TestOAuthServerDeviceCodeExpires(t *testing.T) {
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newOAuth(t, mailtest.OAuthOptions{Now: clock})
	resp, err := http.PostForm(s.DeviceAuthURL("organizations"), url.Values{"client_id": {"public"}, "scope": {"offline_access"}})
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		DeviceCode string `json:"device_code"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	mu.Lock()
	now = now.Add(16 * time.Minute)
	mu.Unlock()
	poll := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {d.DeviceCode}, "client_id": {"public"}}
	if a := token(t, s, poll); a.Error != "expired_token" || a.Codes[0] != 70019 {
		t.Fatalf("poll after the device code expired: %+v", a)
	}
	if a := token(t, s, poll); a.Error != "invalid_grant" {
		t.Fatalf("a finished device code polled again: %+v", a)
	}
}
