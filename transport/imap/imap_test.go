package imap_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/imap"
)

func newServer(t *testing.T, opts *mailtest.IMAPOptions) *mailtest.IMAPServer {
	t.Helper()
	s, err := mailtest.NewIMAPServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.AddUser("alice", "secret")
	return s
}

func inbound(host string, port int) *mailbox.Mailbox {
	return &mailbox.Mailbox{ID: "mb1", Description: "test", Kind: mailbox.Inbound, Enabled: true,
		Inbound: &mailbox.InboundSettings{
			Server:      mailbox.Server{Host: host, Port: port, Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			Credentials: mailbox.Credentials{Username: "alice", Password: mailbox.NewSecret("secret")},
		}}
}

func msg(i int) []byte {
	return []byte(fmt.Sprintf("From: a@example.com\r\nTo: b@example.com\r\nSubject: m%d\r\nMessage-ID: <m%d@example.com>\r\n\r\nbody %d\r\n", i, i, i))
}

var cfg = &imap.Config{Timeout: 5 * time.Second}

func dial(t *testing.T, m *mailbox.Mailbox) *imap.Session {
	t.Helper()
	s, err := imap.Dial(context.Background(), cfg, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestListFetchSeenMove(t *testing.T) {
	for _, noMove := range []bool{false, true} {
		t.Run(fmt.Sprintf("nomove=%v", noMove), func(t *testing.T) {
			srv := newServer(t, &mailtest.IMAPOptions{NoMove: noMove})
			for i := 1; i <= 5; i++ {
				if _, err := srv.Append("alice", "INBOX", msg(i)); err != nil {
					t.Fatal(err)
				}
			}
			ctx := context.Background()
			s := dial(t, inbound(srv.Host(), srv.Port()))
			if s.Caps().Move == noMove {
				t.Fatalf("caps %+v", s.Caps())
			}
			f, err := s.Select(ctx, "INBOX")
			if err != nil || f.Messages != 5 || f.UIDValidity == 0 {
				t.Fatalf("select %+v %v", f, err)
			}
			infos, err := s.List(ctx, 2)
			if err != nil || len(infos) != 3 || infos[0].UID != 3 {
				t.Fatalf("list %+v %v", infos, err)
			}
			if none, err := s.List(ctx, 5); err != nil || len(none) != 0 {
				t.Fatalf("list after last: %+v %v", none, err)
			}
			sp, err := s.Fetch(ctx, []imap.UID{3, 4, 5}, 0)
			if err != nil || len(sp) != 3 {
				t.Fatalf("fetch %d %v", len(sp), err)
			}
			for i, p := range sp {
				b := make([]byte, p.Size())
				if _, err := p.ReadAt(b, 0); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(b, msg(i+3)) {
					t.Fatalf("body %d: %q", i, b)
				}
				p.Close()
			}
			// BODY.PEEK leaves messages unseen.
			if st, _ := srv.Status("alice", "INBOX"); *st.NumUnseen != 5 {
				t.Fatalf("unseen after peek %d", *st.NumUnseen)
			}
			if err := s.MarkSeen(ctx, []imap.UID{1, 2}); err != nil {
				t.Fatal(err)
			}
			if st, _ := srv.Status("alice", "INBOX"); *st.NumUnseen != 3 {
				t.Fatalf("unseen after seen %d", *st.NumUnseen)
			}
			if err := s.Move(ctx, []imap.UID{1, 2, 3}, "Done/Tickets"); err != nil {
				t.Fatal(err)
			}
			in, _ := srv.Status("alice", "INBOX")
			done, err := srv.Status("alice", "Done/Tickets")
			if err != nil || *in.NumMessages != 2 || *done.NumMessages != 3 {
				t.Fatalf("after move inbox=%v done=%v %v", *in.NumMessages, done, err)
			}
			if err := s.Delete(ctx, []imap.UID{4}); err != nil {
				t.Fatal(err)
			}
			if in, _ := srv.Status("alice", "INBOX"); *in.NumMessages != 1 {
				t.Fatalf("after delete %d", *in.NumMessages)
			}
		})
	}
}

func TestLargeMessageSpoolsToDisk(t *testing.T) {
	srv := newServer(t, nil)
	big := append(msg(1), bytes.Repeat([]byte("0123456789abcdef\r\n"), 100_000)...)
	srv.Append("alice", "INBOX", big)
	c := *cfg
	c.SpoolMemory = 64 << 10
	c.SpoolDir = t.TempDir()
	s, err := imap.Dial(context.Background(), &c, inbound(srv.Host(), srv.Port()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Select(context.Background(), "INBOX")
	sp, err := s.Fetch(context.Background(), []imap.UID{1}, int64(len(big)))
	if err != nil || len(sp) != 1 {
		t.Fatal(err)
	}
	if sp[0].InMemory() || sp[0].Size() != int64(len(big)) {
		t.Fatalf("in memory %v size %d", sp[0].InMemory(), sp[0].Size())
	}
	got, _ := io.ReadAll(sp[0].Reader())
	if !bytes.Equal(got, big) {
		t.Fatal("file spool differs from the message")
	}
	if files, _ := os.ReadDir(c.SpoolDir); len(files) != 1 {
		t.Fatalf("spool files: %d", len(files))
	}
	sp[0].Close()
	if files, _ := os.ReadDir(c.SpoolDir); len(files) != 0 {
		t.Fatalf("spool file left behind: %v", files)
	}
}

func TestAuthErrorsAndMechanisms(t *testing.T) {
	srv := newServer(t, nil)
	m := inbound(srv.Host(), srv.Port())
	for _, mech := range []mailbox.AuthMechanism{mailbox.AuthAuto, mailbox.AuthPlain, mailbox.AuthLogin} {
		m.Inbound.Credentials.Mechanism = mech
		s, err := imap.Dial(context.Background(), cfg, m)
		if err != nil {
			t.Fatalf("%s: %v", mech, err)
		}
		s.Close()
	}
	m.Inbound.Credentials.Mechanism = mailbox.AuthAuto
	m.Inbound.Credentials.Password = mailbox.NewSecret("wrong-password-xyz")
	_, err := imap.Dial(context.Background(), cfg, m)
	if !errors.Is(err, transport.ErrAuth) {
		t.Fatalf("want auth error, got %v", err)
	}
	if strings.Contains(err.Error(), "wrong-password-xyz") {
		t.Fatal("error leaks the password")
	}
	// Plaintext without the opt-in is refused before dialling.
	m2 := inbound(srv.Host(), srv.Port())
	m2.Inbound.Server.AllowPlaintext = false
	if _, err := imap.Dial(context.Background(), cfg, m2); !errors.Is(err, transport.ErrPolicy) {
		t.Fatalf("plaintext without opt-in: %v", err)
	}
}

type tokens struct {
	mu          sync.Mutex
	tok         string
	next        string
	invalidated int
}

func (t *tokens) Token(context.Context) (mailbox.Secret, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return mailbox.NewSecret(t.tok), nil
}
func (t *tokens) InvalidateToken() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.invalidated++
	t.tok = t.next
}

func TestXOAUTH2RefreshesOnce(t *testing.T) {
	srv := newServer(t, nil)
	srv.SetToken("alice", "fresh-token")
	ts := &tokens{tok: "stale-token", next: "fresh-token"}
	m := inbound(srv.Host(), srv.Port())
	m.Inbound.Credentials = mailbox.Credentials{Username: "alice", OAuth2: ts}
	s, err := imap.Dial(context.Background(), cfg, m)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if ts.invalidated != 1 {
		t.Fatalf("invalidated %d times", ts.invalidated)
	}
	// A token refused twice is an auth error, after exactly one refresh.
	ts2 := &tokens{tok: "bad", next: "still-bad"}
	m.Inbound.Credentials.OAuth2 = ts2
	if _, err := imap.Dial(context.Background(), cfg, m); !errors.Is(err, transport.ErrAuth) || ts2.invalidated != 1 {
		t.Fatalf("err %v invalidated %d", err, ts2.invalidated)
	}
}

func TestIdleWakesOnAppend(t *testing.T) {
	srv := newServer(t, nil)
	s := dial(t, inbound(srv.Host(), srv.Port()))
	if !s.Caps().Idle {
		t.Fatal("no IDLE")
	}
	ctx := context.Background()
	if _, err := s.Select(ctx, "INBOX"); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		srv.Append("alice", "INBOX", msg(1))
	}()
	woke, err := s.Idle(ctx, nil, time.Minute)
	if err != nil || !woke {
		t.Fatalf("woke %v err %v", woke, err)
	}
	infos, err := s.List(ctx, 0)
	if err != nil || len(infos) != 1 {
		t.Fatalf("%v %v", infos, err)
	}
}

func TestBlackholeAndDropMidFetch(t *testing.T) {
	srv := newServer(t, nil)
	px, err := mailtest.NewProxy(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	m := inbound(px.Host(), px.Port())
	// The blackhole is detected by the greeting timeout, so that dial's
	// is short; the drop needs none (the connection closes), so the
	// session that must work gets a timeout a loaded machine cannot reach.
	c := &imap.Config{Timeout: 300 * time.Millisecond}

	px.SetMode(mailtest.Blackhole)
	_, err = imap.Dial(context.Background(), c, m)
	if !errors.Is(err, transport.ErrTemporary) {
		t.Fatalf("blackhole: %v", err)
	}

	px.SetMode(mailtest.Pass)
	srv.Append("alice", "INBOX", append(msg(1), bytes.Repeat([]byte("x"), 200_000)...))
	s, err := imap.Dial(context.Background(), &imap.Config{Timeout: 30 * time.Second}, m)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Abort()
	if _, err := s.Select(context.Background(), "INBOX"); err != nil {
		t.Fatal(err)
	}
	px.DropAfter(1000)
	sp, err := s.Fetch(context.Background(), []imap.UID{1}, 200_000)
	if !errors.Is(err, transport.ErrTemporary) || len(sp) != 0 {
		t.Fatalf("drop mid-fetch: %d spools, %v", len(sp), err)
	}
}

func TestProbe(t *testing.T) {
	srv := newServer(t, &mailtest.IMAPOptions{NoUIDPlus: true})
	srv.Append("alice", "INBOX", msg(1))
	m := inbound(srv.Host(), srv.Port())
	m.Inbound.PostAction = mailbox.PostDelete
	r, err := imap.Probe(context.Background(), cfg, m)
	if err != nil {
		t.Fatal(err)
	}
	if r.Messages != 1 || r.Unseen != 1 || !r.Caps.Idle || r.Caps.UIDPlus || len(r.Warnings) != 1 {
		t.Fatalf("%+v", r)
	}
	m.Inbound.Folder = "Missing"
	if _, err := imap.Probe(context.Background(), cfg, m); !errors.Is(err, transport.ErrPermanent) {
		t.Fatalf("missing folder: %v", err)
	}
	srv.SetLoginRefused(true)
	m.Inbound.Folder = ""
	if _, err := imap.Probe(context.Background(), cfg, m); !errors.Is(err, transport.ErrAuth) {
		t.Fatalf("refused login: %v", err)
	}
}

func TestIdleRenews(t *testing.T) {
	srv := newServer(t, nil)
	s := dial(t, inbound(srv.Host(), srv.Port()))
	ctx := context.Background()
	s.Select(ctx, "INBOX")
	renew := make(chan time.Time, 1)
	renew <- time.Now() // the renewal timer fired
	woke, err := s.Idle(ctx, renew, time.Minute)
	if err != nil || woke {
		t.Fatalf("woke %v err %v", woke, err)
	}
	// The session is usable again after the IDLE ended.
	if _, err := s.List(ctx, 0); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if woke, err := s.Idle(cctx, nil, time.Minute); woke || err == nil {
		t.Fatalf("cancelled context: woke %v err %v", woke, err)
	}
}

func TestProbeRespectsAddressPolicy(t *testing.T) {
	srv := newServer(t, nil)
	c := &imap.Config{Timeout: 5 * time.Second, Net: transport.Net{Policy: transport.PublicOnly}}
	_, err := imap.Probe(context.Background(), c, inbound(srv.Host(), srv.Port()))
	if !errors.Is(err, transport.ErrPolicy) {
		t.Fatalf("loopback under PublicOnly: %v", err)
	}
	if ok, failed := srv.Logins(); ok+failed != 0 {
		t.Fatal("the server was contacted")
	}
}

// A server that closes the connection during IDLE ends the IDLE with the
// cause the reader saw (EOF), not with the DONE that could no longer be
// written on the closed connection.
func TestIdleServerCloseNamesTheCause(t *testing.T) {
	srv := newServer(t, nil)
	px, err := mailtest.NewProxy(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	s := dial(t, inbound(px.Host(), px.Port()))
	ctx := context.Background()
	if _, err := s.Select(ctx, "INBOX"); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		px.CloseConns()
	}()
	_, err = s.Idle(ctx, nil, time.Minute)
	if err == nil {
		t.Fatal("IDLE on a closed connection: no error")
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("err %v: want the reader's EOF or reset", err)
	}
	if strings.Contains(err.Error(), "use of closed network connection") {
		t.Errorf("err %v names our own closed connection, not the cause", err)
	}
}
