package imap_test

import (
	"context"
	"slices"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/imap"
	"github.com/correio-dev/correio/transport/transporttest"
)

// TestConformance runs the transport suite against the in-process IMAP
// server, behind a fault-injecting proxy, with and without MOVE and
// UIDPLUS.
func TestConformance(t *testing.T) {
	for _, o := range []struct {
		name string
		opts mailtest.IMAPOptions
	}{{"full", mailtest.IMAPOptions{}}, {"nomove-nouidplus", mailtest.IMAPOptions{NoMove: true, NoUIDPlus: true}}} {
		t.Run(o.name, func(t *testing.T) {
			transporttest.RunSource(t, transporttest.SourceHarness{New: func(t *testing.T) *transporttest.SourceEnv {
				opts := o.opts
				srv := newServer(t, &opts)
				px, err := mailtest.NewProxy(srv.Addr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = px.Close() })
				m := inbound(px.Host(), px.Port())
				return &transporttest.SourceEnv{
					Mailbox: m,
					Source: func(n transport.Net) transport.Source {
						return imap.NewSource(&imap.Config{Net: n, Timeout: 5 * time.Second, SpoolMemory: 16 << 10, SpoolDir: t.TempDir()})
					},
					Deliver: func(t *testing.T, raw []byte) {
						if _, err := srv.Append("alice", "INBOX", raw); err != nil {
							t.Fatal(err)
						}
					},
					Count: func(t *testing.T, folder string) (int, int) {
						return count(t, srv, folder)
					},
					SetDown: func(down bool) {
						if down {
							px.SetMode(mailtest.Down)
						} else {
							px.SetMode(mailtest.Pass)
						}
					},
					RefuseLogin: srv.SetLoginRefused,
					BreakAfter:  px.DropAfter,
					ResetCursor: func(t *testing.T) {
						if err := srv.ResetUIDValidity("alice", "INBOX"); err != nil {
							t.Fatal(err)
						}
					},
				}
			}})
		})
	}
}

// count returns the messages of folder not flagged \Deleted (without
// UIDPLUS a move or delete only flags the original) and the unread ones
// among them.
func count(t *testing.T, srv *mailtest.IMAPServer, folder string) (messages, unseen int) {
	t.Helper()
	if _, err := srv.Status("alice", folder); err != nil {
		return 0, 0 // a folder never created holds nothing
	}
	s := dial(t, inbound(srv.Host(), srv.Port())) // closed at cleanup
	ctx := context.Background()
	if _, err := s.Select(ctx, folder); err != nil {
		t.Fatal(err)
	}
	infos, err := s.List(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		if slices.Contains(in.Flags, goimap.FlagDeleted) {
			continue
		}
		messages++
		if !in.Seen {
			unseen++
		}
	}
	return messages, unseen
}

// TestCursor: the cursor round-trips, and what stores kept before cursors
// existed (a UIDVALIDITY and a UID) is the IMAP cursor as it is.
func TestCursor(t *testing.T) {
	c := imap.Cursor(7, 42)
	if c != "imap/1:7:42" {
		t.Fatalf("cursor %q", c)
	}
	v, u, err := imap.ParseCursor(c)
	if err != nil || v != 7 || u != 42 {
		t.Fatalf("parse: %d %d %v", v, u, err)
	}
	if v, u, err := imap.ParseCursor(""); err != nil || v != 0 || u != 0 {
		t.Fatalf("zero cursor: %d %d %v", v, u, err)
	}
	for _, bad := range []transport.Cursor{"imap/2:7:42", "pop3/1:abc", "imap/1:7", "imap/1:x:1", "imap/1:1:99999999999", "junk"} {
		if _, _, err := imap.ParseCursor(bad); err == nil {
			t.Errorf("ParseCursor(%q) accepted", bad)
		}
	}
	if !transport.Supports(imap.NewSource(nil).PostActions(), mailbox.PostMove) {
		t.Fatal("IMAP offers move")
	}
}
