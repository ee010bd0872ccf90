package gmail_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/gmail"
)

const audience = "https://desk.example.com/gmail/push"

// waiting starts s.Wait without a timer and returns its end.
func waiting(s transport.Session) <-chan error {
	done := make(chan error, 1)
	go func() { done <- s.Wait(context.Background(), nil) }()
	return done
}

// TestPushAuth: the push endpoint refuses (401) every push whose ID token
// does not verify: none, bad signature, another key, wrong audience,
// issuer, email, unverified email, expired, not RS256; and bodies that are
// not Gmail notifications (400), too large (413), or not POST (405). None
// of them wakes the mailbox. A good push answers 204 and wakes it.
func TestPushAuth(t *testing.T) {
	srv := newServer(t)
	signer, err := mailtest.NewPubSubSigner(pushSA, audience)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetPubSub(signer, "http://127.0.0.1:1/unused", nil) // publishes the JWKS
	src := gmail.NewSource(config(t, srv, transport.Net{}))
	h := src.PushHandler(gmail.PushConfig{Audience: audience, ServiceAccount: pushSA, JWKSURL: srv.JWKSURL(), MaxBody: 4096})
	s := openSession(t, src, inboundMailbox())
	done := waiting(s)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	impostor := &mailtest.PubSubSigner{Key: other, KeyID: signer.KeyID, Issuer: signer.Issuer, Email: pushSA, Audience: audience}
	now := time.Now()
	post := func(auth string, body []byte) int {
		req := httptest.NewRequest(http.MethodPost, "/gmail/push", bytes.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	body := signer.PushBody(desk, 12345)
	edit := func(f func(map[string]any)) string { return "Bearer " + signer.IDToken(now, f) }
	for name, auth := range map[string]string{
		"none":             "",
		"not bearer":       "Basic " + signer.IDToken(now, nil),
		"garbage":          "Bearer not.a.jwt",
		"bad signature":    "Bearer " + signer.IDToken(now, nil)[:len(signer.IDToken(now, nil))-4] + "AAAA",
		"another key":      "Bearer " + impostor.IDToken(now, nil),
		"wrong audience":   edit(func(c map[string]any) { c["aud"] = "https://evil.example/push" }),
		"wrong issuer":     edit(func(c map[string]any) { c["iss"] = "https://evil.example" }),
		"wrong email":      edit(func(c map[string]any) { c["email"] = "someone@evil.example" }),
		"email unverified": edit(func(c map[string]any) { c["email_verified"] = false }),
		"expired":          edit(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() }),
		"future":           edit(func(c map[string]any) { c["iat"] = now.Add(time.Hour).Unix() }),
		"alg none":         "Bearer " + signer.Sign(map[string]any{"alg": "none", "kid": signer.KeyID}, map[string]any{"iss": signer.Issuer, "aud": audience, "email": pushSA, "email_verified": true, "exp": now.Add(time.Hour).Unix()}),
		"unknown kid":      "Bearer " + signer.Sign(map[string]any{"alg": "RS256", "kid": "nope"}, map[string]any{"iss": signer.Issuer, "aud": audience, "email": pushSA, "email_verified": true, "exp": now.Add(time.Hour).Unix()}),
	} {
		if code := post(auth, body); code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, code)
		}
	}
	good := "Bearer " + signer.IDToken(now, nil)
	if code := post(good, []byte(`{"message":{"data":"!!"}}`)); code != http.StatusBadRequest {
		t.Errorf("bad data: %d", code)
	}
	if code := post(good, []byte(`{"message":{"data":"`+strings.Repeat("A", 8000)+`"}}`)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("large body: %d", code)
	}
	get := httptest.NewRecorder()
	h.ServeHTTP(get, httptest.NewRequest(http.MethodGet, "/gmail/push", nil))
	if get.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", get.Code)
	}
	select {
	case <-done:
		t.Fatal("a refused push woke the session")
	case <-time.After(100 * time.Millisecond):
	}
	if code := post(good, body); code != http.StatusNoContent {
		t.Fatalf("a good push: %d, want 204", code)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a good push did not wake the session")
	}
	// A push for a mailbox with no session yet is kept for its first one.
	if code := post(good, signer.PushBody("later@example.com", 1)); code != http.StatusNoContent {
		t.Fatalf("a push before the session: %d", code)
	}
	if !src.Notify("LATER@example.com") {
		t.Fatal("Notify refused")
	}
	// Static keys instead of the JWKS.
	hs := src.PushHandler(gmail.PushConfig{Audience: audience, ServiceAccount: pushSA, Keys: map[string]*rsa.PublicKey{signer.KeyID: &signer.Key.PublicKey}})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/gmail/push", bytes.NewReader(body))
	req.Header.Set("Authorization", good)
	hs.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("static keys: %d", rec.Code)
	}
}

