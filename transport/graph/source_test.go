package graph_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/graph"
	"github.com/correio-dev/correio/transport/transporttest"
)

func openSession(t *testing.T, src *graph.Source, m *mailbox.Mailbox) transport.Session {
	t.Helper()
	s, err := src.Open(context.Background(), m)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func countPrefix(reqs []string, prefix, contains string) int {
	n := 0
	for _, r := range reqs {
		if strings.HasPrefix(r, prefix) && strings.Contains(r, contains) {
			n++
		}
	}
	return n
}

// TestPaging: one List follows @odata.nextLink pages (asked with Prefer:
// odata.maxpagesize) to the delta link, in delivery order; the cursor of a
// page's last message is the next link, and resuming in the middle of a
// page skips what it passed.
func TestPaging(t *testing.T) {
	srv := newServer(t)
	for i := 1; i <= 5; i++ {
		if _, err := srv.Deliver(desk, "inbox", transporttest.Message("page", i, 100)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config(t, srv, transport.Net{})
	cfg.PageSize = 2
	s := openSession(t, graph.NewSource(cfg), inboundMailbox())
	ctx := context.Background()
	from, _, err := s.Resume(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	items, err := s.List(ctx, from)
	if err != nil || len(items) != 5 {
		t.Fatalf("List: %d items, %v", len(items), err)
	}
	reqs := srv.Requests()
	if n := countPrefix(reqs, "GET ", "skiptoken"); n != 2 {
		t.Fatalf("%d next-link pages fetched, want 2: %v", n, reqs)
	}
	if n := countPrefix(reqs, "GET ", "%24select=id%2CreceivedDateTime"); n != 1 {
		t.Fatalf("the first page should carry $select: %v", reqs)
	}
	link, _, _ := graph.ParseCursor(items[1].Cursor)
	if !strings.Contains(link, "skiptoken") {
		t.Fatalf("the cursor of a page's last message is %q, want the next link", items[1].Cursor)
	}
	if link, _, _ := graph.ParseCursor(items[4].Cursor); !strings.Contains(link, "deltatoken") {
		t.Fatalf("the last message's cursor %q is not the delta link", items[4].Cursor)
	}
	_, hashes, _ := graph.ParseCursor(items[2].Cursor)
	if len(hashes) != 1 {
		t.Fatalf("a cursor in the middle of a page: %q", items[2].Cursor)
	}
	rest, err := s.List(ctx, items[2].Cursor)
	if err != nil || len(rest) != 2 || rest[0].ID != items[3].ID || rest[1].ID != items[4].ID {
		t.Fatalf("after the third: %+v %v", rest, err)
	}
	// Updates of messages this session marked read, and removals, are not
	// new mail.
	if err := s.Apply(ctx, transport.Action{Kind: mailbox.PostSeen}, []string{items[0].ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, transport.Action{Kind: mailbox.PostDelete}, []string{items[1].ID}); err != nil {
		t.Fatal(err)
	}
	if again, err := s.List(ctx, items[4].Cursor); err != nil || len(again) != 0 {
		t.Fatalf("after seen and delete: %+v %v", again, err)
	}
}

// TestDeltaExpired: a delta link the server forgot (410 Gone,
// syncStateNotFound) fails List with ErrCursor; the next Resume resets
// to a full synchronisation.
func TestDeltaExpired(t *testing.T) {
	srv := newServer(t)
	if _, err := srv.Deliver(desk, "inbox", transporttest.Message("exp", 1, 100)); err != nil {
		t.Fatal(err)
	}
	src := graph.NewSource(config(t, srv, transport.Net{}))
	s := openSession(t, src, inboundMailbox())
	ctx := context.Background()
	from, _, _ := s.Resume(ctx, "", false)
	items, err := s.List(ctx, from)
	if err != nil || len(items) != 1 {
		t.Fatal(len(items), err)
	}
	srv.ResetDelta()
	_, err = s.List(ctx, items[0].Cursor)
	if !errors.Is(err, transport.ErrCursor) || !errors.Is(err, graph.ErrExpired) || !transport.Retryable(err) {
		t.Fatalf("List of an expired delta link: %v", err)
	}
	s2 := openSession(t, src, inboundMailbox())
	got, reset, err := s2.Resume(ctx, items[0].Cursor, false)
	if err != nil || !reset {
		t.Fatalf("Resume: %q %v %v, want a reset", got, reset, err)
	}
	if again, err := s2.List(ctx, got); err != nil || len(again) != 1 {
		t.Fatalf("after the reset: %d %v", len(again), err)
	}
}

// TestForeignLink: a cursor whose link is not this mailbox folder's delta
// query (another host, user or folder) is never requested, so the token
// never leaves for it: Resume resets.
func TestForeignLink(t *testing.T) {
	srv := newServer(t)
	s := openSession(t, graph.NewSource(config(t, srv, transport.Net{})), inboundMailbox())
	ctx := context.Background()
	for _, link := range []string{"https://evil.example/v1.0/users/desk@example.com/mailFolders/inbox/messages/delta?$deltatoken=x",
		srv.URL + "/v1.0/users/other@example.com/mailFolders/inbox/messages/delta?$deltatoken=x"} {
		before := len(srv.Requests())
		c := transport.MakeCursor("graph", 1, link)
		got, reset, err := s.Resume(ctx, c, false)
		if err != nil || !reset || got == c {
			t.Fatalf("Resume(%s): %q %v %v", link, got, reset, err)
		}
		if _, err := s.List(ctx, c); !errors.Is(err, transport.ErrCursor) {
			t.Fatalf("List of a foreign link: %v", err)
		}
		if n := len(srv.Requests()); n != before {
			t.Fatalf("a foreign link was requested")
		}
	}
	for _, bad := range []transport.Cursor{"graph/2:https://x/", "graph/1:", "graph/1:not a url", "imap/1:1:2"} {
		if _, _, err := s.Resume(ctx, bad, false); err == nil || transport.ClassOf(err) != transport.Permanent {
			t.Errorf("Resume(%q): %v", bad, err)
		}
	}
}

// TestThrottled: the source waits out a short Retry-After and carries a
// long one to the engine.
func TestThrottled(t *testing.T) {
	srv := newServer(t)
	if _, err := srv.Deliver(desk, "inbox", transporttest.Message("thr", 1, 100)); err != nil {
		t.Fatal(err)
	}
	cfg := config(t, srv, transport.Net{})
	cfg.MaxRetryWait = 3 * time.Second
	s := openSession(t, graph.NewSource(cfg), inboundMailbox())
	ctx := context.Background()
	from, _, _ := s.Resume(ctx, "", false)
	srv.Throttle(2, 429, time.Second)
	start := time.Now()
	items, err := s.List(ctx, from)
	if err != nil || len(items) != 1 {
		t.Fatalf("List after two 429s: %d %v", len(items), err)
	}
	if el := time.Since(start); el < 2*time.Second {
		t.Fatalf("listed after %v, before the two Retry-After: 1 passed", el)
	}
	srv.Throttle(1, 503, time.Minute)
	err = s.Fetch(ctx, items, func(sp *transport.Spool) { t.Error("fetched while throttled"); _ = sp.Close() })
	if !errors.Is(err, transport.ErrTemporary) || transport.RetryAfter(err) != time.Minute {
		t.Fatalf("a 503 with Retry-After: 60: %v (%v)", err, transport.RetryAfter(err))
	}
}

// TestAuth: a refused token is ErrAuth, never retried and never printed;
// the token source is told to refresh.
func TestAuth(t *testing.T) {
	srv := newServer(t)
	src := graph.NewSource(config(t, srv, transport.Net{}))
	m := inboundMailbox()
	tok := &countingToken{tok: "tok-desk"}
	m.Inbound.Credentials.OAuth2 = tok
	srv.SetTokensRefused(true)
	_, err := src.Open(context.Background(), m)
	if !errors.Is(err, transport.ErrAuth) || transport.Retryable(err) || strings.Contains(err.Error(), "tok-desk") {
		t.Fatalf("refused token: %v", err)
	}
	if tok.invalidated != 1 {
		t.Fatalf("the token source was invalidated %d times, want 1", tok.invalidated)
	}
	srv.SetTokensRefused(false)
	m.Inbound.Credentials.OAuth2 = nil
	if _, err := src.Open(context.Background(), m); !errors.Is(err, transport.ErrAuth) || !errors.Is(err, transport.ErrNoToken) {
		t.Fatalf("no token source: %v", err)
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

// TestValidate: the Graph settings have field errors with stable paths.
func TestValidate(t *testing.T) {
	src := graph.NewSource(nil)
	m := inboundMailbox()
	if err := src.Validate(m); err != nil {
		t.Fatal(err)
	}
	m.Address, m.Inbound.Credentials = "", mailbox.Credentials{Password: mailbox.NewSecret("pw")}
	fes := mailbox.FieldErrors(src.Validate(m))
	paths := map[string]mailbox.Code{}
	for _, fe := range fes {
		paths[fe.Path] = fe.Code
	}
	if paths["inbound.credentials.username"] != mailbox.CodeRequired || paths["inbound.credentials.password"] != mailbox.CodeNotAllowed ||
		paths["inbound.credentials.oauth2"] != mailbox.CodeRequired {
		t.Fatalf("field errors %v", paths)
	}
	m.Inbound.Credentials = mailbox.Credentials{Username: "not an address", OAuth2: staticToken("x")}
	if fe := mailbox.FieldErrors(src.Validate(m)); len(fe) != 1 || fe[0].Path != "inbound.credentials.username" {
		t.Fatalf("bad user: %v", fe)
	}
	app := graph.NewSource(&graph.Config{AppOnly: &graph.AppOnly{TenantID: "t"}})
	m.Inbound.Credentials = mailbox.Credentials{Username: desk}
	if fe := mailbox.FieldErrors(app.Validate(m)); len(fe) != 1 || fe[0].Code != mailbox.CodeInvalid {
		t.Fatalf("incomplete app-only settings: %v", fe)
	}
	out := outboundMailbox()
	if err := graph.NewSender(nil).Validate(out); err != nil {
		t.Fatal(err)
	}
	out.Outbound.Credentials.OAuth2 = nil
	if fe := mailbox.FieldErrors(graph.NewSender(nil).Validate(out)); len(fe) != 1 || fe[0].Path != "outbound.credentials.oauth2" {
		t.Fatalf("sender without a token: %v", fe)
	}
}

// TestMoveToNamedFolder: a move target by display name is created once
// and reused; the moved message leaves the folder's delta as a removal.
// TestNestedFolders: a folder path ("inbox/Support", "Archive 2026/Done")
// is read below its parent, and a move target path is created level by
// level once; a missing level of a folder to read is a Permanent error.
func TestNestedFolders(t *testing.T) {
	srv := newServer(t)
	if _, err := srv.CreateFolder(desk, "inbox/Support"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		if _, err := srv.Deliver(desk, "inbox/Support", transporttest.Message("nested", i, 100)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.Deliver(desk, "inbox", transporttest.Message("top", 1, 100)); err != nil {
		t.Fatal(err)
	}
	m := inboundMailbox()
	m.Inbound.Folder = "Inbox/Support"
	src := graph.NewSource(config(t, srv, transport.Net{}))
	s := openSession(t, src, m)
	ctx := context.Background()
	from, _, _ := s.Resume(ctx, "", false)
	items, err := s.List(ctx, from)
	if err != nil || len(items) != 2 {
		t.Fatalf("List of inbox/Support: %d %v", len(items), err)
	}
	for _, it := range items {
		if err := s.Apply(ctx, transport.Action{Kind: mailbox.PostMove, Folder: "Archive 2026/Done"}, []string{it.ID}); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := srv.Count(desk, "Archive 2026/Done"); n != 2 {
		t.Fatalf("Archive 2026/Done holds %d", n)
	}
	if n, _ := srv.Count(desk, "Archive 2026"); n != 0 {
		t.Fatalf("the parent holds %d", n)
	}
	if n := countPrefix(srv.Requests(), "POST /v1.0/users/"+desk+"/mailFolders", ""); n-countPrefix(srv.Requests(), "POST ", "/childFolders") != 1 {
		t.Fatalf("%d top-level folders created, want 1", n)
	}
	if n := countPrefix(srv.Requests(), "POST ", "/childFolders"); n != 1 {
		t.Fatalf("%d child folders created, want 1", n)
	}
	m.Inbound.Folder = "inbox/Nowhere"
	if _, err := src.Open(ctx, m); !errors.Is(err, transport.ErrPermanent) {
		t.Fatalf("a missing level: %v", err)
	}
}

func TestMoveToNamedFolder(t *testing.T) {
	srv := newServer(t)
	for i := 1; i <= 2; i++ {
		if _, err := srv.Deliver(desk, "inbox", transporttest.Message("mv", i, 100)); err != nil {
			t.Fatal(err)
		}
	}
	s := openSession(t, graph.NewSource(config(t, srv, transport.Net{})), inboundMailbox())
	ctx := context.Background()
	from, _, _ := s.Resume(ctx, "", false)
	items, _ := s.List(ctx, from)
	for _, it := range items {
		if err := s.Apply(ctx, transport.Action{Kind: mailbox.PostMove, Folder: "Handled"}, []string{it.ID}); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := srv.Count(desk, "Handled"); n != 2 {
		t.Fatalf("Handled holds %d", n)
	}
	if n := countPrefix(srv.Requests(), "POST ", "/mailFolders"); n != 1 {
		t.Fatalf("the folder was created %d times", n)
	}
	if n, _ := srv.Count(desk, "inbox"); n != 0 {
		t.Fatalf("inbox holds %d", n)
	}
	// A folder to read by display name must exist.
	m := inboundMailbox()
	m.Inbound.Folder = "Nowhere"
	if _, err := graph.NewSource(config(t, srv, transport.Net{})).Open(ctx, m); !errors.Is(err, transport.ErrPermanent) {
		t.Fatalf("a missing folder: %v", err)
	}
	m.Inbound.Folder = "Handled"
	s2 := openSession(t, graph.NewSource(config(t, srv, transport.Net{})), m)
	from, _, _ = s2.Resume(ctx, "", false)
	if got, err := s2.List(ctx, from); err != nil || len(got) != 2 {
		t.Fatalf("reading the Handled folder: %d %v", len(got), err)
	}
}

// TestMailboxConcurrency: many sessions of one mailbox never have more
// than Exchange's four requests in flight (the server refuses a fifth with
// 429); a plain client without that limit is refused.
func TestMailboxConcurrency(t *testing.T) {
	srv := newServer(t)
	if _, err := srv.Deliver(desk, "inbox", transporttest.Message("conc", 1, 100)); err != nil {
		t.Fatal(err)
	}
	srv.SetDelay(50 * time.Millisecond)
	cfg := config(t, srv, transport.Net{})
	cfg.MaxRetryWait = -1
	src := graph.NewSource(cfg)
	ctx := context.Background()
	errs := make(chan error, 12)
	for range 12 {
		go func() {
			s, err := src.Open(ctx, inboundMailbox())
			if err == nil {
				var from transport.Cursor
				if from, _, err = s.Resume(ctx, "", false); err == nil {
					_, err = s.List(ctx, from)
				}
			}
			errs <- err
		}()
	}
	for range 12 {
		if err := <-errs; err != nil {
			t.Errorf("a session: %v", err)
		}
	}
	if n := srv.OverConcurrency(); n != 0 {
		t.Fatalf("%d requests over the mailbox's concurrency", n)
	}
	// The server's rule itself: eight bare requests at once, some refused.
	done := make(chan int, 8)
	for range 8 {
		go func() {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1.0/users/"+desk+"/mailFolders/inbox", nil)
			req.Header.Set("Authorization", "Bearer tok-desk")
			resp, err := srv.Client().Do(req)
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
	}
	refused := 0
	for range 8 {
		if <-done == http.StatusTooManyRequests {
			refused++
		}
	}
	if refused == 0 || srv.OverConcurrency() != refused {
		t.Fatalf("%d of 8 concurrent bare requests refused (server counted %d), want some", refused, srv.OverConcurrency())
	}
}

func selfSigned(t *testing.T) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "correio app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// TestAppOnlyCertificate: a certificate credential signs a client
// assertion the token endpoint verifies; another key is refused.
func TestAppOnlyCertificate(t *testing.T) {
	srv := newServer(t)
	cert, key := selfSigned(t)
	srv.AddClientCertificate("tenant-1", "app-cert", cert)
	m := inboundMailbox()
	m.Inbound.Credentials = mailbox.Credentials{Username: desk}
	cfg := config(t, srv, transport.Net{})
	cfg.AppOnly = &graph.AppOnly{TenantID: "tenant-1", ClientID: "app-cert", Certificate: cert, PrivateKey: key, Authority: srv.URL}
	src := graph.NewSource(cfg)
	if err := src.Validate(m); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if _, err := src.Open(context.Background(), m); err != nil {
		t.Fatalf("Open with a certificate credential: %v", err)
	}
	otherCert, other := selfSigned(t)
	cfg2 := config(t, srv, transport.Net{})
	cfg2.AppOnly = &graph.AppOnly{TenantID: "tenant-1", ClientID: "app-cert", Certificate: otherCert, PrivateKey: other, Authority: srv.URL}
	if _, err := graph.NewSource(cfg2).Open(context.Background(), m); !errors.Is(err, transport.ErrAuth) {
		t.Fatalf("an assertion signed with an unregistered certificate: %v, want ErrAuth", err)
	}
	cfg3 := config(t, srv, transport.Net{})
	cfg3.AppOnly = &graph.AppOnly{TenantID: "tenant-1", ClientID: "app-cert", Certificate: cert, PrivateKey: other, Authority: srv.URL}
	var ve *mailbox.ValidationError
	if err := graph.NewSource(cfg3).Validate(m); !errors.As(err, &ve) {
		t.Fatalf("Validate of a key that is not the certificate's: %v, want a ValidationError", err)
	}
}

// TestNoSecretPrinted: app-only credentials print, log and marshal
// redacted.
func TestNoSecretPrinted(t *testing.T) {
	cert, key := selfSigned(t)
	a := &graph.AppOnly{TenantID: "t", ClientID: "c", ClientSecret: mailbox.NewSecret("top-secret-value"), Certificate: cert, PrivateKey: key}
	var buf strings.Builder
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("cfg", "app", a)
	j, _ := json.Marshal(a)
	out := fmt.Sprintf("%v %+v %#v %s", a, a, a, a) + buf.String() + string(j)
	if strings.Contains(out, "top-secret-value") || strings.Contains(out, key.D.String()) || !strings.Contains(out, transport.Redacted) {
		t.Fatalf("printed: %s", out)
	}
}

// TestSize: List announces each message's size (the extended property
// PidTagMessageSize), so the engine can quarantine an oversized message
// unread; a fetch over the mailbox's limit fails with ErrTooLarge instead
// of spooling it.
func TestSize(t *testing.T) {
	srv := newServer(t)
	raw := transporttest.Message("size", 1, 5000)
	if _, err := srv.Deliver(desk, "inbox", raw); err != nil {
		t.Fatal(err)
	}
	m := inboundMailbox()
	m.Inbound.MaxMessageSize = 1000
	s := openSession(t, graph.NewSource(config(t, srv, transport.Net{})), m)
	ctx := context.Background()
	from, _, _ := s.Resume(ctx, "", false)
	items, err := s.List(ctx, from)
	if err != nil || len(items) != 1 || items[0].Size != int64(len(raw)) {
		t.Fatalf("List: %+v %v, want the size %d", items, err, len(raw))
	}
	err = s.Fetch(ctx, items, func(sp *transport.Spool) { t.Error("an oversized message was spooled"); _ = sp.Close() })
	if !errors.Is(err, graph.ErrTooLarge) || !errors.Is(err, transport.ErrPermanent) {
		t.Fatalf("Fetch over the limit: %v", err)
	}
}
