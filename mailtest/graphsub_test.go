package mailtest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailtest"
)

// TestGraphSubscriptions: the server's /subscriptions follow the
// reference: the validation handshake of both URLs (a wrong answer is
// 400 ValidationError and no subscription), https only, the maximum
// expiration, renewal, deletion, 404 once expired, and a change
// notification posted for new mail with the subscription's clientState.
func TestGraphSubscriptions(t *testing.T) {
	srv := mailtest.NewGraphServer()
	defer srv.Close()
	srv.AddUser("a@example.com")
	srv.AddToken("tok-a", "a@example.com")

	var mu sync.Mutex
	var validations, bodies []string
	answer := "echo"
	host := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if tok := r.URL.Query().Get("validationToken"); tok != "" {
			validations = append(validations, r.URL.Path+" "+r.Header.Get("Content-Type"))
			w.Header().Set("Content-Type", "text/plain")
			if answer == "echo" {
				_, _ = io.WriteString(w, tok)
			} else {
				_, _ = io.WriteString(w, answer)
			}
			return
		}
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		w.WriteHeader(http.StatusAccepted)
	}))
	defer host.Close()
	srv.TrustNotificationCert(host.Certificate())

	call := func(method, path string, body any) (int, map[string]any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, srv.URL+path, rd)
		req.Header.Set("Authorization", "Bearer tok-a")
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	exp := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	sub := map[string]any{"changeType": "created", "notificationUrl": host.URL + "/n", "lifecycleNotificationUrl": host.URL + "/l",
		"resource": "/users/a@example.com/mailFolders('inbox')/messages", "expirationDateTime": exp, "clientState": "s3cret"}
	with := func(k string, v any) map[string]any {
		c := map[string]any{}
		for a, b := range sub {
			c[a] = b
		}
		c[k] = v
		return c
	}
	code := func(m map[string]any) string {
		e, _ := m["error"].(map[string]any)
		s, _ := e["code"].(string)
		return s
	}
	for _, c := range []struct {
		name string
		body map[string]any
		want int
	}{
		{"http notification URL", with("notificationUrl", "http://example.com/n"), 400},
		{"too far", with("expirationDateTime", time.Now().Add(mailtest.GraphMaxSubscription+time.Hour).UTC().Format(time.RFC3339)), 400},
		{"long clientState", with("clientState", strings.Repeat("x", 129)), 400},
		{"bad changeType", with("changeType", "created,moved"), 400},
		{"other user", with("resource", "/users/b@example.com/messages"), 403},
	} {
		if st, _ := call(http.MethodPost, "/v1.0/subscriptions", c.body); st != c.want {
			t.Fatalf("%s: %d, want %d", c.name, st, c.want)
		}
	}
	if len(validations) != 0 {
		t.Fatalf("invalid requests validated: %v", validations)
	}
	answer = "wrong"
	if st, out := call(http.MethodPost, "/v1.0/subscriptions", sub); st != 400 || code(out) != "ValidationError" {
		t.Fatalf("wrong token: %d %v", st, out)
	}
	answer = "echo"
	st, out := call(http.MethodPost, "/v1.0/subscriptions", sub)
	if st != http.StatusCreated || out["id"] == "" || out["clientState"] != "s3cret" {
		t.Fatalf("create: %d %v", st, out)
	}
	id := out["id"].(string)
	mu.Lock()
	if len(validations) != 3 || validations[1] != "/n text/plain; charset=utf-8" || validations[2] != "/l text/plain; charset=utf-8" {
		t.Fatalf("validations %v", validations)
	}
	mu.Unlock()
	if _, err := srv.Deliver("a@example.com", "inbox", []byte("Subject: x\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(srv.Notifications()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	if len(bodies) != 1 || !strings.Contains(bodies[0], `"clientState":"s3cret"`) || !strings.Contains(bodies[0], `"subscriptionId":"`+id+`"`) ||
		!strings.Contains(bodies[0], `"changeType":"created"`) {
		t.Fatalf("notifications %v", bodies)
	}
	mu.Unlock()
	if n := srv.Notifications(); n[0].Status != http.StatusAccepted {
		t.Fatalf("notification status %d", n[0].Status)
	}
	newExp := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	if st, out := call(http.MethodPatch, "/v1.0/subscriptions/"+id, map[string]any{"expirationDateTime": newExp}); st != 200 || !strings.HasPrefix(out["expirationDateTime"].(string), newExp.Format("2006-01-02T15:04:05")) {
		t.Fatalf("renew: %d %v", st, out)
	}
	if st, _ := call(http.MethodPatch, "/v1.0/subscriptions/"+id, map[string]any{"expirationDateTime": time.Now().Add(8 * 24 * time.Hour)}); st != 400 {
		t.Fatalf("renew past the maximum: %d", st)
	}
	if st, _ := call(http.MethodPost, "/v1.0/subscriptions/"+id+"/reauthorize", nil); st != 200 {
		t.Fatalf("reauthorize: %d", st)
	}
	if st, _ := call(http.MethodDelete, "/v1.0/subscriptions/"+id, nil); st != http.StatusNoContent {
		t.Fatalf("delete: %d", st)
	}
	if st, out := call(http.MethodPatch, "/v1.0/subscriptions/"+id, map[string]any{"expirationDateTime": newExp}); st != 404 || code(out) != "ResourceNotFound" {
		t.Fatalf("renew after delete: %d %v", st, out)
	}
	st, out = call(http.MethodPost, "/v1.0/subscriptions", sub)
	if st != 201 {
		t.Fatal(st)
	}
	srv.ExpireSubscription(out["id"].(string))
	if st, _ := call(http.MethodGet, "/v1.0/subscriptions/"+out["id"].(string), nil); st != 404 {
		t.Fatalf("expired: %d", st)
	}
}
