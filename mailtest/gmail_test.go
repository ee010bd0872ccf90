package mailtest_test

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailtest"
)

func gmailGet(t *testing.T, srv *mailtest.GmailServer, path, token string, v any) (int, http.Header) {
	t.Helper()
	return apiGet(t, srv.Client(), srv.URL+path, token, v)
}

type googleError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Errors  []struct {
			Reason, Domain, Message string
		} `json:"errors"`
		Status string `json:"status"`
	} `json:"error"`
}

// TestGmailReference: the server answers as Google's reference says:
// error bodies {"error":{code,message,errors[{reason,domain}],status}};
// history ids as strings, increasing, records after startHistoryId in
// pages, 404 notFound for an expired one; messages.list newest first with
// pageToken; raw as base64url; throttling with Retry-After.
func TestGmailReference(t *testing.T) {
	srv := mailtest.NewGmailServer()
	defer srv.Close()
	const u = "a@example.com"
	srv.AddUser(u)
	srv.AddToken("tok-a", u)
	var e googleError
	if code, _ := gmailGet(t, srv, "/gmail/v1/users/me/profile", "nope", &e); code != 401 || e.Error.Code != 401 || e.Error.Status != "UNAUTHENTICATED" || e.Error.Errors[0].Reason != "authError" {
		t.Fatalf("401: %d %+v", code, e)
	}
	var prof struct{ EmailAddress, HistoryID string }
	if code, _ := gmailGet(t, srv, "/gmail/v1/users/me/profile", "tok-a", &prof); code != 200 || prof.EmailAddress != u {
		t.Fatalf("profile of me: %d %+v", code, prof)
	}
	start := prof.HistoryID
	var ids []string
	for i := range 3 {
		id, err := srv.Deliver(u, []byte("Subject: "+strconv.Itoa(i)+"\r\n\r\nbody ~~~ \xff\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	type hist struct {
		History []struct {
			ID            string
			MessagesAdded []struct{ Message struct{ ID string } }
		}
		NextPageToken, HistoryID string
	}
	var h hist
	gmailGet(t, srv, "/gmail/v1/users/"+u+"/history?startHistoryId="+start+"&maxResults=2&historyTypes=messageAdded", "tok-a", &h)
	if len(h.History) != 2 || h.NextPageToken == "" || h.History[0].MessagesAdded[0].Message.ID != ids[0] {
		t.Fatalf("first page %+v", h)
	}
	a, _ := strconv.ParseUint(h.History[0].ID, 10, 64)
	b, _ := strconv.ParseUint(h.History[1].ID, 10, 64)
	s0, _ := strconv.ParseUint(start, 10, 64)
	if !(s0 < a && a < b) {
		t.Fatalf("history ids %d %d after %d", a, b, s0)
	}
	var h2 hist
	gmailGet(t, srv, "/gmail/v1/users/"+u+"/history?startHistoryId="+start+"&maxResults=2&pageToken="+h.NextPageToken, "tok-a", &h2)
	if len(h2.History) != 1 || h2.NextPageToken != "" || h2.History[0].MessagesAdded[0].Message.ID != ids[2] || h2.HistoryID != h.HistoryID {
		t.Fatalf("second page %+v", h2)
	}
	var list struct {
		Messages      []struct{ ID string }
		NextPageToken string
	}
	gmailGet(t, srv, "/gmail/v1/users/"+u+"/messages?labelIds=INBOX&maxResults=2", "tok-a", &list)
	if len(list.Messages) != 2 || list.Messages[0].ID != ids[2] || list.NextPageToken == "" {
		t.Fatalf("messages.list is not newest first in pages: %+v", list)
	}
	var raw struct {
		Raw          string
		SizeEstimate int
	}
	gmailGet(t, srv, "/gmail/v1/users/"+u+"/messages/"+ids[0]+"?format=raw", "tok-a", &raw)
	dec, err := base64.URLEncoding.DecodeString(raw.Raw)
	if err != nil || !strings.HasPrefix(string(dec), "Subject: 0") || raw.SizeEstimate != len(dec) || strings.ContainsAny(raw.Raw, "+/") {
		t.Fatalf("raw %q: %v", raw.Raw, err)
	}
	srv.ExpireHistory(u)
	e = googleError{}
	if code, _ := gmailGet(t, srv, "/gmail/v1/users/"+u+"/history?startHistoryId="+start, "tok-a", &e); code != 404 || e.Error.Errors[0].Reason != "notFound" || e.Error.Status != "NOT_FOUND" {
		t.Fatalf("expired history: %d %+v", code, e)
	}
	srv.Throttle(1, 429, 2*time.Second)
	e = googleError{}
	if code, hd := gmailGet(t, srv, "/gmail/v1/users/me/profile", "tok-a", &e); code != 429 || hd.Get("Retry-After") != "2" || e.Error.Errors[0].Reason != "rateLimitExceeded" {
		t.Fatalf("throttled: %d %v %+v", code, hd, e)
	}
	srv.AddUser("b@example.com")
	e = googleError{}
	if code, _ := gmailGet(t, srv, "/gmail/v1/users/b@example.com/profile", "tok-a", &e); code != 403 {
		t.Fatalf("another user's mailbox: %d %+v", code, e)
	}
}
