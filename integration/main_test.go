package integration_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	gomail "github.com/wneessen/go-mail"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/internal/mailstack"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/threading"
	imapt "github.com/correio-dev/correio/transport/imap"
	"github.com/correio-dev/correio/transport/smtp"
)

// One stack (Dovecot + Postfix + token server) serves the whole package:
// starting one costs seconds. Tests use disjoint accounts, so they do not
// see each other's mail; tests that restart a server run sequentially like
// every other test here (none calls t.Parallel).
var (
	stackOnce sync.Once
	shared    *mailstack.Stack
	tokens    *mailstack.TokenServer
	stackErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if err := shared.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "mailstack close:", err)
		}
	}
	if tokens != nil {
		_ = tokens.Close()
	}
	os.Exit(code)
}

// numBoxes is the number of generic accounts box00..boxNN@example.test
// (fault tests and benchmarks).
const numBoxes = 60

// pass is the password of every test account.
func pass(addr string) string { return "pw-" + addr }

func accounts() []mailstack.User {
	names := []string{
		"desk@example.test", "alerts@example.test", "ana@example.test", "bo@example.test",
		"support@acme.test", "help@acme.test", "sales@acme.test",
		"support@globex.test", "help@globex.test",
		"tls@acme.test", "oauth@acme.test", "oauth@globex.test",
		"pop@example.test", "keep@example.test",
	}
	for i := range numBoxes {
		names = append(names, box(i))
	}
	us := make([]mailstack.User, len(names))
	for i, n := range names {
		us[i] = mailstack.User{Address: n, Password: pass(n)}
	}
	return us
}

func box(i int) string { return fmt.Sprintf("box%02d@example.test", i) }

// stack returns the shared stack, starting it on first use. The tier must
// run in CI: without the servers it fails, unless CORREIO_SKIP_MAILSTACK=1.
func stack(t testing.TB) *mailstack.Stack {
	t.Helper()
	if err := mailstack.Available(); err != nil {
		if os.Getenv("CORREIO_SKIP_MAILSTACK") == "1" {
			t.Skip("SKIPPING the real-server tier because CORREIO_SKIP_MAILSTACK=1: Dovecot/Postfix tests did NOT run")
		}
		t.Fatalf("%v; or set CORREIO_SKIP_MAILSTACK=1 to skip this tier knowingly", err)
	}
	stackOnce.Do(func() {
		tokens, stackErr = mailstack.StartTokenServer()
		if stackErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		shared, stackErr = mailstack.Start(ctx, mailstack.Options{Users: accounts(), OAuth2IntrospectionURL: tokens.IntrospectionURL()})
	})
	if stackErr != nil {
		t.Fatal(stackErr)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs := shared.Logs()
			if len(logs) > 16<<10 {
				logs = logs[len(logs)-16<<10:]
			}
			t.Log("server logs (tail):\n" + logs)
		}
	})
	return shared
}

// ---- mailboxes ----

// outBox is an outbound mailbox sending as addr through Postfix
// submission (STARTTLS required, then AUTH PLAIN).
func outBox(s *mailstack.Stack, id, addr string) *mailbox.Mailbox {
	return &mailbox.Mailbox{
		ID: mailbox.ID(id), Description: id, Kind: mailbox.Outbound, Enabled: true, Address: addr,
		Outbound: &mailbox.OutboundSettings{
			Server:         mailbox.Server{Host: mailstack.Host, Port: s.SubmissionPort, Security: mailbox.SecuritySTARTTLS},
			Credentials:    mailbox.Credentials{Username: addr, Password: mailbox.NewSecret(pass(addr))},
			From:           mailbox.Identity{Name: "Desk " + id, Address: addr},
			MaxConnections: 2,
			HELOName:       "correio.test",
		},
	}
}

// inBox is an inbound mailbox reading addr's INBOX over IMAPS.
func inBox(s *mailstack.Stack, id, addr string, post mailbox.PostAction, moveTo string) *mailbox.Mailbox {
	return &mailbox.Mailbox{
		ID: mailbox.ID(id), Description: id, Kind: mailbox.Inbound, Enabled: true, Address: addr,
		Inbound: &mailbox.InboundSettings{
			Server:       mailbox.Server{Host: mailstack.Host, Port: s.IMAPSPort, Security: mailbox.SecurityTLS},
			Credentials:  mailbox.Credentials{Username: addr, Password: mailbox.NewSecret(pass(addr))},
			PostAction:   post,
			MoveTo:       moveTo,
			PollInterval: 200 * time.Millisecond,
		},
	}
}

// ---- engines ----

func imapConfig(s *mailstack.Stack) *imapt.Config {
	return &imapt.Config{TLSConfig: &tls.Config{RootCAs: s.CA.Pool()}, Timeout: 10 * time.Second}
}

