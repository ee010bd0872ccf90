package integration_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/internal/mailstack"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport/smtp"
)

func newProxy(t testing.TB, port int) *mailtest.Proxy {
	t.Helper()
	p, err := mailtest.NewProxy(net.JoinHostPort(mailstack.Host, strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// rawMessage is a customer's message of about size bytes.
func rawMessage(to, id string, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Customer <customer@example.test>\r\nTo: %s\r\nSubject: Problem %s\r\nMessage-ID: <%s>\r\n", to, id, id)
	b.WriteString("Date: Wed, 25 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	for b.Len() < size {
		b.WriteString("The printer on the third floor prints blank pages since this morning.\r\n")
	}
	return b.Bytes()
}

// appendMsgs puts n messages into user's INBOX with IMAP APPEND (as a
// delivery would) and returns their Message-IDs.
func appendMsgs(t testing.TB, s *mailstack.Stack, user, phase string, n, size int) []string {
	t.Helper()
	c := rawIMAP(t, s, user)
	defer c.Close()
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("%s-%d-%s", phase, i, user)
		raw := rawMessage(user, ids[i], size)
		cmd := c.Append("INBOX", int64(len(raw)), nil)
		if _, err := cmd.Write(raw); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// TestInboundFaults runs one Poller over four healthy mailboxes and one
// behind a fault proxy (latency, a reset in the middle of a FETCH, a
// blackhole, resets), then restarts Dovecot under all of them. Every
// message is handed exactly once, and the healthy mailboxes hand off all
// their mail while the faulty one is failing.
func TestInboundFaults(t *testing.T) {
	s := stack(t)
	ctx := context.Background()
	clean(t, s, box(0), box(1), box(2), box(3), box(4))
	px := newProxy(t, s.IMAPSPort)

	faulty := inBox(s, "in-faulty", box(0), mailbox.PostSeen, "")
	faulty.Inbound.Server.Port = px.Port()
	all := []*mailbox.Mailbox{faulty}
	healthy := []*mailbox.Mailbox{}
	for i := 1; i <= 4; i++ {
		m := inBox(s, fmt.Sprintf("in-%d", i), box(i), mailbox.PostSeen, "")
		healthy = append(healthy, m)
		all = append(all, m)
	}
	rec := newRecorder()
	o := fastPoller(s, memory.NewInboundStore(), rec)
	o.IMAP.Timeout = 3 * time.Second
	o.BreakerThreshold = 2
	p := startPoller(t, o, all...)

	want := map[mailbox.ID]int{}
	feed := func(phase string, n int, mbs ...*mailbox.Mailbox) {
		t.Helper()
		for _, m := range mbs {
			appendMsgs(t, s, m.Address, phase, n, 4<<10)
			want[m.ID] += n
		}
	}
	done := func(mbs ...*mailbox.Mailbox) func() bool {
		return func() bool {
			for _, m := range mbs {
				if rec.count(m.ID) != want[m.ID] {
					return false
				}
			}
			return true
		}
	}
	failing := func() bool {
		h, _ := p.Health(context.Background(), faulty.ID)
		return h.ConsecutiveFailures > 0 && h.LastError != ""
	}
	waiting := func(m *mailbox.Mailbox) func() bool {
		return func() bool { h, _ := p.Health(context.Background(), m.ID); return h.State == engine.StateWaiting }
	}

	feed("start", 5, all...)
	eventually(t, "first mail of every mailbox", done(all...))

	// Latency on every chunk: slower, nothing else changes.
	px.SetLatency(5 * time.Millisecond)
	feed("latency", 10, all...)
	eventually(t, "mail under latency", done(all...))
	px.SetMode(mailtest.Pass)

	// A reset in the middle of a FETCH: the connection carrying the
	// 60 KiB-th byte is cut while 160 KiB of bodies stream.
	eventually(t, "faulty mailbox waiting", waiting(faulty))
	accepted := px.Accepted()
	px.DropAfter(60 << 10)
	appendMsgs(t, s, faulty.Address, "midfetch", 40, 4<<10)
	want[faulty.ID] += 40
	eventually(t, "mail after a cut FETCH", done(faulty))
	if px.Accepted() == accepted {
		t.Fatal("the connection was never cut (no reconnect)")
	}

	// Blackhole: the faulty server stops answering, its open connection
	// dies. The healthy mailboxes hand off all their new mail while the
	// faulty one is failing.
	px.SetMode(mailtest.Blackhole)
	px.CloseConns()
	eventually(t, "faulty mailbox failing", failing)
	feed("blackhole", 10, all...)
	eventually(t, "healthy mail during the blackhole", done(healthy...))
	if h, _ := p.Health(context.Background(), faulty.ID); h.ConsecutiveFailures == 0 || h.Handled != int64(want[faulty.ID]-10) {
		t.Fatalf("faulty mailbox during the blackhole: %+v", h)
	}
	px.SetMode(mailtest.Pass)
	eventually(t, "faulty mailbox catching up", done(all...))

	// Resets: every connection attempt is reset.
	px.SetMode(mailtest.Reset)
	eventually(t, "faulty mailbox failing on resets", failing)
	feed("reset", 5, all...)
	eventually(t, "healthy mail during resets", done(healthy...))
	px.SetMode(mailtest.Pass)
	eventually(t, "mail after resets", done(all...))
	eventually(t, "faulty mailbox healthy again", func() bool { return !failing() })

	// A real restart of Dovecot under every session, with mail waiting
	// before and arriving after.
	feed("prerestart", 5, all...)
	if err := s.RestartDovecot(ctx); err != nil {
		t.Fatal(err)
	}
	feed("postrestart", 5, all...)
	eventually(t, "mail across a Dovecot restart", done(all...))

	if d := rec.dupes(); len(d) > 0 {
		t.Fatalf("handed twice: %v", d)
	}
	// Nothing lost: every message on the server was handed, and carries
	// \Seen (the post-action ran after each hand-off).
	for _, m := range all {
		var unseen []string
		for _, x := range folder(t, s, m.Address, "INBOX") {
			if !x.has(imap.FlagSeen) {
				unseen = append(unseen, x.Header.Get("Message-Id"))
			}
		}
		if len(unseen) > 0 {
			t.Logf("%s: unseen %v", m.ID, unseen)
		}
		msgs := waitFolder(t, s, m.Address, "INBOX", "all seen", func(ms []serverMsg) bool {
			for _, x := range ms {
				if !x.has(imap.FlagSeen) {
					return false
				}
			}
			return true
		})
		handed := map[string]bool{}
		for _, h := range rec.of(m.ID) {
			handed[h.MessageID] = true
		}
		if len(msgs) != want[m.ID] || len(handed) != want[m.ID] {
			t.Fatalf("%s: %d on the server, %d handed, want %d", m.ID, len(msgs), len(handed), want[m.ID])
		}
		for _, x := range msgs {
			if id := strings.Trim(x.Header.Get("Message-Id"), "<>"); !handed[id] {
				t.Fatalf("%s: %s never handed", m.ID, id)
			}
		}
	}
}

// TestOutboundFaults runs one Sender over three healthy outbound mailboxes
// and one behind a fault proxy in front of Postfix: latency, a reset in the
// middle of DATA, a blackhole, and a real restart of Postfix. Every message
// arrives exactly once, and the healthy mailboxes deliver all their mail
// while the faulty one is reported failing.
func TestOutboundFaults(t *testing.T) {
	s := stack(t)
	ctx := context.Background()
	px := newProxy(t, s.SubmissionPort)
	const sink = "box20@example.test"
	clean(t, s, sink)

	cat := memory.NewCatalog()
	faulty := outBox(s, "out-faulty", box(10))
	faulty.Outbound.Server.Port = px.Port()
	all := []*mailbox.Mailbox{faulty}
	healthy := []*mailbox.Mailbox{}
	for i := 11; i <= 13; i++ {
		m := outBox(s, fmt.Sprintf("out-%d", i), box(i))
		healthy = append(healthy, m)
		all = append(all, m)
	}
	for _, m := range all {
		if err := cat.PutMailbox(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// The blackhole is noticed by the greeting's CommandTimeout. No fault
	// here needs DataTimeout (the reset in DATA cuts the connection), and
	// a short one is a duplicate in the making: Postfix slowed by a loaded
	// machine may accept the message after the client gave up on the final
	// reply, and the retry sends it again, failing the exactly-once check.
	tr := smtpTransport(t, s, smtp.Options{CommandTimeout: 3 * time.Second, DataTimeout: time.Minute})
	snd := startSender(t, cat, tr, outbound.Options{BreakerThreshold: 2})

	var ids []string
	byBox := map[mailbox.ID][]string{}
	feed := func(phase string, n int, attach int, mbs ...*mailbox.Mailbox) {
		t.Helper()
		for _, m := range mbs {
			for i := range n {
				msg := store.Message{Mailbox: m.ID, To: []store.Address{{Address: sink}},
					Subject: fmt.Sprintf("%s %d from %s", phase, i, m.ID), Text: "Your request was updated."}
				if attach > 0 {
					body := bytes.Repeat([]byte("0123456789abcdef"), attach/16)
					msg.Attachments = []store.Attachment{{Name: "log.txt", ContentType: "text/plain",
						Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }}}
				}
				id, err := snd.Enqueue(ctx, msg)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
				byBox[m.ID] = append(byBox[m.ID], id)
			}
		}
	}
	sent := func(mbs ...*mailbox.Mailbox) func() bool {
		return func() bool {
			for _, m := range mbs {
				for _, id := range byBox[m.ID] {
					if r, err := snd.ob.Get(ctx, id); err != nil || r.State != store.Sent {
						return false
					}
				}
			}
			return true
		}
	}
	failing := func() bool {
		h, err := snd.Health(ctx, faulty.ID)
		return err == nil && (h.State == engine.StateRetrying || h.State == engine.StateDown) && h.LastError != ""
	}

	feed("start", 3, 0, all...)
	eventually(t, "first mail of every mailbox", sent(all...))

	px.SetLatency(5 * time.Millisecond)
	feed("latency", 5, 0, all...)
	eventually(t, "mail under latency", sent(all...))

	// A reset in the middle of DATA: the client's upload is cut after
	// 100 KiB of a 300 KiB message; the message is sent again.
	px.ResetUpstreamAfter(100 << 10)
	feed("middata", 1, 300<<10, faulty)
	big := byBox[faulty.ID][len(byBox[faulty.ID])-1]
	eventually(t, "the cut message sent again", sent(faulty))
	if r, _ := snd.ob.Get(ctx, big); r.Attempts < 2 {
		t.Fatalf("the message cut in DATA took %d attempt(s)", r.Attempts)
	}

	// Blackhole: the healthy mailboxes deliver everything while the faulty
	// one is failing; then it recovers and delivers its queue.
	px.SetMode(mailtest.Blackhole)
	px.CloseConns()
	feed("blackhole", 5, 0, all...)
	eventually(t, "healthy mail during the blackhole", sent(healthy...))
	eventually(t, "faulty mailbox failing", failing)
	for _, id := range byBox[faulty.ID][len(byBox[faulty.ID])-5:] {
		if r, _ := snd.ob.Get(ctx, id); r.State != store.Queued {
			t.Fatalf("faulty mailbox's message %s is %v during the blackhole", id, r.State)
		}
	}
	px.SetMode(mailtest.Pass)
	eventually(t, "faulty mailbox catching up", sent(all...))

	// A real restart of Postfix: pooled connections die and are redialled;
	// mail enqueued while it is down waits and goes out once it is back.
	deferred := len(snd.eventsOf(outbound.EventDeferred))
	// Let Postfix deliver its queue first: a delivery agent stopped after
	// LMTP's final reply but before it told the queue manager delivers the
	// message again after the restart (Postfix's own at-least-once, seen
	// as a duplicate here once), which is not what this test measures.
	waitFolder(t, s, sink, "INBOX", "Postfix's queue delivered before the stop", func(ms []serverMsg) bool { return len(ms) >= len(ids) })
	if err := s.StopPostfix(); err != nil {
		t.Fatal(err)
	}
	feed("postfix-down", 3, 0, all...)
	eventually(t, "deferred while Postfix is down", func() bool { return len(snd.eventsOf(outbound.EventDeferred)) > deferred })
	if err := s.StartPostfix(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.RestartPostfix(ctx); err != nil {
		t.Fatal(err)
	}
	feed("postfix-restarted", 3, 0, all...)
	eventually(t, "mail across a Postfix restart", sent(all...))

	// Every Message-ID arrives in the sink exactly once.
	want := map[string]bool{}
	for _, id := range ids {
		r, _ := snd.ob.Get(ctx, id)
		want[r.MessageID] = true
	}
	msgs := waitFolder(t, s, sink, "INBOX", fmt.Sprintf("%d messages", len(want)), func(ms []serverMsg) bool { return len(ms) >= len(want) })
	got := map[string]int{}
	for _, m := range msgs {
		got[strings.Trim(m.Header.Get("Message-Id"), "<>")]++
	}
	for id := range want {
		if got[id] != 1 {
			t.Errorf("%s arrived %d times", id, got[id])
		}
	}
	if len(msgs) != len(want) {
		t.Errorf("%d messages in the sink, %d sent", len(msgs), len(want))
	}
}