// TestWatchRenewal: Open calls users.watch (the topic, the label read);
// a waiting session renews it every RenewEvery by the clock, and an hour
// before it expires when that comes first; a watch that fails leaves the
// session polling.
func TestWatchRenewal(t *testing.T) {
	srv := newServer(t)
	clk := clock.NewFake(time.Now())
	cfg := config(t, srv, transport.Net{})
	cfg.Clock = clk
	cfg.Watch = &gmail.Watch{TopicName: "projects/correio-test/topics/gmail"}
	s := openSession(t, gmail.NewSource(cfg), inboundMailbox())
	if !s.Push() {
		t.Fatal("a session with a watch does not push")
	}
	w := srv.Watches()
	if len(w) != 1 || w[0].TopicName != cfg.Watch.TopicName || len(w[0].LabelIDs) != 1 || w[0].LabelIDs[0] != "INBOX" {
		t.Fatalf("watches %+v", w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Wait(ctx, nil) }()
	eventually(t, "the renewal timer", func() bool { return clk.Waiters() > 0 })
	clk.Advance(23 * time.Hour)
	if n := len(srv.Watches()); n != 1 {
		t.Fatalf("renewed after 23 h: %d watches", n)
	}
	clk.Advance(time.Hour)
	eventually(t, "the daily renewal", func() bool { return len(srv.Watches()) == 2 })
	eventually(t, "the next renewal timer", func() bool { return clk.Waiters() > 0 })
	clk.Advance(24 * time.Hour)
	eventually(t, "the second renewal", func() bool { return len(srv.Watches()) == 3 })
	select {
	case err := <-done:
		t.Fatalf("Wait ended on a renewal: %v", err)
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Renewing every 8 days is too late: the watch lasts 7; it is renewed
	// an hour before it expires.
	clk2 := clock.NewFake(time.Now())
	cfg2 := config(t, srv, transport.Net{})
	cfg2.Clock = clk2
	cfg2.Watch = &gmail.Watch{TopicName: "projects/correio-test/topics/gmail", RenewEvery: 8 * 24 * time.Hour}
	s2 := openSession(t, gmail.NewSource(cfg2), inboundMailbox())
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go func() { _ = s2.Wait(ctx2, nil) }()
	base := len(srv.Watches())
	eventually(t, "the renewal timer", func() bool { return clk2.Waiters() > 0 })
	clk2.Advance(7*24*time.Hour - 2*time.Hour)
	if n := len(srv.Watches()); n != base {
		t.Fatalf("renewed two hours before expiry")
	}
	clk2.Advance(90 * time.Minute)
	eventually(t, "the renewal before expiry", func() bool { return len(srv.Watches()) == base+1 })
	// The test server's expiration is in real time, already past by the
	// fake clock: the session still renews at most once a minute.
	eventually(t, "the next renewal timer", func() bool { return clk2.Waiters() > 0 })
	if n := len(srv.Watches()); n != base+1 {
		t.Fatalf("%d renewals at one instant", n-base)
	}

	cfg3 := config(t, srv, transport.Net{})
	cfg3.Watch = &gmail.Watch{TopicName: "not-a-topic"}
	if s3 := openSession(t, gmail.NewSource(cfg3), inboundMailbox()); s3.Push() {
		t.Fatal("a failed watch pushes")
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPushKeyRotation: Google's keys are read from the JWKS and cached; a
// token signed with a key the cache does not know makes the handler read
// the JWKS again, at most once a minute.
func TestPushKeyRotation(t *testing.T) {
	srv := newServer(t)
	first, err := mailtest.NewPubSubSigner(pushSA, audience)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetPubSub(first, "http://127.0.0.1:1/unused", nil)
	clk := clock.NewFake(time.Now())
	src := gmail.NewSource(config(t, srv, transport.Net{}))
	h := src.PushHandler(gmail.PushConfig{Audience: audience, ServiceAccount: pushSA, JWKSURL: srv.JWKSURL(), Clock: clk})
	post := func(p *mailtest.PubSubSigner) int {
		req := httptest.NewRequest(http.MethodPost, "/gmail/push", bytes.NewReader(p.PushBody(desk, 1)))
		req.Header.Set("Authorization", "Bearer "+p.IDToken(clk.Now(), nil))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	jwks := func() int { return count(srv.Requests(), "GET /oauth2/v3/certs", "") }
	if code := post(first); code != http.StatusNoContent || jwks() != 1 {
		t.Fatalf("first key: %d, %d JWKS reads", code, jwks())
	}
	if code := post(first); code != http.StatusNoContent || jwks() != 1 {
		t.Fatalf("cached key: %d, %d JWKS reads", code, jwks())
	}
	second, _ := mailtest.NewPubSubSigner(pushSA, audience)
	srv.SetPubSub(second, "http://127.0.0.1:1/unused", nil) // Google rotated its keys
	if code := post(second); code != http.StatusUnauthorized || jwks() != 1 {
		t.Fatalf("a new key within the minute: %d, %d JWKS reads", code, jwks())
	}
	clk.Advance(2 * time.Minute)
	if code := post(second); code != http.StatusNoContent || jwks() != 2 {
		t.Fatalf("a new key after the minute: %d, %d JWKS reads", code, jwks())
	}
}
