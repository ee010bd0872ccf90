// Command quickstart shows correio end to end in one run, with no set-up and
// no network: it starts in-process IMAP and SMTP servers (package mailtest),
// keeps its catalog in a SQLite file in a temporary directory, and then
//
//  1. runs the workflow step "send message by email" with each mailbox choice
//     (system, contract, specific) and prints the resolver's decision;
//  2. shows those messages delivered, each through its own server;
//  3. lets the customers reply: the replies arrive in each contract's inbound
//     mailbox, are handed to a handler, matched to their request and listed
//     grouped by contract;
//  4. takes one contract's SMTP server down: the other contract carries on,
//     the downed one's mail waits in the queue while its health says down,
//     and is delivered when the server returns.
//
// Run it with:
//
//	go run ./examples/quickstart
//
// It imports only public packages, so it can be copied as a starting point.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/secrets"
	"github.com/correio-dev/correio/store/sqlite"
	"github.com/correio-dev/correio/store/sqlstore"
	"github.com/correio-dev/correio/threading"
	"github.com/correio-dev/correio/workflow"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// directory is the host's user directory: who the email step's users and
// groups are.
type directory map[workflow.UserID]workflow.User

func (d directory) User(_ context.Context, id workflow.UserID) (workflow.User, error) {
	u, ok := d[id]
	if !ok {
		return workflow.User{}, fmt.Errorf("no user %q", id)
	}
	return u, nil
}

func (d directory) GroupMembers(context.Context, workflow.GroupID) ([]workflow.User, error) {
	return nil, nil
}

// servers of one contract: where its outbound mailbox sends (SMTP, behind a
// proxy we can take down) and where its customers write to (IMAP).
type servers struct {
	smtp  *mailtest.SMTPServer
	proxy *mailtest.Proxy
	imap  *mailtest.IMAPServer
}

func startServers() (*servers, error) {
	s := &servers{}
	var err error
	if s.smtp, err = mailtest.NewSMTPServer(mailtest.SMTPOptions{}); err != nil {
		return nil, err
	}
	if s.proxy, err = mailtest.NewProxy(s.smtp.Addr()); err != nil {
		return nil, err
	}
	if s.imap, err = mailtest.NewIMAPServer(nil); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *servers) close() {
	s.proxy.Close()
	s.smtp.Close()
	s.imap.Close()
}

// The in-process servers speak plaintext on loopback; real mailboxes use
// TLS (the default) and never need AllowPlaintext.
func plaintext(host string, port int) mailbox.Server {
	return mailbox.Server{Host: host, Port: port, Security: mailbox.SecurityPlaintext, AllowPlaintext: true}
}

func outboundMailbox(id, desc, from string, host string, port int) *mailbox.Mailbox {
	return &mailbox.Mailbox{
		ID: mailbox.ID(id), Description: desc, Kind: mailbox.Outbound, Enabled: true,
		Outbound: &mailbox.OutboundSettings{
			Server:      plaintext(host, port),
			Credentials: mailbox.Credentials{Mechanism: mailbox.AuthNone},
			From:        mailbox.Identity{Name: desc, Address: from},
		},
	}
}

func inboundMailbox(id, desc, addr string, srv *mailtest.IMAPServer, user string) *mailbox.Mailbox {
	return &mailbox.Mailbox{
		ID: mailbox.ID(id), Description: desc, Kind: mailbox.Inbound, Enabled: true, Address: addr,
		Inbound: &mailbox.InboundSettings{
			Server:      plaintext(srv.Host(), srv.Port()),
			Credentials: mailbox.Credentials{Username: user, Password: mailbox.NewSecret("pw-" + user)},
		},
	}
}

