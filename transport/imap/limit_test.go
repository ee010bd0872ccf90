package imap_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/imap"
)

// TestEndlessGreetingIsProtocolError: a greeting without CRLF stops at
// MaxLine, with class protocol and a *transport.LimitError, over plaintext
// and before STARTTLS alike.
func TestEndlessGreetingIsProtocolError(t *testing.T) {
	h, err := mailtest.NewHostileIMAP(mailtest.HostileIMAPOptions{Fault: mailtest.EndlessGreeting, StreamLimit: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	for _, sec := range []mailbox.Security{mailbox.SecurityPlaintext, mailbox.SecuritySTARTTLS} {
		m := inbound(h.Host(), h.Port())
		m.Inbound.Server.Security = sec
		c := &imap.Config{Timeout: 5 * time.Second, MaxLine: 32 << 10}
		_, err := imap.Dial(context.Background(), c, m)
		var le *transport.LimitError
		if transport.ClassOf(err) != transport.Protocol || !errors.Is(err, transport.ErrLimit) || !errors.As(err, &le) || le.What != "line" || le.Limit != 32<<10 {
			t.Fatalf("%s: %v (class %s)", sec, err, transport.ClassOf(err))
		}
	}
}

// TestOversizeBodyNamesTheMessage: a BODY[] literal far above the listed
// size is refused before it is read, naming the message (Error.Item) so
// the engine quarantines it.
func TestOversizeBodyNamesTheMessage(t *testing.T) {
	for _, announced := range []int64{200 << 10, 1 << 40} { // refused by the fetch's check, by the framer
		h, err := mailtest.NewHostileIMAP(mailtest.HostileIMAPOptions{Fault: mailtest.OversizeBody, ListedSize: 1000, BodySize: announced, StreamLimit: 16 << 20})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		src := imap.NewSource(&imap.Config{Timeout: 5 * time.Second})
		s, err := src.Open(context.Background(), inbound(h.Host(), h.Port()))
		if err != nil {
			t.Fatal(err)
		}
		items, err := s.List(context.Background(), imap.Cursor(7, 0))
		if err != nil || len(items) != 1 || items[0].Size != 1000 {
			t.Fatalf("list %v %v", items, err)
		}
		got := 0
		err = s.Fetch(context.Background(), items, func(sp *transport.Spool) { got++; _ = sp.Close() })
		var te *transport.Error
		if !errors.As(err, &te) || te.Class != transport.Protocol || te.Item != "1" || !errors.Is(err, transport.ErrLimit) || got != 0 {
			t.Fatalf("announced %d: %v (%+v), %d spools", announced, err, te, got)
		}
		_ = s.Close(context.Background())
	}
}

// TestMaxListListsInRounds: a folder larger than MaxList is listed oldest
// first in rounds, with no message skipped.
func TestMaxListListsInRounds(t *testing.T) {
	srv := newServer(t, nil)
	for i := range 25 {
		if _, err := srv.Append("alice", "INBOX", msg(i)); err != nil {
			t.Fatal(err)
		}
	}
	var trace bytes.Buffer
	s, err := imap.Dial(context.Background(), &imap.Config{Timeout: 5 * time.Second, MaxList: 10, Debug: &trace}, inbound(srv.Host(), srv.Port()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Select(context.Background(), "INBOX"); err != nil {
		t.Fatal(err)
	}
	var after imap.UID
	var seen []imap.UID
	for round := 0; ; round++ {
		infos, err := s.List(context.Background(), after)
		if err != nil {
			t.Fatal(err)
		}
		if round < 2 && (len(infos) != 10 || !s.More()) || round == 2 && (len(infos) != 5 || s.More()) {
			t.Fatalf("round %d: %d infos, more %v", round, len(infos), s.More())
		}
		for _, in := range infos {
			seen = append(seen, in.UID)
			after = in.UID
		}
		if !s.More() {
			break
		}
	}
	for i, u := range seen {
		if u != imap.UID(i+1) {
			t.Fatalf("listed %v", seen)
		}
	}
	// The first round found the windows: the second asks for its own ten.
	for _, want := range []string{"UID FETCH 1:* ", "UID FETCH 11:20 ", "UID FETCH 21:* "} {
		if !strings.Contains(trace.String(), want) {
			t.Fatalf("no %q in the trace:\n%s", want, trace.String())
		}
	}
}
