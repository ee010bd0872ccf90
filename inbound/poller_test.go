package inbound_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/threading"
	imapt "github.com/correio-dev/correio/transport/imap"
)

func TestHandOffIdleAndSeen(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("support", "pw-support")
	for i := range 12 {
		srv.Append("support", "INBOX", rawMsg("support", i))
	}
	cat := memory.NewCatalog()
	m := mb("support", "support", srv.Host(), srv.Port())
	ctx := context.Background()
	if err := cat.PutMailbox(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := cat.PutContract(ctx, &contract.Contract{ID: "acme", Name: "ACME", InboundMailboxes: []mailbox.ID{"support"}}); err != nil {
		t.Fatal(err)
	}
	st := memory.NewInboundStore()
	rec := newRecorder()
	o := fastOptions(st, rec)
	o.Catalog = cat
	var events atomic.Int64
	var pp atomic.Pointer[inbound.Poller]
	o.OnEvent = func(e inbound.Event) {
		events.Add(1)
		if p := pp.Load(); p != nil {
			p.Health(context.Background(), e.Health.Mailbox) // calling back from OnEvent must not deadlock
		}
	}
	r := start(t, o, m)
	pp.Store(r.p)
	eventually(t, "12 hand-offs", func() bool { return rec.count("support") == 12 })

	// IDLE wakes the session on APPEND.
	eventually(t, "waiting in IDLE", func() bool { h := r.health("support"); return h.State == engine.StateWaiting && h.Push })
	srv.Append("support", "INBOX", rawMsg("support", 100))
	eventually(t, "13th hand-off after APPEND", func() bool { return rec.count("support") == 13 })
	eventually(t, "all marked seen", func() bool { st, _ := srv.Status("support", "INBOX"); return *st.NumUnseen == 0 })

	rec.mu.Lock()
	d := rec.last["support"]
	raw := rec.raw["support/support-100@example.com"]
	rec.mu.Unlock()
	if d.Contract != "acme" || d.MailboxContract != "acme" || d.ContractMismatch {
		t.Fatalf("contract %q/%q mismatch=%v", d.Contract, d.MailboxContract, d.ContractMismatch)
	}
	if d.Message.Subject != "Problem 100" || !strings.HasPrefix(d.Key, "v1:") || !d.AutoAnswerAllowed() {
		t.Fatalf("delivery %+v", d)
	}
	if !bytes.Equal(raw, rawMsg("support", 100)) {
		t.Fatalf("raw stream differs: %q", raw)
	}
	h := r.health("support")
	if h.Handled != 13 || h.ConsecutiveFailures != 0 || h.LastSuccess.IsZero() || events.Load() == 0 {
		t.Fatalf("health %+v events %d", h, events.Load())
	}
	if dd := rec.dupes(); len(dd) > 0 {
		t.Fatalf("duplicates: %v", dd)
	}
}

// TestRestartExactlyOnce stops the poller in the middle of batches, by
// cancelling Run and by the server dropping the connection, and restarts it
// on the same store: every message is handed exactly once, none is left.
func TestRestartExactlyOnce(t *testing.T) {
	rounds := 12
	if testing.Short() {
		rounds = 5
	}
	srv := newServer(t)
	srv.AddUser("desk", "pw-desk")
	px := newProxy(t, srv.Addr)
	m := mb("desk", "desk", px.Host(), px.Port())
	m.Inbound.PostAction = mailbox.PostKeep
	st := memory.NewInboundStore()
	rec := newRecorder()
	total := 0
	for round := range rounds {
		for range 15 {
			srv.Append("desk", "INBOX", rawMsg("desk", total))
			total++
		}
		stopAt := rec.total() + 1 + rand.N(10)
		var r *running
		o := fastOptions(st, rec)
		byCancel := round%2 == 0
		stopped := make(chan struct{})
		var once atomic.Bool
		rec.hook = func(d *inbound.Delivery) error {
			if rec.total()+1 >= stopAt && once.CompareAndSwap(false, true) {
				if byCancel {
					close(stopped)
				} else {
					px.CloseConns() // the server drops us mid-batch
				}
			}
			return nil
		}
		r = start(t, o, m)
		if byCancel {
			<-stopped
			r.stop()
		} else {
			eventually(t, "reconnect after drop and catch up", func() bool { return rec.total() == total })
			r.stop()
		}
		rec.hook = nil
		if dd := rec.dupes(); len(dd) > 0 {
			t.Fatalf("round %d: duplicates %v", round, dd)
		}
	}
	r := start(t, fastOptions(st, rec), m)
	eventually(t, "every message handed", func() bool { return rec.total() == total })
	r.stop()
	if dd := rec.dupes(); len(dd) > 0 || rec.total() != total {
		t.Fatalf("handed %d of %d, duplicates %v", rec.total(), total, dd)
	}
}

func TestUIDValidityResetNeverHandsTwice(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("u", "pw-u")
	for i := range 10 {
		srv.Append("u", "INBOX", rawMsg("u", i))
	}
	m := mb("u", "u", srv.Host(), srv.Port())
	m.Inbound.PostAction = mailbox.PostKeep
	st := memory.NewInboundStore()
	rec := newRecorder()
	r := start(t, fastOptions(st, rec), m)
	eventually(t, "10 handed", func() bool { return rec.count("u") == 10 })
	r.stop()
	before, _ := srv.Status("u", "INBOX")
	if err := srv.ResetUIDValidity("u", "INBOX"); err != nil {
		t.Fatal(err)
	}
	after, _ := srv.Status("u", "INBOX")
	if before.UIDValidity == after.UIDValidity {
		t.Fatal("UIDVALIDITY did not change")
	}
	srv.Append("u", "INBOX", rawMsg("u", 10))
	srv.Append("u", "INBOX", rawMsg("u", 11))
	r = start(t, fastOptions(st, rec), m)
	eventually(t, "2 new handed", func() bool { return rec.count("u") == 12 })
	eventually(t, "10 old recognised", func() bool { h := r.health("u"); return h.Duplicates == 10 })
	if dd := rec.dupes(); len(dd) > 0 {
		t.Fatalf("duplicates %v", dd)
	}
	// The mailbox removed and re-added: nothing handed again.
	r.del(t, "u")
	r.put(t, m)
	eventually(t, "re-added mailbox waiting", func() bool { h := r.health("u"); return h.State == engine.StateWaiting })
	if rec.count("u") != 12 {
		t.Fatalf("re-added mailbox handed again: %d", rec.count("u"))
	}
}

func TestDropMidFetch(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("d", "pw-d")
	for i := range 20 {
		srv.Append("d", "INBOX", append(rawMsg("d", i), bytes.Repeat([]byte("padding line\r\n"), 200)...))
	}
	px := newProxy(t, srv.Addr)
	px.DropAfter(9000) // greeting, login, select and list pass; the first FETCH is cut
	st := memory.NewInboundStore()
	rec := newRecorder()
	r := start(t, fastOptions(st, rec), mb("d", "d", px.Host(), px.Port()))
	eventually(t, "all 20 after the drop", func() bool { return rec.count("d") == 20 })
	if px.Accepted() < 2 {
		t.Fatalf("the connection was not dropped (accepted %d)", px.Accepted())
	}
	h := r.health("d")
	if h.Handled != 20 || len(rec.dupes()) > 0 {
		t.Fatalf("health %+v dupes %v", h, rec.dupes())
	}
}

// TestBadServersDoNotStallOthers runs 20 mailboxes, three of them behind a
// blackholed, a slow and a resetting server: the 17 others hand off all
// their mail while the three still fail; the bad ones show down, then
// recover once their servers return.
func TestBadServersDoNotStallOthers(t *testing.T) {
	n, per := 20, 10
	if testing.Short() {
		per = 4
	}
	srv := newServer(t)
	black := newProxy(t, srv.Addr)
	slow := newProxy(t, srv.Addr)
	reset := newProxy(t, srv.Addr)
	black.SetMode(mailtest.Blackhole)
	slow.SetLatency(2 * time.Second)
	reset.SetMode(mailtest.Reset)
	var mbs []*mailbox.Mailbox
	for i := range n {
		user := fmt.Sprintf("user%02d", i)
		srv.AddUser(user, "pw-"+user)
		for j := range per {
			srv.Append(user, "INBOX", rawMsg(user, j))
		}
		host, port := srv.Host(), srv.Port()
		switch i {
		case 3:
			host, port = black.Host(), black.Port()
		case 9:
			host, port = slow.Host(), slow.Port()
		case 15:
			host, port = reset.Host(), reset.Port()
		}
		mbs = append(mbs, mb(user, user, host, port))
	}
	st := memory.NewInboundStore()
	rec := newRecorder()
	o := fastOptions(st, rec)
	o.IMAP.Timeout = 300 * time.Millisecond
	r := start(t, o, mbs...)
	good := func() bool {
		for i, m := range mbs {
			if i != 3 && i != 9 && i != 15 && rec.count(m.ID) != per {
				return false
			}
		}
		return true
	}
	eventually(t, "the 17 good mailboxes hand off everything", good)
	for _, i := range []int{3, 9, 15} {
		if c := rec.count(mbs[i].ID); c != 0 {
			t.Fatalf("bad mailbox %d handed %d", i, c)
		}
	}
	for _, i := range []int{3, 9, 15} {
		eventually(t, fmt.Sprintf("mailbox %d shows down", i), func() bool {
			h := r.health(mbs[i].ID)
			return h.State == engine.StateDown && h.LastError != ""
		})
	}
	h := r.health(mbs[3].ID)
	if strings.Contains(h.LastError, "pw-") {
		t.Fatalf("error leaks a password: %s", h.LastError)
	}
	black.SetMode(mailtest.Pass)
	slow.SetMode(mailtest.Pass)
	reset.SetMode(mailtest.Pass)
	eventually(t, "bad mailboxes recover", func() bool {
		for _, i := range []int{3, 9, 15} {
			if rec.count(mbs[i].ID) != per {
				return false
			}
		}
		return true
	})
	for _, i := range []int{3, 9, 15} {
		eventually(t, "state back to waiting", func() bool {
			h := r.health(mbs[i].ID)
			return h.State == engine.StateWaiting && h.ConsecutiveFailures == 0
		})
	}
	if dd := rec.dupes(); len(dd) > 0 {
		t.Fatalf("duplicates %v", dd)
	}
}

var errDBDown = errors.New("host database down")

// TestTemporaryHandlerErrorPausesAndRetries drives the backoff with the fake
// clock: no sleeping.
func TestTemporaryHandlerErrorPausesAndRetries(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("t", "pw-t")
	for i := range 3 {
		srv.Append("t", "INBOX", rawMsg("t", i))
	}
	// The fake clock runs an hour ahead of the server's INTERNALDATEs, so
	// the waiting messages show an hour of lag.
	fc := clock.NewFake(time.Now().Add(time.Hour))
	st := memory.NewInboundStore()
	rec := newRecorder()
	var fails atomic.Int32
	rec.hook = func(d *inbound.Delivery) error {
		if d.Message.Subject == "Problem 1" && fails.Load() < 2 {
			fails.Add(1)
			return fmt.Errorf("saving ticket: %w", errDBDown)
		}
		return nil
	}
	o := fastOptions(st, rec)
	o.Clock = fc
	m := mb("t", "t", srv.Host(), srv.Port())
	m.Inbound.Idle = mailbox.IdleOff
	r := start(t, o, m)
	for want := int32(1); want <= 2; want++ {
		eventually(t, "paused on the clock", func() bool {
			h := r.health("t")
			return fails.Load() == want && h.State == engine.StatePaused && fc.Waiters() > 0
		})
		if rec.count("t") != 1 { // message 0 handed; 1 and 2 wait behind the failing one
			t.Fatalf("handed %d while paused", rec.count("t"))
		}
		h := r.health("t")
		if !strings.Contains(h.LastError, "host database down") || h.ConsecutiveFailures != int(want) || h.Lag < 59*time.Minute {
			t.Fatalf("health %+v", h)
		}
		fc.Advance(time.Minute)
	}
	eventually(t, "all 3 handed after the host recovered", func() bool { return rec.count("t") == 3 })
	if dd := rec.dupes(); len(dd) > 0 || len(st.Quarantined("t")) != 0 {
		t.Fatalf("dupes %v quarantined %d", dd, len(st.Quarantined("t")))
	}
}

func TestPermanentRefusalQuarantines(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("q", "pw-q")
	for i := range 4 {
		srv.Append("q", "INBOX", rawMsg("q", i))
	}
	st := memory.NewInboundStore()
	rec := newRecorder()
	rec.hook = func(d *inbound.Delivery) error {
		if d.Message.Subject == "Problem 2" {
			return inbound.Permanent(errors.New("customer unknown"))
		}
		return nil
	}
	m := mb("q", "q", srv.Host(), srv.Port())
	m.Inbound.QuarantineFolder = "Quarantine"
	m.Inbound.PostAction = mailbox.PostMove
	m.Inbound.MoveTo = "Processed"
	r := start(t, fastOptions(st, rec), m)
	eventually(t, "3 handed, 1 quarantined", func() bool { h := r.health("q"); return h.Handled == 3 && h.Quarantined == 1 })
	q := st.Quarantined("q")
	if len(q) != 1 || !strings.Contains(q[0].Reason, "customer unknown") || !bytes.Equal(q[0].Raw, rawMsg("q", 2)) {
		t.Fatalf("quarantine %+v", q)
	}
	eventually(t, "post-actions applied", func() bool {
		in, _ := srv.Status("q", "INBOX")
		pr, err1 := srv.Status("q", "Processed")
		qu, err2 := srv.Status("q", "Quarantine")
		return err1 == nil && err2 == nil && *in.NumMessages == 0 && *pr.NumMessages == 3 && *qu.NumMessages == 1
	})
}

func TestPostActionsAndStartFrom(t *testing.T) {
	srv := newServer(t)
	for _, u := range []string{"del", "keep", "unseen", "new"} {
		srv.AddUser(u, "pw-"+u)
		for i := range 4 {
			srv.Append(u, "INBOX", rawMsg(u, i))
		}
	}
	// Someone read message 0 of "unseen" and of "keep" already.
	srv.Append("unseen", "INBOX", rawMsg("unseen", 50), "\\Seen")
	srv.Append("keep", "INBOX", rawMsg("keep", 50), "\\Seen")
	mDel := mb("del", "del", srv.Host(), srv.Port())
	mDel.Inbound.PostAction = mailbox.PostDelete
	mKeep := mb("keep", "keep", srv.Host(), srv.Port())
	mKeep.Inbound.PostAction = mailbox.PostKeep
	mUnseen := mb("unseen", "unseen", srv.Host(), srv.Port())
	mUnseen.Inbound.StartFrom = mailbox.StartUnseen
	mNew := mb("new", "new", srv.Host(), srv.Port())
	mNew.Inbound.StartFrom = mailbox.StartNew
	st := memory.NewInboundStore()
	rec := newRecorder()
	r := start(t, fastOptions(st, rec), mDel, mKeep, mUnseen, mNew)
	eventually(t, "delete", func() bool { s, _ := srv.Status("del", "INBOX"); return rec.count("del") == 4 && *s.NumMessages == 0 })
	eventually(t, "keep reads a seen message too", func() bool { return rec.count("keep") == 5 })
	eventually(t, "unseen only", func() bool { return rec.count("unseen") == 4 })
	eventually(t, "new waits", func() bool { h := r.health("new"); return h.State == engine.StateWaiting })
	if s, _ := srv.Status("keep", "INBOX"); *s.NumUnseen != 4 {
		t.Fatalf("keep changed flags: unseen %d", *s.NumUnseen)
	}
	if rec.count("new") != 0 {
		t.Fatalf("start-from-new read old mail: %d", rec.count("new"))
	}
	srv.Append("new", "INBOX", rawMsg("new", 99))
	eventually(t, "new mail read", func() bool { return rec.count("new") == 1 })
}

type sentIndex map[string]threading.Ref

func (s sentIndex) SentByMessageID(_ context.Context, id string) (threading.Ref, bool, error) {
	r, ok := s[id]
	return r, ok, nil
}
func (s sentIndex) SentByThread(_ context.Context, th string) (threading.Ref, bool, error) {
	for _, r := range s {
		if r.Thread == th {
			return r, true, nil
		}
	}
	return threading.Ref{}, false, nil
}

func TestThreadContractAndLoopGuard(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("sales", "pw-sales")
	reply := "From: c@example.com\r\nTo: sales@helpdesk.example\r\nSubject: Re: Your request\r\nMessage-ID: <r1@example.com>\r\nIn-Reply-To: <out-1@helpdesk.example>\r\n\r\nthanks\r\n"
	token := "From: d@example.com\r\nTo: sales@helpdesk.example\r\nSubject: Re: printer [#REQ-77]\r\nMessage-ID: <r2@example.com>\r\n\r\nstill broken\r\n"
	auto := "From: e@example.com\r\nTo: sales@helpdesk.example\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <r3@example.com>\r\n\r\naway\r\n"
	srv.Append("sales", "INBOX", []byte(reply))
	srv.Append("sales", "INBOX", []byte(token))
	srv.Append("sales", "INBOX", []byte(auto))
	for i := range 4 {
		srv.Append("sales", "INBOX", []byte(fmt.Sprintf("From: flood@example.com\r\nSubject: x%d\r\nMessage-ID: <f%d@example.com>\r\n\r\nx\r\n", i, i)))
	}
	cat := memory.NewCatalog()
	ctx := context.Background()
	m := mb("sales", "sales", srv.Host(), srv.Port())
	cat.PutMailbox(ctx, m)
	cat.PutContract(ctx, &contract.Contract{ID: "sales-co", Name: "Sales", InboundMailboxes: []mailbox.ID{"sales"}})
	st := memory.NewInboundStore()
	rec := newRecorder()
	got := map[string]*inbound.Delivery{}
	rec.hook = func(d *inbound.Delivery) error {
		rec.mu.Lock()
		got[d.Message.MessageID] = d
		rec.mu.Unlock()
		return nil
	}
	o := fastOptions(st, rec)
	o.Catalog = cat
	o.Sent = sentIndex{
		"out-1@helpdesk.example": {MessageID: "out-1@helpdesk.example", Mailbox: "out", Contract: "support-co", Thread: "55"},
		"out-2@helpdesk.example": {MessageID: "out-2@helpdesk.example", Mailbox: "out", Contract: "sales-co", Thread: "77"},
	}
	o.LoopGuard.Max = 2
	start(t, o, m)
	eventually(t, "7 handed", func() bool { return rec.count("sales") == 7 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if d := got["r1@example.com"]; d.Thread == nil || d.Thread.By != "in-reply-to" || d.Contract != "support-co" || !d.ContractMismatch {
		t.Fatalf("reply: thread %+v contract %q mismatch %v", d.Thread, d.Contract, d.ContractMismatch)
	}
	if d := got["r2@example.com"]; d.Thread == nil || d.Thread.By != "token" || d.Thread.Ref.Thread != "77" || d.ContractMismatch {
		t.Fatalf("token: %+v", d.Thread)
	}
	if d := got["r3@example.com"]; d.AutoAnswerAllowed() || !d.Classification.AutoReply {
		t.Fatalf("auto-reply allowed an answer: %+v", d.Classification)
	}
	if got["f1@example.com"].SenderFlood || !got["f2@example.com"].SenderFlood || got["f3@example.com"].AutoAnswerAllowed() {
		t.Fatal("loop guard did not flag the third message of one sender")
	}
}

func TestTooLargeQuarantinedUnread(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("x", "pw-x")
	srv.Append("x", "INBOX", rawMsg("x", 1))
	srv.Append("x", "INBOX", append(rawMsg("x", 2), bytes.Repeat([]byte("y"), 5000)...))
	srv.Append("x", "INBOX", rawMsg("x", 3))
	m := mb("x", "x", srv.Host(), srv.Port())
	m.Inbound.MaxMessageSize = 2000
	st := memory.NewInboundStore()
	rec := newRecorder()
	r := start(t, fastOptions(st, rec), m)
	eventually(t, "2 handed, 1 quarantined", func() bool { h := r.health("x"); return h.Handled == 2 && h.Quarantined == 1 })
	q := st.Quarantined("x")
	if len(q) != 1 || !strings.Contains(q[0].Reason, "exceeds") {
		t.Fatalf("%+v", q)
	}
}

func TestChangeDisableRemoveWhileRunning(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("a", "pw-a")
	srv.AddUser("b", "pw-b")
	srv.Append("a", "INBOX", rawMsg("a", 1))
	srv.Append("b", "INBOX", rawMsg("b", 1))
	st := memory.NewInboundStore()
	rec := newRecorder()
	a := mb("a", "a", srv.Host(), srv.Port())
	a.Inbound.Credentials.Password = mailbox.NewSecret("wrong")
	b := mb("b", "b", srv.Host(), srv.Port())
	r := start(t, fastOptions(st, rec), a, b)
	eventually(t, "b handed", func() bool { return rec.count("b") == 1 })
	eventually(t, "a auth_failed", func() bool { h := r.health("a"); return h.State == engine.StateAuthFailed })
	if h := r.health("a"); !strings.Contains(h.LastError, "auth") || strings.Contains(h.LastError, "wrong") || !h.NeedsPerson() {
		t.Fatalf("last error %q", h.LastError)
	}
	// Fix a's password while running; b is not touched.
	a2 := a.Clone()
	a2.Inbound.Credentials.Password = mailbox.NewSecret("pw-a")
	r.put(t, a2)
	eventually(t, "a handed after the fix", func() bool { return rec.count("a") == 1 })
	b2 := b.Clone()
	b2.Enabled = false
	r.put(t, b2)
	eventually(t, "b disabled", func() bool { h := r.health("b"); return h.State == engine.StateDisabled })
	srv.Append("b", "INBOX", rawMsg("b", 2))
	srv.Append("a", "INBOX", rawMsg("a", 2))
	eventually(t, "a goes on", func() bool { return rec.count("a") == 2 })
	if rec.count("b") != 1 {
		t.Fatal("disabled mailbox was read")
	}
	r.del(t, "a")
	if _, err := r.p.Health(context.Background(), "a"); !errors.Is(err, engine.ErrUnknownMailbox) {
		t.Fatalf("removed mailbox still in health: %v", err)
	}
}

// The Poller runs the catalog's inbound mailboxes that its Assignment
// runs, picks up changes of both on Reload and of the catalog by itself
// (its Version), and has the engines' one lifecycle.
func TestCatalogAssignmentAndLifecycle(t *testing.T) {
	srv := newServer(t)
	for _, u := range []string{"a", "b", "c"} {
		srv.AddUser(u, "pw-"+u)
		srv.Append(u, "INBOX", rawMsg(u, 1))
	}
	cat := memory.NewCatalog()
	for _, u := range []string{"a", "b"} {
		putMailbox(t, cat, mb(u, u, srv.Host(), srv.Port()))
	}
	out := &mailbox.Mailbox{ID: "out", Description: "Outbound", Kind: mailbox.Outbound, Enabled: true,
		Outbound: &mailbox.OutboundSettings{Server: mailbox.Server{Host: "127.0.0.1", Port: 25, Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			Credentials: mailbox.Credentials{Username: "out", Password: mailbox.NewSecret("pw-out")},
			From:        mailbox.Identity{Address: "out@example.test"}}}
	putMailbox(t, cat, out)
	var mu sync.Mutex
	assigned := map[mailbox.ID]bool{"a": true, "c": true}
	rec := newRecorder()
	o := fastOptions(memory.NewInboundStore(), rec)
	o.Catalog = cat
	o.Refresh = 10 * time.Millisecond
	o.Assignment = engine.AssignmentFunc(func(id mailbox.ID) bool { mu.Lock(); defer mu.Unlock(); return assigned[id] })
	p, err := inbound.New(o)
	if err != nil {
		t.Fatal(err)
	}
	var _ engine.Engine = p
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); !errors.Is(err, engine.ErrStarted) {
		t.Fatalf("second Start: %v", err)
	}
	eventually(t, "a handed", func() bool { return rec.count("a") == 1 })
	if _, err := p.Health(ctx, "b"); !errors.Is(err, engine.ErrUnknownMailbox) {
		t.Fatalf("unassigned mailbox b: %v", err)
	}
	if _, err := p.Health(ctx, "out"); !errors.Is(err, engine.ErrUnknownMailbox) {
		t.Fatalf("outbound mailbox in the poller: %v", err)
	}
	// A mailbox added to the catalog is picked up without Reload (the
	// catalog's version moved).
	putMailbox(t, cat, mb("c", "c", srv.Host(), srv.Port()))
	eventually(t, "c picked up from the catalog", func() bool { return rec.count("c") == 1 })
	// A changed assignment applies on Reload, synchronously.
	mu.Lock()
	assigned["b"], assigned["a"] = true, false
	mu.Unlock()
	p.Reload()
	if _, err := p.Health(ctx, "a"); !errors.Is(err, engine.ErrUnknownMailbox) {
		t.Fatalf("a still run after it was unassigned: %v", err)
	}
	eventually(t, "b handed once assigned", func() bool { return rec.count("b") == 1 })
	hs, _ := p.HealthAll(ctx)
	if len(hs) != 2 || hs[0].Mailbox != "b" || hs[1].Mailbox != "c" || hs[0].Kind != mailbox.Inbound {
		t.Fatalf("HealthAll: %+v", hs)
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h, _ := p.Health(ctx, "b"); h.State != engine.StateStopped {
		t.Fatalf("after Stop: %s", h.State)
	}
	if _, err := inbound.New(inbound.Options{Store: memory.NewInboundStore(), Handler: rec}); err == nil {
		t.Fatal("New without a catalog")
	}
}

func TestMessageMovedBackNotHandedTwice(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("mv", "pw-mv")
	srv.Append("mv", "INBOX", rawMsg("mv", 1))
	m := mb("mv", "mv", srv.Host(), srv.Port())
	m.Inbound.PostAction = mailbox.PostMove
	m.Inbound.MoveTo = "Processed"
	st := memory.NewInboundStore()
	rec := newRecorder()
	r := start(t, fastOptions(st, rec), m)
	eventually(t, "handed and moved", func() bool {
		s, err := srv.Status("mv", "Processed")
		return rec.count("mv") == 1 && err == nil && *s.NumMessages == 1
	})
	// A person moves it back to the INBOX (same bytes, new UID).
	srv.Append("mv", "INBOX", rawMsg("mv", 1))
	eventually(t, "recognised and moved again", func() bool {
		h := r.health("mv")
		s, _ := srv.Status("mv", "Processed")
		return h.Duplicates == 1 && *s.NumMessages == 2
	})
	if rec.count("mv") != 1 {
		t.Fatalf("moved-back message handed again: %d", rec.count("mv"))
	}
}

func TestPollModeOnTheClock(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("p", "pw-p")
	srv.Append("p", "INBOX", rawMsg("p", 1))
	fc := clock.NewFake(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	o := fastOptions(memory.NewInboundStore(), newRecorder())
	rec := o.Handler.(*recorder)
	o.Clock = fc
	m := mb("p", "p", srv.Host(), srv.Port())
	m.Inbound.Idle = mailbox.IdleOff
	m.Inbound.PollInterval = 5 * time.Minute
	r := start(t, o, m)
	eventually(t, "first message", func() bool { return rec.count("p") == 1 })
	eventually(t, "waiting on the poll timer", func() bool {
		h := r.health("p")
		return h.State == engine.StateWaiting && !h.Push && fc.Waiters() > 0
	})
	h := r.health("p")
	if h.Mode != engine.ModePolling || h.LastCheck.IsZero() || h.NextCheck.Sub(h.LastCheck) < 4*time.Minute || h.NextCheck.Sub(h.LastCheck) > 5*time.Minute {
		t.Fatalf("health %+v: want polling, next check 4 to 5 min after the last", h)
	}
	srv.Append("p", "INBOX", rawMsg("p", 2))
	fc.Advance(3*time.Minute + 30*time.Second) // below the interval's jitter (its last fifth)
	if rec.count("p") != 1 {
		t.Fatal("polled before the interval")
	}
	fc.Advance(2 * time.Minute)
	eventually(t, "second message after the poll interval", func() bool { return rec.count("p") == 2 })
}

// Two mailboxes over a host cap of one: they share the one connection in
// turn (short sessions), so both are read; none waits for the other to
// fail, as when a session kept its slot for as long as it lived.
func TestPerHostCapRotates(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("c1", "pw-c1")
	srv.AddUser("c2", "pw-c2")
	srv.Append("c1", "INBOX", rawMsg("c1", 1))
	srv.Append("c2", "INBOX", rawMsg("c2", 1))
	o := fastOptions(memory.NewInboundStore(), newRecorder())
	rec := o.Handler.(*recorder)
	o.MaxConnectionsPerHost = 1
	m1, m2 := mb("c1", "c1", srv.Host(), srv.Port()), mb("c2", "c2", srv.Host(), srv.Port())
	m1.Inbound.PollInterval, m2.Inbound.PollInterval = 20*time.Millisecond, 20*time.Millisecond
	r := start(t, o, m1, m2)
	eventually(t, "both handed, rotating", func() bool {
		return rec.count("c1") == 1 && rec.count("c2") == 1 &&
			r.health("c1").Mode == engine.ModeRotating && r.health("c2").Mode == engine.ModeRotating
	})
	srv.Append("c1", "INBOX", rawMsg("c1", 2))
	srv.Append("c2", "INBOX", rawMsg("c2", 2))
	eventually(t, "new mail of both read", func() bool { return rec.count("c1") == 2 && rec.count("c2") == 2 })
	// The first mailbox removed, the second keeps the connection.
	r.del(t, "c1")
	eventually(t, "the other mailbox pushes", func() bool { h := r.health("c2"); return h.Mode == engine.ModePush && h.Push })
	if d := rec.dupes(); len(d) > 0 {
		t.Fatalf("handed twice: %v", d)
	}
}

// Regression: when the connection broke between the commit of a batch and
// its post-action, the post-action was lost (the checkpoint had passed the
// messages, so they stayed unseen for good). It is now applied on the next
// session.
func TestPostActionAfterBrokenConnection(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("cut", "pw-cut")
	for i := range 5 {
		if _, err := srv.Append("cut", "INBOX", rawMsg("cut", i)); err != nil {
			t.Fatal(err)
		}
	}
	px := newProxy(t, srv.Addr)
	rec := newRecorder()
	var once sync.Once
	rec.hook = func(*inbound.Delivery) error {
		// The server drops the connection while the host handles the first
		// message: the batch is committed, its post-action cannot run.
		once.Do(px.CloseConns)
		return nil
	}
	start(t, fastOptions(memory.NewInboundStore(), rec), mb("cut", "cut", px.Host(), px.Port()))
	eventually(t, "all handed", func() bool { return rec.count("cut") == 5 })
	eventually(t, "all marked seen", func() bool { st, _ := srv.Status("cut", "INBOX"); return *st.NumUnseen == 0 })
	if d := rec.dupes(); len(d) > 0 || px.Accepted() < 2 {
		t.Fatalf("dupes %v, %d connections", d, px.Accepted())
	}
}

type leaser struct{ fence atomic.Int64 }

func (l *leaser) Fence(context.Context, mailbox.ID) (int64, error) { return l.fence.Load(), nil }

// TestStaleFenceCannotCommit: a replica whose lease token is older than one
// the store has seen cannot move the checkpoint nor record a hand-off.
func TestStaleFenceCannotCommit(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("f", "pw-f")
	srv.Append("f", "INBOX", rawMsg("f", 1))
	st := memory.NewInboundStore()
	// Another replica committed with token 5.
	if err := st.SetCheckpoint(context.Background(), "f", "INBOX", store.Checkpoint{UIDValidity: 1}, 5); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	o := fastOptions(st, rec)
	l := &leaser{}
	l.fence.Store(4)
	o.Leaser = l
	r := start(t, o, mb("f", "f", srv.Host(), srv.Port()))
	eventually(t, "refused by the store", func() bool {
		h := r.health("f")
		return strings.Contains(h.LastError, "fencing token")
	})
	if rec.count("f") != 0 || len(st.Records("f")) != 0 {
		t.Fatal("a stale replica handed or committed")
	}
	l.fence.Store(6) // the lease is ours again
	eventually(t, "handed with a fresh token", func() bool { return rec.count("f") == 1 })
}

func TestStartNewSurvivesUIDValidityReset(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("n", "pw-n")
	for i := range 4 {
		srv.Append("n", "INBOX", rawMsg("n", i))
	}
	// The mailbox starts an hour after the old mail arrived.
	fc := clock.NewFake(time.Now().Add(time.Hour))
	m := mb("n", "n", srv.Host(), srv.Port())
	m.Inbound.StartFrom = mailbox.StartNew
	m.Inbound.PostAction = mailbox.PostKeep
	st := memory.NewInboundStore()
	rec := newRecorder()
	o := fastOptions(st, rec)
	o.Clock = fc
	r := start(t, o, m)
	eventually(t, "waiting", func() bool { h := r.health("n"); return h.State == engine.StateWaiting })
	r.stop()
	if err := srv.ResetUIDValidity("n", "INBOX"); err != nil {
		t.Fatal(err)
	}
	r = start(t, o, m)
	eventually(t, "waiting after the reset", func() bool {
		h := r.health("n")
		cp, _, _ := st.Checkpoint(context.Background(), "n", "INBOX")
		return h.State == engine.StateWaiting && cp.LastUID == 4
	})
	if rec.count("n") != 0 {
		t.Fatalf("old mail read after a UIDVALIDITY reset: %d", rec.count("n"))
	}
}

func TestPollerProbe(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("pr", "pw-pr")
	srv.Append("pr", "INBOX", rawMsg("pr", 1))
	p, _ := inbound.New(fastOptions(memory.NewInboundStore(), newRecorder()))
	rep, err := p.Probe(context.Background(), mb("pr", "pr", srv.Host(), srv.Port()))
	d, _ := rep.Detail.(imapt.ProbeReport)
	if err != nil || d.Messages != 1 || !d.Caps.Idle || rep.Fact("messages") != "1" || rep.Kind != mailbox.TransportIMAP {
		t.Fatalf("%+v %v", rep, err)
	}
}

// TestRunLeavesNoGoroutines: after Run returns, nothing of the poller is
// left running, even for a mailbox whose server never answered.
func TestRunLeavesNoGoroutines(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("g", "pw-g")
	srv.AddUser("h", "pw-h")
	srv.Append("g", "INBOX", rawMsg("g", 1))
	black := newProxy(t, srv.Addr)
	black.SetMode(mailtest.Blackhole)
	base := runtime.NumGoroutine()
	rec := newRecorder()
	r := start(t, fastOptions(memory.NewInboundStore(), rec), mb("g", "g", srv.Host(), srv.Port()), mb("h", "h", black.Host(), black.Port()))
	eventually(t, "good handed, bad down", func() bool {
		h := r.health("h")
		return rec.count("g") == 1 && h.State == engine.StateDown
	})
	r.stop()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines, baseline %d\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}