func run(ctx context.Context, out io.Writer) error {
	say := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }

	// ---- servers: one SMTP for the system mailbox, and per contract an
	// SMTP and an IMAP server of its own.
	system, err := mailtest.NewSMTPServer(mailtest.SMTPOptions{})
	if err != nil {
		return err
	}
	defer system.Close()
	acme, err := startServers()
	if err != nil {
		return err
	}
	defer acme.close()
	globex, err := startServers()
	if err != nil {
		return err
	}
	defer globex.close()
	acme.imap.AddUser("support", "pw-support")
	globex.imap.AddUser("help", "pw-help")

	// ---- the catalog, in SQLite (passwords sealed with a host key).
	dir, err := os.MkdirTemp("", "correio-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	keys, err := secrets.NewKeyring("k1", map[string][]byte{"k1": key})
	if err != nil {
		return err
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "correio.db"), sqlite.Options{Secrets: keys})
	if err != nil {
		return err
	}
	defer db.Close()
	cat := db.Catalog()

	for _, m := range []*mailbox.Mailbox{
		outboundMailbox("system-out", "Service Desk", "desk@servicedesk.example", system.Host(), system.Port()),
		outboundMailbox("acme-out", "ACME Support", "support@acme.example", acme.proxy.Host(), acme.proxy.Port()),
		outboundMailbox("globex-out", "Globex Help", "help@globex.example", globex.proxy.Host(), globex.proxy.Port()),
		inboundMailbox("acme-in", "ACME inbox", "support@acme.example", acme.imap, "support"),
		inboundMailbox("globex-in", "Globex inbox", "help@globex.example", globex.imap, "help"),
	} {
		if err := cat.PutMailbox(ctx, m); err != nil {
			return err
		}
	}
	if err := cat.SetSystemMailbox(ctx, "system-out"); err != nil {
		return err
	}
	for _, c := range []*contract.Contract{
		{ID: "acme", Name: "ACME Corp", OutboundMailbox: "acme-out", InboundMailboxes: []mailbox.ID{"acme-in"}},
		{ID: "globex", Name: "Globex", OutboundMailbox: "globex-out", InboundMailboxes: []mailbox.ID{"globex-in"}},
	} {
		if err := cat.PutContract(ctx, c); err != nil {
			return err
		}
	}
	say("Catalog: 3 outbound mailboxes (system, ACME, Globex), 2 inbound mailboxes, 2 contracts, in SQLite (%s)", filepath.Join(filepath.Base(dir), "correio.db"))

	// ---- the engines. Quick retries so the demo fits in seconds; the
	// defaults are minutes.
	// The outbox and the poller's state live in the same SQLite file.
	outbox := db.Outbox()
	sender, err := outbound.New(outbound.Options{
		Outbox: outbox, Catalog: cat,
		RetryBase: 200 * time.Millisecond, RetryMax: time.Second,
		BreakerThreshold: 2, BreakerCooldown: 300 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	if err := sender.Start(ctx); err != nil {
		return err
	}
	defer sender.Stop(context.Background())
	runner := &outbound.Runner{
		Resolver: routing.NewResolver(cat),
		Sender:   sender,
		Directory: directory{
			"ana":   {ID: "ana", Name: "Ana Souza", Address: "ana@acme.example"},
			"bruno": {ID: "bruno", Name: "Bruno Lima", Address: "bruno@globex.example"},
		},
	}

	// ---- 1. the email step with each mailbox choice.
	say("\n1. Workflow email steps and the resolver's decisions")
	steps := []struct {
		choice   workflow.MailboxChoice
		specific mailbox.ID
		contract contract.ID
		user     workflow.UserID
		thread   string
		title    string
	}{
		{workflow.System, "", "acme", "ana", "1001", "Printer jammed"},
		{workflow.Contract, "", "acme", "ana", "1002", "VPN access"},
		{workflow.Contract, "", "globex", "bruno", "2001", "New laptop"},
		{workflow.Specific, "globex-out", "", "bruno", "2002", "Password reset"},
	}
	for _, st := range steps {
		res, err := runner.Run(ctx, &workflow.EmailConnector{
			Name:       "request opened",
			Mailbox:    st.choice,
			MailboxID:  st.specific,
			Recipients: workflow.Recipients{Users: []workflow.UserID{st.user}},
			Subject:    "Request {{.Request}} opened: {{.Title}}",
			Text:       "Hello {{.Name}},\n\nwe opened request {{.Request}}. Reply to this message to add details.\n",
		}, outbound.Flow{Contract: st.contract, Thread: st.thread,
			Vars: workflow.Vars{"Request": st.thread, "Title": st.title, "Name": st.user}})
		if err != nil {
			return err
		}
		say("   %-8s step for contract %-7q -> %-10s (rule %s)\n            why: %s",
			st.choice, st.contract, res.Decision.Mailbox.ID, res.Decision.Rule, res.Decision.Reason())
	}

	// ---- 2. delivered, each through its own server.
	say("\n2. Delivered")
	sent := map[string]mailtest.SMTPMessage{} // by thread
	for _, srv := range []struct {
		name string
		s    *mailtest.SMTPServer
		n    int
	}{{"system SMTP", system, 1}, {"ACME SMTP", acme.smtp, 1}, {"Globex SMTP", globex.smtp, 2}} {
		msgs, err := srv.s.WaitMessages(ctx, srv.n)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", srv.name, err)
		}
		for _, m := range msgs {
			h := headers(m.Data)
			say("   %-12s From: %-40s Subject: %s", srv.name, h.Get("From"), h.Get("Subject"))
			sent[threadOf(h.Get("Subject"))] = m
		}
	}

	// ---- 3. customers reply; the poller hands the replies over.
	say("\n3. Customers reply")
	var mu sync.Mutex
	received := map[contract.ID][]string{}
	done := make(chan struct{})
	want := 2
	poller, err := inbound.New(inbound.Options{
		Store:   db.Inbound(),
		Catalog: cat,
		Sent:    outbox,
		Handler: inbound.HandlerFunc(func(ctx context.Context, d *inbound.Delivery) error {
			match := "new request"
			if d.Thread != nil {
				match = "request " + d.Thread.Ref.Thread + " (matched by " + d.Thread.By + ")"
			}
			mu.Lock()
			defer mu.Unlock()
			received[d.Contract] = append(received[d.Contract], fmt.Sprintf("%q from %s -> %s", d.Message.Subject, d.Message.From[0].Address, match))
			if want--; want == 0 {
				close(done)
			}
			return nil
		}),
	})
	if err != nil {
		return err
	}
	// The poller reads the catalog's inbound mailboxes (acme-in and
	// globex-in) and picks up changes to them while it runs.
	pctx, stopPoller := context.WithCancel(ctx)
	pollerDone := make(chan error, 1)
	go func() { pollerDone <- poller.Run(pctx) }()
	defer func() { stopPoller(); <-pollerDone }()

	if _, err := acme.imap.Append("support", "INBOX", reply(sent["1002"], "ana@acme.example", "The VPN works now, thanks!")); err != nil {
		return err
	}
	if _, err := globex.imap.Append("help", "INBOX", reply(sent["2001"], "bruno@globex.example", "Please make it a 14-inch one.")); err != nil {
		return err
	}
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("replies not handed over: %w", ctx.Err())
	}
	mu.Lock()
	ids := make([]string, 0, len(received))
	for id := range received {
		ids = append(ids, string(id))
	}
	sort.Strings(ids)
	for _, id := range ids {
		say("   contract %s:", id)
		for _, r := range received[contract.ID(id)] {
			say("     %s", r)
		}
	}
	mu.Unlock()

	// ---- 4. Globex's SMTP server goes down.
	say("\n4. Globex's SMTP server goes down")
	globex.proxy.SetMode(mailtest.Down)
	for _, st := range []struct {
		c      contract.ID
		user   workflow.UserID
		thread string
	}{{"acme", "ana", "1002"}, {"globex", "bruno", "2001"}} {
		if _, err := runner.Run(ctx, &workflow.EmailConnector{
			Mailbox:    workflow.Contract,
			Recipients: workflow.Recipients{Users: []workflow.UserID{st.user}},
			Subject:    "Request {{.Request}} completed",
			Text:       "Your request {{.Request}} is complete.\n",
		}, outbound.Flow{Contract: st.c, Thread: st.thread, Vars: workflow.Vars{"Request": st.thread}}); err != nil {
			return err
		}
	}
	if _, err := acme.smtp.WaitMessages(ctx, 2); err != nil {
		return fmt.Errorf("ACME mail held up by Globex's outage: %w", err)
	}
	say("   ACME's completion notice delivered (ACME SMTP has %d messages)", len(acme.smtp.Messages()))
	h, err := waitHealth(ctx, sender, "globex-out", func(h engine.Health) bool { return h.State == engine.StateDown })
	if err != nil {
		return err
	}
	say("   globex-out health: %s (circuit breaker open: mailbox down), %d queued (oldest %s), last error: %s", h.State, h.QueueDepth, h.OldestQueued.Round(time.Millisecond), h.LastError)

	say("   Globex's server comes back")
	globex.proxy.SetMode(mailtest.Pass)
	if _, err := globex.smtp.WaitMessages(ctx, 3); err != nil {
		return fmt.Errorf("the queued mail of Globex not delivered after recovery: %w", err)
	}
	h, err = waitHealth(ctx, sender, "globex-out", func(h engine.Health) bool { return h.QueueDepth == 0 })
	if err != nil {
		return err
	}
	say("   Globex's completion notice delivered; globex-out health: %s, %d queued", h.State, h.QueueDepth)

	// What the store keeps, grouped by contract.
	say("\nMail kept by contract (queried from the SQLite store)")
	for _, c := range []contract.ID{"acme", "globex"} {
		say("   contract %s:", c)
		sentRecs, err := outbox.ListByContract(ctx, c, store.OutboxFilter{})
		if err != nil {
			return err
		}
		for _, r := range sentRecs {
			say("     sent     %-4s via %-10s %s", r.State, r.Mailbox, r.Message.Subject)
		}
		got, err := db.Inbound().Received(ctx, sqlstore.ReceivedFilter{Contract: c})
		if err != nil {
			return err
		}
		for _, r := range got {
			say("     received in %-9s key %.24s...", r.Mailbox, r.Key)
		}
	}
	say("\nDone.")
	return nil
}