func smtpTransport(t testing.TB, s *mailstack.Stack, o smtp.Options) *smtp.Transport {
	o.RootCAs = s.CA.Pool()
	if o.CommandTimeout == 0 {
		o.CommandTimeout = 10 * time.Second
	}
	if o.DataTimeout == 0 {
		o.DataTimeout = 10 * time.Second
	}
	tr := smtp.New(o)
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// sender is a running outbound.Sender over a memory outbox and catalog.
type sender struct {
	*outbound.Sender
	ob     store.Outbox
	mu     sync.Mutex
	events []outbound.Event
}

func (s *sender) eventsOf(kind outbound.EventKind) []outbound.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []outbound.Event
	for _, e := range s.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func startSender(t testing.TB, cat engine.Catalog, tr *smtp.Transport, o outbound.Options) *sender {
	t.Helper()
	if o.Outbox == nil {
		o.Outbox = memory.NewOutbox()
	}
	s := &sender{ob: o.Outbox}
	o.Catalog, o.Transport = cat, tr
	if o.RetryBase == 0 {
		o.RetryBase, o.RetryMax = 50*time.Millisecond, 500*time.Millisecond
	}
	if o.BreakerCooldown == 0 {
		o.BreakerCooldown = 200 * time.Millisecond
	}
	o.OnEvent = func(e outbound.Event) {
		s.mu.Lock()
		s.events = append(s.events, e)
		s.mu.Unlock()
	}
	snd, err := outbound.New(o)
	if err != nil {
		t.Fatal(err)
	}
	s.Sender = snd
	if err := snd.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = snd.Stop(ctx)
	})
	return s
}

// waitSent waits until every record is Sent and returns them.
func (s *sender) waitSent(t testing.TB, ids ...string) []*store.OutboxRecord {
	t.Helper()
	var recs []*store.OutboxRecord
	eventually(t, fmt.Sprintf("%d records sent", len(ids)), func() bool {
		recs = recs[:0]
		for _, id := range ids {
			r, err := s.ob.Get(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if r.State == store.Dead {
				t.Fatalf("record %s dead: %s (%s)", id, r.Reason, r.LastError)
			}
			if r.State != store.Sent {
				return false
			}
			recs = append(recs, r)
		}
		return true
	})
	return recs
}

// recorder is the host's Handler: it records every hand-off and counts
// keys, so a duplicate is caught.
type recorder struct {
	mu   sync.Mutex
	got  []*handed
	keys map[string]int
	hook func(d *inbound.Delivery) error
}

type handed struct {
	Mailbox          mailbox.ID
	Key              string
	MessageID        string
	Subject          string
	Contract         string
	MailboxContract  string
	ContractMismatch bool
	Thread           *threading.Match
	AutoAnswer       bool
}

func newRecorder() *recorder { return &recorder{keys: map[string]int{}} }

func (r *recorder) HandleMessage(_ context.Context, d *inbound.Delivery) error {
	if r.hook != nil {
		if err := r.hook(d); err != nil {
			return err
		}
	}
	if _, err := io.Copy(io.Discard, d.Raw()); err != nil {
		return err
	}
	h := &handed{Mailbox: d.Mailbox.ID, Key: d.Key, MessageID: d.Message.MessageID, Subject: d.Message.Subject,
		Contract: string(d.Contract), MailboxContract: string(d.MailboxContract), ContractMismatch: d.ContractMismatch,
		Thread: d.Thread, AutoAnswer: d.AutoAnswerAllowed()}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, h)
	r.keys[string(d.Mailbox.ID)+"/"+d.Key]++
	return nil
}

func (r *recorder) of(id mailbox.ID) []*handed {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*handed
	for _, h := range r.got {
		if h.Mailbox == id {
			out = append(out, h)
		}
	}
	return out
}

func (r *recorder) count(id mailbox.ID) int { return len(r.of(id)) }

func (r *recorder) dupes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for k, n := range r.keys {
		if n > 1 {
			out = append(out, fmt.Sprintf("%s x%d", k, n))
		}
	}
	return out
}

// fastPoller returns poller options for tests: short backoff, small
// batches, the stack's CA.
func fastPoller(s *mailstack.Stack, st store.Inbound, h inbound.Handler) inbound.Options {
	return inbound.Options{
		Store: st, Handler: h, IMAP: imapConfig(s),
		Catalog:          memory.NewCatalog(),
		RetryBase:        20 * time.Millisecond,
		RetryMax:         300 * time.Millisecond,
		BreakerThreshold: 3,
		BatchSize:        10,
	}
}

// startPoller runs a poller until the test ends.
func startPoller(t testing.TB, o inbound.Options, mbs ...*mailbox.Mailbox) *inbound.Poller {
	t.Helper()
	cat, ok := o.Catalog.(store.Catalog)
	if !ok {
		t.Fatalf("catalog %T has no write side", o.Catalog)
	}
	for _, m := range mbs {
		if err := cat.PutMailbox(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	p, err := inbound.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("poller: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("poller did not stop")
		}
	})
	return p
}

