package pop3_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/imap"
	"github.com/correio-dev/correio/transport/pop3"
)

// poll is one poll as the engine does it: a session from the committed
// cursor, every new item fetched and "handed off" (the last item's
// cursor is the new commit), the keep post-action, then the session ends
// (QUIT commits the retention's deletions).
func poll(t *testing.T, src *pop3.Source, m *mailbox.Mailbox, committed transport.Cursor) (transport.Cursor, []string) {
	t.Helper()
	ctx := ctx5(t)
	s, err := src.Open(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	from, reset, err := s.Resume(ctx, committed, false)
	if err != nil || reset {
		t.Fatalf("Resume: %v reset=%v", err, reset)
	}
	items, err := s.List(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := s.Fetch(ctx, items, func(sp *transport.Spool) {
		defer sp.Close()
		b := make([]byte, sp.Size())
		_, _ = sp.ReadAt(b, 0)
		got = append(got, strings.SplitN(string(b), "\r\n", 2)[0])
	}); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
		committed = it.Cursor
	}
	if err := s.Apply(ctx, transport.Action{Kind: mailbox.PostKeep}, ids); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return committed, got
}

func count(t *testing.T, srv interface{ Messages(string) (int, error) }) int {
	t.Helper()
	n, err := srv.Messages("alice")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRetention: leave on server with a retention. Handled mail stays on
// the server (keep) until KeepFor has passed since its hand-off, measured
// by the time the cursor keeps per UIDL (POP3 has no reliable date), then
// it is deleted; nothing is handed twice and mail not yet handed is never
// deleted, whatever its age on the server. With the content-hash cursor
// (no UIDL) as well.
func TestRetention(t *testing.T) {
	for _, noUIDL := range []bool{false, true} {
		t.Run(fmt.Sprintf("nouidl=%v", noUIDL), func(t *testing.T) {
			srv := newServer(t, &mailtest.POP3Options{NoUIDL: noUIDL})
			clk := clock.NewFake(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
			src := pop3.NewSource(&pop3.Config{Timeout: 5 * time.Second, Clock: clk})
			m := inbound(srv.Host(), srv.Port())
			m.Inbound.KeepFor = 48 * time.Hour
			if err := transport.ValidateSource(src, m); err != nil {
				t.Fatalf("valid retention: %v", err)
			}
			deliver := func(subject string) {
				if _, err := srv.Deliver("alice", []byte("Subject: "+subject+"\r\nMessage-ID: <"+subject+"@x>\r\n\r\nbody\r\n")); err != nil {
					t.Fatal(err)
				}
			}
			deliver("one")
			deliver("two")
			cur, got := poll(t, src, m, "")
			if len(got) != 2 || count(t, srv) != 2 {
				t.Fatalf("first poll handed %v, server has %d", got, count(t, srv))
			}
			if !strings.Contains(string(cur), "t:") {
				t.Fatalf("cursor %q carries no hand-off times", cur)
			}

			clk.Advance(24 * time.Hour)
			deliver("three")
			cur, got = poll(t, src, m, cur)
			if len(got) != 1 || got[0] != "Subject: three" || count(t, srv) != 3 {
				t.Fatalf("a day later handed %v, server has %d (want three only, 3 kept)", got, count(t, srv))
			}

			// 48h after the first hand-off: one and two go, three stays.
			clk.Advance(24 * time.Hour)
			cur, got = poll(t, src, m, cur)
			if len(got) != 0 {
				t.Fatalf("handed again: %v", got)
			}
			if n := count(t, srv); n != 1 {
				t.Fatalf("server has %d messages after the retention of the first two, want 1", n)
			}
			// The retention must not make the kept one look new.
			cur, got = poll(t, src, m, cur)
			if len(got) != 0 || count(t, srv) != 1 {
				t.Fatalf("after the deletion: handed %v, server has %d", got, count(t, srv))
			}
			clk.Advance(24 * time.Hour)
			if _, got = poll(t, src, m, cur); len(got) != 0 || count(t, srv) != 0 {
				t.Fatalf("three past its retention: handed %v, server has %d", got, count(t, srv))
			}
		})
	}
}

// TestRetentionNeverHandedStays: mail that was on the server before a
// start-from-new mailbox's first poll was never handed off, so a
// retention never deletes it; mail handed off is deleted.
func TestRetentionNeverHandedStays(t *testing.T) {
	srv := newServer(t, nil)
	if _, err := srv.Deliver("alice", []byte("Subject: old\r\n\r\nold\r\n")); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	src := pop3.NewSource(&pop3.Config{Timeout: 5 * time.Second, Clock: clk})
	m := inbound(srv.Host(), srv.Port())
	m.Inbound.KeepFor, m.Inbound.StartFrom = time.Hour, mailbox.StartNew
	ctx := ctx5(t)
	s, err := src.Open(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	start, _, err := s.Resume(ctx, "", true)
	_ = s.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Deliver("alice", []byte("Subject: new\r\n\r\nnew\r\n")); err != nil {
		t.Fatal(err)
	}
	cur, got := poll(t, src, m, start)
	if len(got) != 1 || got[0] != "Subject: new" {
		t.Fatalf("handed %v, want the new one", got)
	}
	clk.Advance(2 * time.Hour)
	poll(t, src, m, cur)
	if n := count(t, srv); n != 1 {
		t.Fatalf("server has %d, want the never-handed one only", n)
	}
	// Read from scratch, the one left is the old one.
	if _, got = poll(t, src, m, ""); len(got) != 1 || got[0] != "Subject: old" {
		t.Fatalf("left on the server: %v, want the old one", got)
	}
}

// TestRetentionLostQuit: a connection that breaks before QUIT loses the
// retention's deletions (RFC 1939: DELE takes effect in the UPDATE
// state); the cursor still names the message, so the next poll deletes
// it again instead of handing it as new.
func TestRetentionLostQuit(t *testing.T) {
	srv := newServer(t, nil)
	if _, err := srv.Deliver("alice", []byte("Subject: a\r\n\r\na\r\n")); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	src := pop3.NewSource(&pop3.Config{Timeout: 5 * time.Second, Clock: clk})
	m := inbound(srv.Host(), srv.Port())
	m.Inbound.KeepFor = time.Hour
	cur, _ := poll(t, src, m, "")
	clk.Advance(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := src.Open(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if items, err := s.List(ctx, cur); err != nil || len(items) != 0 {
		t.Fatalf("List: %v %v", items, err)
	}
	cancel()
	_ = s.Close(ctx) // a cancelled context drops the connection: no QUIT
	if n := count(t, srv); n != 1 {
		t.Fatalf("server has %d after a dropped connection, want 1 (no UPDATE state)", n)
	}
	if _, got := poll(t, src, m, cur); len(got) != 0 {
		t.Fatalf("handed again after a lost QUIT: %v", got)
	}
	if n := count(t, srv); n != 0 {
		t.Fatalf("server has %d, want the expired message deleted on the next poll", n)
	}
}

// TestRetentionRefusedElsewhere: a retention on a transport that does not
// apply it (IMAP) is a field error, not a setting silently ignored.
func TestRetentionRefusedElsewhere(t *testing.T) {
	m := inbound("imap.example.com", 993)
	m.Inbound.Transport, m.Inbound.Server.Security = mailbox.TransportIMAP, mailbox.SecurityTLS
	m.Inbound.KeepFor = time.Hour
	reg := transport.Sources{mailbox.TransportIMAP: imap.NewSource(nil), mailbox.TransportPOP3: pop3.NewSource(nil)}
	err := reg.Validate(m)
	var ve *mailbox.ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) != 1 || ve.Errors[0].Path != "inbound.keep_for" || ve.Errors[0].Code != mailbox.CodeUnsupported {
		t.Fatalf("IMAP with a retention: %v", err)
	}
	m.Inbound.Transport, m.Inbound.Server.Security = mailbox.TransportPOP3, mailbox.SecurityTLS
	if err := reg.Validate(m); err != nil {
		t.Fatalf("POP3 with a retention: %v", err)
	}
}