func waitHealth(ctx context.Context, s *outbound.Sender, id mailbox.ID, ok func(engine.Health) bool) (engine.Health, error) {
	for {
		h, err := s.Health(ctx, id)
		if err != nil {
			return h, err
		}
		if ok(h) {
			return h, nil
		}
		select {
		case <-ctx.Done():
			return h, fmt.Errorf("health of %s stuck at %s: %w", id, h.State, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func headers(raw []byte) mail.Header {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return mail.Header{}
	}
	return m.Header
}

var tokens = threading.TokenFormat{}.MustCompile()

func threadOf(subject string) string {
	id, _ := tokens.Parse(subject)
	return id
}

// reply writes the customer's answer to a message we sent: same subject with
// "Re:", In-Reply-To and References naming our Message-ID.
func reply(to mailtest.SMTPMessage, from, text string) []byte {
	h := headers(to.Data)
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: Re: %s\r\n", from, h.Get("From"), h.Get("Subject"))
	fmt.Fprintf(&b, "Date: %s\r\nMessage-ID: <%d.reply@customer.example>\r\n", time.Now().Format(time.RFC1123Z), time.Now().UnixNano())
	fmt.Fprintf(&b, "In-Reply-To: %s\r\nReferences: %s\r\n", h.Get("Message-ID"), h.Get("Message-ID"))
	fmt.Fprintf(&b, "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", text)
	return []byte(b.String())
}