// eventually waits for cond with a generous bound: it asserts an outcome,
// never a speed.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---- the customer's side: raw go-mail and go-imap clients ----

// customerMail is a message a customer's mail client sends.
type customerMail struct {
	From, To, Subject, MessageID, InReplyTo string
}

// sendAs submits m through Postfix as its sender (STARTTLS + AUTH PLAIN),
// with go-mail, as the customer's mail client would.
func sendAs(t testing.TB, s *mailstack.Stack, m customerMail) {
	t.Helper()
	c, err := gomail.NewClient(mailstack.Host, gomail.WithPort(s.SubmissionPort), gomail.WithTLSPolicy(gomail.TLSMandatory),
		gomail.WithTLSConfig(s.TLSConfig()), gomail.WithSMTPAuth(gomail.SMTPAuthPlain), gomail.WithUsername(m.From),
		gomail.WithPassword(pass(m.From)), gomail.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	msg := gomail.NewMsg()
	if err := msg.From(m.From); err != nil {
		t.Fatal(err)
	}
	if err := msg.To(m.To); err != nil {
		t.Fatal(err)
	}
	msg.Subject(m.Subject)
	if m.MessageID != "" {
		msg.SetMessageIDWithValue(m.MessageID)
	}
	if m.InReplyTo != "" {
		msg.SetGenHeader(gomail.HeaderInReplyTo, "<"+m.InReplyTo+">")
		msg.SetGenHeader(gomail.HeaderReferences, "<"+m.InReplyTo+">")
	}
	msg.SetBodyString(gomail.TypeTextPlain, "Thanks, here is my answer.\r\n")
	if err := c.DialAndSend(msg); err != nil {
		t.Fatalf("customer %s sending: %v", m.From, err)
	}
}

// serverMsg is a message as a raw IMAP client sees it on the server.
type serverMsg struct {
	UID    imap.UID
	Flags  []imap.Flag
	Header mail.Header
	Raw    []byte
}

func (m serverMsg) has(f imap.Flag) bool {
	for _, g := range m.Flags {
		if strings.EqualFold(string(g), string(f)) {
			return true
		}
	}
	return false
}

// rawIMAP logs user in over IMAPS with go-imap directly.
func rawIMAP(t testing.TB, s *mailstack.Stack, user string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialTLS(net.JoinHostPort(mailstack.Host, strconv.Itoa(s.IMAPSPort)), &imapclient.Options{TLSConfig: s.TLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(user, pass(user)).Wait(); err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c
}

// folder returns every message of user's folder (nil when the folder does
// not exist), without changing any flag.
func folder(t testing.TB, s *mailstack.Stack, user, name string) []serverMsg {
	t.Helper()
	c := rawIMAP(t, s, user)
	defer c.Close()
	sel, err := c.Select(name, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil // no such folder
	}
	if sel.NumMessages == 0 {
		return nil
	}
	var all imap.SeqSet
	all.AddRange(1, 0)
	msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]serverMsg, 0, len(msgs))
	for _, m := range msgs {
		var raw []byte
		for _, b := range m.BodySection {
			raw = b.Bytes
		}
		pm, err := mail.ReadMessage(strings.NewReader(string(raw)))
		if err != nil {
			t.Fatalf("unreadable message on the server: %v", err)
		}
		out = append(out, serverMsg{UID: m.UID, Flags: m.Flags, Header: pm.Header, Raw: raw})
	}
	return out
}

// waitFolder waits until cond holds for user's folder.
func waitFolder(t testing.TB, s *mailstack.Stack, user, name, what string, cond func([]serverMsg) bool) []serverMsg {
	t.Helper()
	var got []serverMsg
	eventually(t, user+" "+name+": "+what, func() bool {
		got = folder(t, s, user, name)
		return cond(got)
	})
	return got
}

func byMessageID(msgs []serverMsg, id string) (serverMsg, bool) {
	for _, m := range msgs {
		if strings.Trim(m.Header.Get("Message-Id"), "<> ") == id {
			return m, true
		}
	}
	return serverMsg{}, false
}

// clean empties the accounts a test uses, so the test does not depend on
// what an earlier run (-count > 1 shares the stack) left there.
func clean(t testing.TB, s *mailstack.Stack, users ...string) {
	t.Helper()
	for _, u := range users {
		c := rawIMAP(t, s, u)
		list, err := c.List("", "*", nil).Collect()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range list {
			if !strings.EqualFold(l.Mailbox, "INBOX") {
				_ = c.Delete(l.Mailbox).Wait() // special folders may refuse; they are empty
			}
		}
		sel, err := c.Select("INBOX", nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if sel.NumMessages > 0 {
			var all imap.SeqSet
			all.AddRange(1, 0)
			if err := c.Store(all, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
				t.Fatal(err)
			}
			if err := c.Expunge().Close(); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
	}
}
