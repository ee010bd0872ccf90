package inbound_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/sqlite"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/pop3"
)

// popTimeout bounds each POP3 command in these tests. No test here waits on
// it (the server answers or the test fails), so it is long: a command slowed
// by a loaded machine must not become an error the health check then sees.
const popTimeout = 30 * time.Second

// morePolls waits until the Poller has logged in to srv n more times. The
// POP3 source reconnects for each poll, so each login is a new poll, begun
// after the previous one finished; checks of what a poll must not do (hand
// twice, delete early) then rest on polls that happened, not on a sleep
// that a loaded machine may fill with none.
func morePolls(t testing.TB, srv *mailtest.POP3Server, n int) {
	t.Helper()
	from := srv.Logins()
	eventually(t, fmt.Sprintf("%d more POP3 polls", n), func() bool { return srv.Logins() >= from+n })
}

// A POP3 mailbox read by the Poller end to end, on the SQLite store: every
// message handed once (post-action keep, so the maildrop keeps them and only
// the stored UIDL cursor tells old from new), across a restart of the
// Poller on the reopened database; new mail after the restart is read.
func TestPollerReadsPOP3(t *testing.T) {
	srv, err := mailtest.NewPOP3Server(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	srv.AddUser("pop", "pw-pop")
	for i := 1; i <= 3; i++ {
		if _, err := srv.Deliver("pop", rawMsg("pop", i)); err != nil {
			t.Fatal(err)
		}
	}
	m := &mailbox.Mailbox{ID: "pop", Description: "POP3 support", Kind: mailbox.Inbound, Enabled: true,
		Inbound: &mailbox.InboundSettings{Transport: mailbox.TransportPOP3, PostAction: mailbox.PostKeep,
			PollInterval: 20 * time.Millisecond,
			Server:       mailbox.Server{Host: srv.Host(), Port: srv.Port(), Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			Credentials:  mailbox.Credentials{Username: "pop", Password: mailbox.NewSecret("pw-pop")}}}
	path := filepath.Join(t.TempDir(), "correio.db")
	rec := newRecorder()
	run := func() (*running, *sqlite.Store) {
		st, err := sqlite.Open(context.Background(), path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		o := fastOptions(st.Inbound(), rec)
		o.Source = transport.Sources{mailbox.TransportPOP3: pop3.NewSource(&pop3.Config{Timeout: popTimeout})}
		return start(t, o, m), st
	}
	r, st := run()
	eventually(t, "three POP3 messages handed", func() bool { return rec.count("pop") == 3 })
	r.stop()
	_ = st.Close()

	if _, err := srv.Deliver("pop", rawMsg("pop", 4)); err != nil {
		t.Fatal(err)
	}
	r, st = run()
	defer st.Close()
	eventually(t, "the new message after the restart", func() bool { return rec.count("pop") == 4 })
	// A few more polls: each logs in again, after the previous poll's
	// commit, so the health below counts the hand-off and any second
	// hand-off would have happened.
	morePolls(t, srv, 3)
	if d := rec.dupes(); len(d) != 0 {
		t.Fatalf("handed twice: %v", d)
	}
	if n, _ := srv.Messages("pop"); n != 4 {
		t.Fatalf("keep left %d messages on the server, want 4", n)
	}
	if h := r.health("pop"); h.Handled != 1 || h.LastError != "" {
		t.Fatalf("health after the restart: %s", fmt.Sprintf("%+v", h))
	}
}

// TestPollerPOP3Retention: the Poller reads a POP3 mailbox with leave on
// server and a retention of a day (the POP3 source's clock is a fake,
// advanced by the test): handled mail stays on the server until a day
// after its hand-off, then a poll deletes it; mail handed later stays,
// and nothing is handed twice.
func TestPollerPOP3Retention(t *testing.T) {
	srv, err := mailtest.NewPOP3Server(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	srv.AddUser("pop", "pw-pop")
	for i := 1; i <= 2; i++ {
		if _, err := srv.Deliver("pop", rawMsg("pop", i)); err != nil {
			t.Fatal(err)
		}
	}
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	m := &mailbox.Mailbox{ID: "pop", Description: "POP3 support", Kind: mailbox.Inbound, Enabled: true,
		Inbound: &mailbox.InboundSettings{Transport: mailbox.TransportPOP3, PostAction: mailbox.PostKeep, KeepFor: 24 * time.Hour,
			PollInterval: 20 * time.Millisecond,
			Server:       mailbox.Server{Host: srv.Host(), Port: srv.Port(), Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			Credentials:  mailbox.Credentials{Username: "pop", Password: mailbox.NewSecret("pw-pop")}}}
	rec := newRecorder()
	o := fastOptions(memory.NewInboundStore(), rec)
	o.Source = transport.Sources{mailbox.TransportPOP3: pop3.NewSource(&pop3.Config{Timeout: popTimeout, Clock: clk})}
	r := start(t, o, m)
	defer r.stop()
	eventually(t, "two handed", func() bool { return rec.count("pop") == 2 })
	morePolls(t, srv, 3)
	if n, _ := srv.Messages("pop"); n != 2 {
		t.Fatalf("%d on the server within the retention, want 2", n)
	}
	clk.Advance(23 * time.Hour)
	if _, err := srv.Deliver("pop", rawMsg("pop", 3)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the third handed", func() bool { return rec.count("pop") == 3 })
	clk.Advance(2 * time.Hour)
	eventually(t, "the first two deleted", func() bool { n, _ := srv.Messages("pop"); return n == 1 })
	morePolls(t, srv, 3)
	if n, _ := srv.Messages("pop"); n != 1 {
		t.Fatalf("%d on the server, want the third only", n)
	}
	if d := rec.dupes(); len(d) != 0 || rec.count("pop") != 3 {
		t.Fatalf("handed %d, twice: %v", rec.count("pop"), d)
	}
}
