package gmail_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/gmail"
	"github.com/correio-dev/correio/transport/transporttest"
)

func openSession(t *testing.T, src *gmail.Source, m *mailbox.Mailbox) transport.Session {
	t.Helper()
	s, err := src.Open(context.Background(), m)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func count(reqs []string, prefix, contains string) int {
	n := 0
	for _, r := range reqs {
		if strings.HasPrefix(r, prefix) && strings.Contains(r, contains) {
			n++
		}
	}
	return n
}

func deliver(t *testing.T, srv *mailtest.GmailServer, tag string, n int) []string {
	t.Helper()
	var ids []string
	for i := 1; i <= n; i++ {
		id, err := srv.Deliver(desk, transporttest.Message(tag, i, 200))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// TestHistoryPaging: from a history cursor, one List follows
// users.history.list's nextPageToken pages (maxResults = PageSize, only
// messageAdded in the label read) in order; a message sent from the
// mailbox (label SENT) is not new mail; the cursor of an item resumes
// after it.
func TestHistoryPaging(t *testing.T) {
	srv := newServer(t)
	cfg := config(t, srv, transport.Net{})
	cfg.PageSize = 2
	s := openSession(t, gmail.NewSource(cfg), inboundMailbox())
	ctx := context.Background()
	from, reset, err := s.Resume(ctx, "", true) // start from new mail: a history cursor
	if err != nil || reset {
		t.Fatal(err, reset)
	}
	if _, full, _ := gmail.ParseCursor(from); full {
		t.Fatalf("a mailbox starting from new mail got a full-listing cursor %q", from)
	}
	ids := deliver(t, srv, "page", 5)
	// A sent message is a messageAdded record outside INBOX.
	o, err := gmail.NewSender(config(t, srv, transport.Net{})).Open(ctx, outboundMailbox())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Send(ctx, transport.Envelope{From: desk, To: []string{desk}}, strings.NewReader(string(transporttest.Message("sent", 1, 100)))); err != nil {
		t.Fatal(err)
	}
	items, err := s.List(ctx, from)
	if err != nil || len(items) != 5 {
		t.Fatalf("List: %d items, %v", len(items), err)
	}
	for i, it := range items {
		if it.ID != ids[i] || it.Seen || (i == 0 && it.Date.IsZero()) {
			t.Fatalf("item %d: %+v, want %s unread (the first with its date)", i, it, ids[i])
		}
	}
	// One description (format minimal) per List, not one per message.
	if n := count(srv.Requests(), "GET ", "format=minimal"); n != 1 {
		t.Fatalf("%d messages described, want 1", n)
	}
	reqs := srv.Requests()
	if count(reqs, "GET ", "/history?") != 3 || count(reqs, "GET ", "pageToken=") != 2 {
		t.Fatalf("history pages: %v", reqs)
	}
	for _, r := range reqs {
		if strings.Contains(r, "/history?") && (!strings.Contains(r, "historyTypes=messageAdded") || !strings.Contains(r, "labelId=INBOX") || !strings.Contains(r, "maxResults=")) {
			t.Fatalf("a history request without its filters: %s", r)
		}
	}
	rest, err := s.List(ctx, items[2].Cursor)
	if err != nil || len(rest) != 2 || rest[0].ID != ids[3] || rest[1].ID != ids[4] {
		t.Fatalf("after the third: %+v %v", rest, err)
	}
	if again, err := s.List(ctx, items[4].Cursor); err != nil || len(again) != 0 {
		t.Fatalf("after the last: %+v %v", again, err)
	}
	h, _, _ := gmail.ParseCursor(items[4].Cursor)
	if h <= 1000 || h > srv.HistoryID(desk) {
		t.Fatalf("the last cursor's historyId %d is not a record's", h)
	}
}

// TestHistoryRecordOfSeveral: a history record adding several messages
// gives each its own cursor: the ones before the last carry the record's
// predecessor and the ids passed (gmail/1:<h>+<id>.<id>), the last the
// record's id; resuming from a middle one lists only the rest, also in a
// new session.
func TestHistoryRecordOfSeveral(t *testing.T) {
	srv := newServer(t)
	src := gmail.NewSource(config(t, srv, transport.Net{}))
	s := openSession(t, src, inboundMailbox())
	ctx := context.Background()
	from, _, _ := s.Resume(ctx, "", true)
	ids, err := srv.DeliverBatch(desk, transporttest.Message("batch", 1, 100), transporttest.Message("batch", 2, 100), transporttest.Message("batch", 3, 100))
	if err != nil {
		t.Fatal(err)
	}
	after := deliver(t, srv, "after", 1)
	items, err := s.List(ctx, from)
	if err != nil || len(items) != 4 {
		t.Fatalf("List: %+v %v", items, err)
	}
	cursors := map[transport.Cursor]bool{}
	for i, it := range items {
		if cursors[it.Cursor] {
			t.Fatalf("item %d shares its cursor: %+v", i, items)
		}
		cursors[it.Cursor] = true
	}
	if !strings.Contains(string(items[1].Cursor), "+"+ids[0]+"."+ids[1]) {
		t.Fatalf("the second message of the record carries %q", items[1].Cursor)
	}
	s2 := openSession(t, src, inboundMailbox())
	got, reset, err := s2.Resume(ctx, items[0].Cursor, false)
	if err != nil || reset || got != items[0].Cursor {
		t.Fatalf("Resume: %q %v %v", got, reset, err)
	}
	rest, err := s2.List(ctx, got)
	if err != nil || len(rest) != 3 || rest[0].ID != ids[1] || rest[1].ID != ids[2] || rest[2].ID != after[0] {
		t.Fatalf("after the first of the record: %+v %v", rest, err)
	}
	if rest, err := s2.List(ctx, items[1].Cursor); err != nil || len(rest) != 2 || rest[0].ID != ids[2] {
		t.Fatalf("after the second of the record: %+v %v", rest, err)
	}
}

// TestFullListing: a mailbox read from the start is listed with
// users.messages.list (newest first on the wire, handed oldest first),
// then followed through history from the profile's historyId.
func TestFullListing(t *testing.T) {
	srv := newServer(t)
	ids := deliver(t, srv, "full", 3)
	cfg := config(t, srv, transport.Net{})
	s := openSession(t, gmail.NewSource(cfg), inboundMailbox())
	ctx := context.Background()
	from, _, err := s.Resume(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, full, _ := gmail.ParseCursor(from); !full {
		t.Fatalf("a first read got %q, want a full listing", from)
	}
	items, err := s.List(ctx, from)
	if err != nil || len(items) != 3 || items[0].ID != ids[0] || items[2].ID != ids[2] {
		t.Fatalf("full listing: %+v %v", items, err)
	}
	if _, full, _ := gmail.ParseCursor(items[2].Cursor); full {
		t.Fatalf("the last message of a full listing carries %q, want the history cursor", items[2].Cursor)
	}
	if _, full, _ := gmail.ParseCursor(items[1].Cursor); !full {
		t.Fatalf("a middle message carries %q", items[1].Cursor)
	}
	more := deliver(t, srv, "full-new", 1)
	if got, err := s.List(ctx, items[2].Cursor); err != nil || len(got) != 1 || got[0].ID != more[0] {
		t.Fatalf("after the listing: %+v %v", got, err)
	}
	// The session lists the label once; the later Lists of the listing
	// go on from its snapshot.
	if got, err := s.List(ctx, items[0].Cursor); err != nil || len(got) != 2 || got[0].ID != ids[1] {
		t.Fatalf("from the first message's cursor: %+v %v", got, err)
	}
	if n := count(srv.Requests(), "GET ", "/messages?labelIds"); n != 1 {
		t.Fatalf("the label was listed %d times in one session", n)
	}
}

// TestExpiredHistory: a startHistoryId Gmail forgot (404) fails List with
// ErrCursor and ErrExpired; Resume resets to a full listing of the label
// with the historyId now, which lists what is still in INBOX.
func TestExpiredHistory(t *testing.T) {
	srv := newServer(t)
	src := gmail.NewSource(config(t, srv, transport.Net{}))
	s := openSession(t, src, inboundMailbox())
	ctx := context.Background()
	from, _, _ := s.Resume(ctx, "", true)
	ids := deliver(t, srv, "exp", 2)
	items, err := s.List(ctx, from)
	if err != nil || len(items) != 2 {
		t.Fatal(len(items), err)
	}
	if err := s.Apply(ctx, transport.Action{Kind: mailbox.PostMove, Folder: "Done"}, []string{ids[0]}); err != nil {
		t.Fatal(err)
	}
	srv.ExpireHistory(desk)
	before := len(srv.Requests())
	_, err = s.List(ctx, items[1].Cursor)
	if n := len(srv.Requests()) - before; n != 1 {
		t.Fatalf("%d requests for an expired historyId, want one (a 404 is not retried)", n)
	}
	if !errors.Is(err, transport.ErrCursor) || !errors.Is(err, gmail.ErrExpired) || !transport.Retryable(err) {
		t.Fatalf("List of an expired historyId: %v", err)
	}
	s2 := openSession(t, src, inboundMailbox())
	got, reset, err := s2.Resume(ctx, items[1].Cursor, false)
	if err != nil || !reset {
		t.Fatalf("Resume: %q %v %v, want a reset", got, reset, err)
	}
	if _, full, _ := gmail.ParseCursor(got); !full {
		t.Fatalf("reset to %q, want a full listing", got)
	}
	again, err := s2.List(ctx, got)
	if err != nil || len(again) != 1 || again[0].ID != ids[1] {
		t.Fatalf("after the reset: %+v %v, want the message still in INBOX", again, err)
	}
}

// TestLabelPostActions: seen removes UNREAD; move adds the target label
// (resolved by name, created once with CreateLabels) and removes INBOX;
// delete is users.messages.trash (the message stays, in TRASH); applying
// twice, or to a message gone, is harmless; without CreateLabels a
// missing target is a Permanent error naming it.
func TestLabelPostActions(t *testing.T) {
	srv := newServer(t)
	ids := deliver(t, srv, "post", 4)
	s := openSession(t, gmail.NewSource(config(t, srv, transport.Net{})), inboundMailbox())
	ctx := context.Background()
	apply := func(a transport.Action, id string) {
		t.Helper()
		for range 2 {
			if err := s.Apply(ctx, a, []string{id}); err != nil {
				t.Fatalf("Apply %v: %v", a, err)
			}
		}
	}
	apply(transport.Action{Kind: mailbox.PostSeen}, ids[0])
	if l := srv.Labels(desk, ids[0]); slices.Contains(l, "UNREAD") || !slices.Contains(l, "INBOX") {
		t.Fatalf("after seen: %v", l)
	}
	apply(transport.Action{Kind: mailbox.PostMove, Folder: "Handled/Desk"}, ids[1])
	apply(transport.Action{Kind: mailbox.PostMove, Folder: "Handled/Desk"}, ids[2])
	l := srv.Labels(desk, ids[1])
	if slices.Contains(l, "INBOX") || !slices.ContainsFunc(l, func(x string) bool { return strings.HasPrefix(x, "Label_") }) {
		t.Fatalf("after move: %v", l)
	}
	if n, _ := srv.Count(desk, "Handled/Desk"); n != 2 {
		t.Fatalf("the label holds %d", n)
	}
	if n := count(srv.Requests(), "POST ", "/labels"); n != 1 {
		t.Fatalf("the label was created %d times", n)
	}
	apply(transport.Action{Kind: mailbox.PostDelete}, ids[3])
	if l := srv.Labels(desk, ids[3]); !slices.Contains(l, "TRASH") || slices.Contains(l, "INBOX") {
		t.Fatalf("after delete: %v (trash, not gone)", l)
	}
	if n, _ := srv.Count(desk, "INBOX"); n != 1 {
		t.Fatalf("INBOX holds %d, want 1", n)
	}
	srv.Remove(desk, ids[0])
	apply(transport.Action{Kind: mailbox.PostSeen}, ids[0]) // 404: done
	cfg := config(t, srv, transport.Net{})
	cfg.CreateLabels = false
	s2 := openSession(t, gmail.NewSource(cfg), inboundMailbox())
	err := s2.Apply(ctx, transport.Action{Kind: mailbox.PostMove, Folder: "Nowhere"}, []string{ids[2]})
	if !errors.Is(err, transport.ErrPermanent) || !strings.Contains(err.Error(), "Nowhere") {
		t.Fatalf("a missing label without CreateLabels: %v", err)
	}
	if err := s2.Apply(ctx, transport.Action{Kind: "archive"}, ids); !errors.Is(err, transport.ErrUnsupported) {
		t.Fatalf("an unknown action: %v", err)
	}
	// A label to read by name.
	m := inboundMailbox()
	m.Inbound.Folder = "Handled/Desk"
	s3 := openSession(t, gmail.NewSource(config(t, srv, transport.Net{})), m)
	from, _, _ := s3.Resume(ctx, "", false)
	if got, err := s3.List(ctx, from); err != nil || len(got) != 2 {
		t.Fatalf("reading the label: %d %v", len(got), err)
	}
	m.Inbound.Folder = "Missing"
	if _, err := gmail.NewSource(config(t, srv, transport.Net{})).Open(ctx, m); !errors.Is(err, transport.ErrPermanent) {
		t.Fatalf("a missing label to read: %v", err)
	}
}

// TestThrottled: 429 and 403 userRateLimitExceeded are waited out (the
// Retry-After, or an exponential backoff when there is none) and retried;
// a wait longer than MaxRetryWait goes to the engine as RetryAfter; 5xx
// are retried and then temporary.
func TestThrottled(t *testing.T) {
	srv := newServer(t)
	deliver(t, srv, "thr", 1)
	cfg := config(t, srv, transport.Net{})
	cfg.MaxRetryWait = 3 * time.Second
	s := openSession(t, gmail.NewSource(cfg), inboundMailbox())
	ctx := context.Background()
	from, _, _ := s.Resume(ctx, "", false)
	srv.Throttle(2, http.StatusTooManyRequests, time.Second)
	start := time.Now()
	items, err := s.List(ctx, from)
	if err != nil || len(items) != 1 {
		t.Fatalf("List after two 429s: %d %v", len(items), err)
	}
	if el := time.Since(start); el < 2*time.Second {
		t.Fatalf("listed after %v, before the two Retry-After: 1 passed", el)
	}
	// No Retry-After: the backoff (10 ms here), three times.
	srv.Throttle(3, http.StatusForbidden, 0)
	before := len(srv.Requests())
	if err := s.Fetch(ctx, items, func(sp *transport.Spool) { _ = sp.Close() }); err != nil {
		t.Fatalf("Fetch after three 403 userRateLimitExceeded: %v", err)
	}
	if n := len(srv.Requests()) - before; n != 4 {
		t.Fatalf("%d requests, want three refused and one served", n)
	}
	srv.Throttle(1, http.StatusTooManyRequests, time.Minute)
	err = s.Fetch(ctx, items, func(sp *transport.Spool) { t.Error("fetched while throttled"); _ = sp.Close() })
	if !errors.Is(err, transport.ErrTemporary) || transport.RetryAfter(err) != time.Minute {
		t.Fatalf("a 429 with Retry-After: 60: %v (%v)", err, transport.RetryAfter(err))
	}
	srv.InjectFault("", 4, mailtest.GmailFault{Status: http.StatusServiceUnavailable, Reason: "backendError"})
	err = s.Fetch(ctx, items, func(sp *transport.Spool) { t.Error("fetched while down"); _ = sp.Close() })
	if !errors.Is(err, transport.ErrTemporary) || transport.RetryAfter(err) <= 0 {
		t.Fatalf("four 503s: %v, want temporary with a backoff", err)
	}
	// A 403 that is not a rate limit is an authorisation problem.
	srv.InjectFault("", 1, mailtest.GmailFault{Status: http.StatusForbidden, Reason: "insufficientPermissions"})
	if _, err := s.List(ctx, from); !errors.Is(err, transport.ErrAuth) {
		t.Fatalf("403 insufficientPermissions: %v", err)
	}
}

type countingToken struct {
	tok         string
	invalidated int
}

func (c *countingToken) Token(context.Context) (mailbox.Secret, error) {
	return mailbox.NewSecret(c.tok), nil
}
func (c *countingToken) InvalidateToken() { c.invalidated++ }

// TestAuth: a refused token is ErrAuth, never retried and never printed;
// the token source is told to refresh; a token of another user is 403.
func TestAuth(t *testing.T) {
	srv := newServer(t)
	src := gmail.NewSource(config(t, srv, transport.Net{}))
	m := inboundMailbox()
	tok := &countingToken{tok: "tok-desk"}
	m.Inbound.Credentials.OAuth2 = tok
	srv.SetTokensRefused(true)
	_, err := src.Open(context.Background(), m)
	if !errors.Is(err, transport.ErrAuth) || transport.Retryable(err) || strings.Contains(err.Error(), "tok-desk") {
		t.Fatalf("refused token: %v", err)
	}
	if tok.invalidated != 1 {
		t.Fatalf("invalidated %d times, want 1", tok.invalidated)
	}
	srv.SetTokensRefused(false)
	srv.AddUser("other@example.com")
	m.Inbound.Credentials.Username = "other@example.com"
	if _, err := src.Open(context.Background(), m); !errors.Is(err, transport.ErrAuth) {
		t.Fatalf("another user's mailbox: %v", err)
	}
	m.Inbound.Credentials = mailbox.Credentials{Username: desk}
	if _, err := src.Open(context.Background(), m); !errors.Is(err, transport.ErrNoToken) {
		t.Fatalf("no token source: %v", err)
	}
}

// TestSizeAndGone: a fetch over the mailbox's limit fails with
// ErrTooLarge naming the item (the engine quarantines it and goes on),
// without spooling it; a message gone before its fetch is skipped.
func TestSizeAndGone(t *testing.T) {
	srv := newServer(t)
	raw := transporttest.Message("size", 1, 5000)
	if _, err := srv.Deliver(desk, raw); err != nil {
		t.Fatal(err)
	}
	gone := deliver(t, srv, "gone", 1)
	m := inboundMailbox()
	m.Inbound.MaxMessageSize = 1000
	s := openSession(t, gmail.NewSource(config(t, srv, transport.Net{})), m)
	ctx := context.Background()
	from, _, _ := s.Resume(ctx, "", false)
	items, err := s.List(ctx, from)
	if err != nil || len(items) != 2 {
		t.Fatalf("List: %+v %v", items, err)
	}
	err = s.Fetch(ctx, items[:1], func(sp *transport.Spool) { t.Error("an oversized message was spooled"); _ = sp.Close() })
	var te *transport.Error
	if !errors.Is(err, gmail.ErrTooLarge) || !errors.As(err, &te) || te.Item != items[0].ID || te.Class != transport.Permanent {
		t.Fatalf("Fetch over the limit: %v", err)
	}
	srv.Remove(desk, gone[0])
	if err := s.Fetch(ctx, items[1:], func(sp *transport.Spool) { t.Error("a removed message was spooled"); _ = sp.Close() }); err != nil {
		t.Fatalf("a message gone before its fetch: %v", err)
	}
}

// TestCursors: foreign and malformed cursors are refused with a class,
// never requested.
func TestCursors(t *testing.T) {
	srv := newServer(t)
	s := openSession(t, gmail.NewSource(config(t, srv, transport.Net{})), inboundMailbox())
	ctx := context.Background()
	for _, bad := range []transport.Cursor{"gmail/2:5", "gmail/1:", "gmail/1:abc", "gmail/1:0", "gmail/1:12+a/b", "gmail/1:12~../x", "imap/1:1:2"} {
		if _, _, err := s.Resume(ctx, bad, false); err == nil || transport.ClassOf(err) != transport.Permanent || !errors.Is(err, transport.ErrCursor) {
			t.Errorf("Resume(%q): %v", bad, err)
		}
		if _, err := s.List(ctx, bad); err == nil || !errors.Is(err, transport.ErrCursor) {
			t.Errorf("List(%q): %v", bad, err)
		}
	}
}

// TestValidate: the Gmail settings have field errors with stable paths.
func TestValidate(t *testing.T) {
	src := gmail.NewSource(nil)
	m := inboundMailbox()
	if err := src.Validate(m); err != nil {
		t.Fatal(err)
	}
	m.Address, m.Inbound.Credentials = "", mailbox.Credentials{Password: mailbox.NewSecret("pw")}
	paths := map[string]mailbox.Code{}
	for _, fe := range mailbox.FieldErrors(src.Validate(m)) {
		paths[fe.Path] = fe.Code
	}
	if paths["inbound.credentials.username"] != mailbox.CodeRequired || paths["inbound.credentials.password"] != mailbox.CodeNotAllowed ||
		paths["inbound.credentials.oauth2"] != mailbox.CodeRequired {
		t.Fatalf("field errors %v", paths)
	}
	m.Inbound.Credentials = mailbox.Credentials{Username: "Desk <desk@example.com>", OAuth2: staticToken("x")}
	if fe := mailbox.FieldErrors(src.Validate(m)); len(fe) != 1 || fe[0].Path != "inbound.credentials.username" {
		t.Fatalf("a user with a display name: %v", fe)
	}
	sa := gmail.NewSource(&gmail.Config{ServiceAccount: &gmail.ServiceAccount{Email: "sa@p.iam.gserviceaccount.com"}})
	m.Inbound.Credentials = mailbox.Credentials{Username: desk}
	if fe := mailbox.FieldErrors(sa.Validate(m)); len(fe) != 1 || fe[0].Code != mailbox.CodeInvalid {
		t.Fatalf("a service account without its key: %v", fe)
	}
	out := outboundMailbox()
	if err := gmail.NewSender(nil).Validate(out); err != nil {
		t.Fatal(err)
	}
	out.Outbound.Credentials.OAuth2 = nil
	if fe := mailbox.FieldErrors(gmail.NewSender(nil).Validate(out)); len(fe) != 1 || fe[0].Path != "outbound.credentials.oauth2" {
		t.Fatalf("sender without a token: %v", fe)
	}
}

// TestNoSecretPrinted: a service account prints, logs and marshals
// redacted.
func TestNoSecretPrinted(t *testing.T) {
	sa := &gmail.ServiceAccount{Email: "sa@p.iam.gserviceaccount.com", PrivateKey: mailbox.NewSecret("-----BEGIN PRIVATE KEY-----top-secret")}
	var buf strings.Builder
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("cfg", "sa", sa)
	j, _ := json.Marshal(sa)
	out := fmt.Sprintf("%v %+v %#v %s", sa, sa, sa, sa) + buf.String() + string(j)
	if strings.Contains(out, "top-secret") || !strings.Contains(out, transport.Redacted) {
		t.Fatalf("printed: %s", out)
	}
}
