package mailtest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/correio-dev/correio/mailtest"
)

// TestGraphErrors: the server answers with Graph's error bodies and
// status codes.
func TestGraphErrors(t *testing.T) {
	srv := mailtest.NewGraphServer()
	defer srv.Close()
	srv.AddUser("a@example.com")
	srv.AddToken("tok-a", "a@example.com")
	get := func(path, token string) (int, string, http.Header) {
		t.Helper()
		var body struct {
			Error struct{ Code, Message string }
		}
		st, h := apiGet(t, srv.Client(), srv.URL+path, token, &body)
		return st, body.Error.Code, h
	}
	for _, c := range []struct {
		path, token string
		status      int
		code        string
	}{
		{"/v1.0/users/a@example.com/mailFolders/inbox", "", 401, "InvalidAuthenticationToken"},
		{"/v1.0/users/a@example.com/mailFolders/inbox", "wrong", 401, "InvalidAuthenticationToken"},
		{"/v1.0/users/b@example.com/mailFolders/inbox", "tok-a", 404, "ErrorInvalidUser"},
		{"/v1.0/users/a@example.com/mailFolders/nowhere", "tok-a", 404, "ErrorItemNotFound"},
		{"/v1.0/users/a@example.com/messages/nope/$value", "tok-a", 404, "ErrorItemNotFound"},
		{"/v1.0/users/a@example.com/mailFolders/inbox/messages/delta?$deltatoken=garbage", "tok-a", 410, "syncStateNotFound"},
		{"/v1.0/users/a@example.com/mailFolders/inbox", "tok-a", 200, ""},
	} {
		if st, code, h := get(c.path, c.token); st != c.status || code != c.code || (st == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer")) {
			t.Errorf("GET %s: %d %q, want %d %q", c.path, st, code, c.status, c.code)
		}
	}
	srv.AddUser("b@example.com")
	if st, code, _ := get("/v1.0/users/b@example.com/mailFolders/inbox", "tok-a"); st != 403 || code != "ErrorAccessDenied" {
		t.Errorf("another user's mailbox: %d %q", st, code)
	}
	srv.Throttle(1, 429, 0)
	if st, code, h := get("/v1.0/users/a@example.com/mailFolders/inbox", "tok-a"); st != 429 || code != "ApplicationThrottled" || h.Get("Retry-After") != "1" {
		t.Errorf("throttled: %d %q %q", st, code, h.Get("Retry-After"))
	}
}
