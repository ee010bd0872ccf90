package integration_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/secrets"
	"github.com/correio-dev/correio/store/sqlite"
	"github.com/correio-dev/correio/threading"
	"github.com/correio-dev/correio/transport/smtp"
	"github.com/correio-dev/correio/workflow"
)

// directory is the host's user directory.
type directory map[workflow.UserID]workflow.User

func (d directory) User(_ context.Context, id workflow.UserID) (workflow.User, error) {
	if u, ok := d[id]; ok {
		return u, nil
	}
	return workflow.User{}, errors.New("no such user")
}

func (d directory) GroupMembers(context.Context, workflow.GroupID) ([]workflow.User, error) {
	return nil, nil
}

// TestSeedScenario is the seed's scenario end to end against Postfix and
// Dovecot: a system outbound mailbox, a specific one, and two contracts each
// with its own outbound and inbound mailboxes on separate accounts.
func TestSeedScenario(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		seedScenario(t, stores{cat: memory.NewCatalog(), outbox: memory.NewOutbox(), inbound: memory.NewInboundStore()})
	})
	t.Run("sqlite", func(t *testing.T) {
		ctx := context.Background()
		kr, err := secrets.NewKeyring("k1", map[string][]byte{"k1": bytes.Repeat([]byte{7}, 32)})
		if err != nil {
			t.Fatal(err)
		}
		st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "correio.db"), sqlite.Options{Secrets: kr})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		seedScenario(t, stores{cat: st.Catalog(), outbox: st.Outbox(), inbound: st.Inbound()})
	})
}

// catalog is what the scenario needs of a catalog store.
type catalog interface {
	engine.Catalog
	DeleteMailbox(ctx context.Context, id mailbox.ID) error
	PutMailbox(ctx context.Context, m *mailbox.Mailbox) error
	PutContract(ctx context.Context, c *contract.Contract) error
	SetSystemMailbox(ctx context.Context, id mailbox.ID) error
}

// outbox is the Sender's store, which is also the Poller's sent index.
type outbox interface {
	store.Outbox
	threading.SentIndex
}

type stores struct {
	cat     catalog
	outbox  outbox
	inbound store.Inbound
}

func seedScenario(t *testing.T, sto stores) {
	s := stack(t)
	ctx := context.Background()
	clean(t, s, "ana@example.test", "bo@example.test", "help@acme.test", "sales@acme.test", "help@globex.test")

	cat := sto.cat
	// acme-sales reads over IMAP STARTTLS, the others over IMAPS; every
	// outbound mailbox submits with STARTTLS + AUTH.
	sales := inBox(s, "acme-sales", "sales@acme.test", mailbox.PostSeen, "")
	sales.Inbound.Server.Port, sales.Inbound.Server.Security = s.IMAPPort, mailbox.SecuritySTARTTLS
	for _, m := range []*mailbox.Mailbox{
		outBox(s, "sys-out", "desk@example.test"),
		outBox(s, "alerts-out", "alerts@example.test"),
		outBox(s, "acme-out", "support@acme.test"),
		outBox(s, "globex-out", "support@globex.test"),
		inBox(s, "acme-in", "help@acme.test", mailbox.PostMove, "Processed"),
		sales,
		inBox(s, "globex-in", "help@globex.test", mailbox.PostDelete, ""),
	} {
		if err := m.Validate(); err != nil {
			t.Fatalf("%s: %v", m.ID, err)
		}
		if err := cat.PutMailbox(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := cat.SetSystemMailbox(ctx, "sys-out"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*contract.Contract{
		{ID: "acme", Name: "ACME", OutboundMailbox: "acme-out", InboundMailboxes: []mailbox.ID{"acme-in", "acme-sales"}},
		{ID: "globex", Name: "Globex", OutboundMailbox: "globex-out", InboundMailboxes: []mailbox.ID{"globex-in"}},
	} {
		if err := cat.PutContract(ctx, c); err != nil {
			t.Fatal(err)
		}
	}

	snd := startSender(t, cat, smtpTransport(t, s, smtp.Options{}), outbound.Options{Outbox: sto.outbox})
	runner := &outbound.Runner{Resolver: routing.NewResolver(cat), Sender: snd.Sender, Directory: directory{
		"ana": {ID: "ana", Name: "Ana Customer", Address: "ana@example.test"},
		"bo":  {ID: "bo", Name: "Bo Customer", Address: "bo@example.test"},
	}}

	// The host's poller reads the three inbound mailboxes from the start,
	// so the replies arrive while it waits (IDLE on Dovecot).
	rec := newRecorder()
	po := fastPoller(s, sto.inbound, rec)
	po.Catalog, po.Sent = cat, sto.outbox
	in := []*mailbox.Mailbox{}
	for _, id := range []mailbox.ID{"acme-in", "acme-sales", "globex-in"} {
		m, _ := cat.Mailbox(id)
		in = append(in, m)
	}
	startPoller(t, po, in...)

	// One workflow step per mailbox choice.
	type step struct {
		name     string
		conn     workflow.EmailConnector
		flow     outbound.Flow
		wantBox  mailbox.ID
		wantRule routing.Rule
		to       string
	}
	steps := []step{
		{"system", workflow.EmailConnector{Mailbox: workflow.System}, outbound.Flow{Contract: "acme", Thread: "101"}, "sys-out", routing.RuleSystem, "ana"},
		{"contract acme", workflow.EmailConnector{Mailbox: workflow.Contract}, outbound.Flow{Contract: "acme", Thread: "102"}, "acme-out", routing.RuleContract, "ana"},
		{"contract globex", workflow.EmailConnector{Mailbox: workflow.Contract}, outbound.Flow{Contract: "globex", Thread: "201"}, "globex-out", routing.RuleContract, "bo"},
		{"specific", workflow.EmailConnector{Mailbox: workflow.Specific, MailboxID: "alerts-out"}, outbound.Flow{Contract: "globex", Thread: "202"}, "alerts-out", routing.RuleSpecific, "bo"},
	}
	sent := map[string]*store.OutboxRecord{} // thread -> record
	for _, st := range steps {
		c := st.conn
		c.Name = st.name
		c.Recipients = workflow.Recipients{Users: []workflow.UserID{workflow.UserID(st.to)}}
		c.Subject, c.Text = "{{.Title}} updated", "Hello, {{.Title}} was updated."
		st.flow.Vars = workflow.Vars{"Title": "Printer " + st.flow.Thread}
		res, err := runner.Run(ctx, &c, st.flow)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if res.Decision.Mailbox.ID != st.wantBox || res.Decision.Rule != st.wantRule || len(res.IDs) != 1 {
			t.Fatalf("%s: decision %v rule %v ids %v (%s)", st.name, res.Decision.Mailbox.ID, res.Decision.Rule, res.IDs, res.Decision.Reason())
		}
		r := snd.waitSent(t, res.IDs[0])[0]
		sent[st.flow.Thread] = r
	}

	// Every message arrived in Dovecot with its From, Message-ID, loop
	// marker, Auto-Submitted and thread token.
	for _, cust := range []string{"ana@example.test", "bo@example.test"} {
		msgs := waitFolder(t, s, cust, "INBOX", "2 messages", func(m []serverMsg) bool { return len(m) >= 2 })
		if len(msgs) != 2 {
			t.Fatalf("%s has %d messages, want 2", cust, len(msgs))
		}
	}
	for _, st := range steps {
		r := sent[st.flow.Thread]
		msgs := folder(t, s, st.to+"@example.test", "INBOX")
		m, ok := byMessageID(msgs, r.MessageID)
		if !ok {
			t.Fatalf("%s: Message-ID %s not in the customer's INBOX", st.name, r.MessageID)
		}
		mb, _ := cat.Mailbox(st.wantBox)
		from, err := m.Header.AddressList("From")
		if err != nil || len(from) != 1 || from[0].Address != mb.Outbound.From.Address {
			t.Errorf("%s: From %v (%v), want %s", st.name, from, err, mb.Outbound.From.Address)
		}
		if got := m.Header.Get(threading.LoopHeader); got != string(st.wantBox) {
			t.Errorf("%s: %s = %q, want %q", st.name, threading.LoopHeader, got, st.wantBox)
		}
		if got := m.Header.Get("Auto-Submitted"); got != "auto-generated" {
			t.Errorf("%s: Auto-Submitted %q", st.name, got)
		}
		if want := "Printer " + st.flow.Thread + " updated [#REQ-" + st.flow.Thread + "]"; m.Header.Get("Subject") != want {
			t.Errorf("%s: Subject %q, want %q", st.name, m.Header.Get("Subject"), want)
		}
		if !strings.HasSuffix(r.MessageID, "@"+strings.SplitN(mb.Outbound.From.Address, "@", 2)[1]) {
			t.Errorf("%s: Message-ID %s not on the mailbox's domain", st.name, r.MessageID)
		}
	}

	// The customers answer from their own mail client through Postfix.
	replies := []customerMail{
		// ana answers the contract mailbox's message, threaded by In-Reply-To.
		{From: "ana@example.test", To: "help@acme.test", Subject: "Re: Printer 102 updated [#REQ-102]", MessageID: "r1@example.test", InReplyTo: sent["102"].MessageID},
		// ana answers the system mailbox's message without In-Reply-To: the
		// subject token finds the request.
		{From: "ana@example.test", To: "sales@acme.test", Subject: "Re: Printer 101 updated [#REQ-101]", MessageID: "r2@example.test"},
		// bo answers globex's message.
		{From: "bo@example.test", To: "help@globex.test", Subject: "Re: Printer 201 updated [#REQ-201]", MessageID: "r3@example.test", InReplyTo: sent["201"].MessageID},
		// bo answers globex's request through ACME's address: the thread's
		// contract wins and the mismatch is flagged.
		{From: "bo@example.test", To: "help@acme.test", Subject: "Re: Printer 202 updated [#REQ-202]", MessageID: "r4@example.test", InReplyTo: sent["202"].MessageID},
		// A new request, no thread.
		{From: "ana@example.test", To: "help@globex.test", Subject: "New problem", MessageID: "r5@example.test"},
	}
	for _, r := range replies {
		sendAs(t, s, r)
	}
	eventually(t, "five hand-offs", func() bool {
		return rec.count("acme-in") == 2 && rec.count("acme-sales") == 1 && rec.count("globex-in") == 2
	})

	type want struct {
		box, contract, mailboxContract, thread, by string
		mismatch                                   bool
	}
	wants := map[string]want{
		"r1@example.test": {"acme-in", "acme", "acme", "102", "in-reply-to", false},
		"r2@example.test": {"acme-sales", "acme", "acme", "101", "token", false},
		"r3@example.test": {"globex-in", "globex", "globex", "201", "in-reply-to", false},
		"r4@example.test": {"acme-in", "globex", "acme", "202", "in-reply-to", true},
		"r5@example.test": {"globex-in", "globex", "globex", "", "", false},
	}
	for _, id := range []mailbox.ID{"acme-in", "acme-sales", "globex-in"} {
		for _, h := range rec.of(id) {
			w, ok := wants[h.MessageID]
			if !ok {
				t.Fatalf("unexpected hand-off %s in %s", h.MessageID, id)
			}
			delete(wants, h.MessageID)
			if string(h.Mailbox) != w.box || h.Contract != w.contract || h.MailboxContract != w.mailboxContract || h.ContractMismatch != w.mismatch {
				t.Errorf("%s: mailbox %s contract %s (mailbox's %s, mismatch %v), want %+v", h.MessageID, h.Mailbox, h.Contract, h.MailboxContract, h.ContractMismatch, w)
			}
			switch {
			case w.thread == "" && h.Thread != nil:
				t.Errorf("%s: matched to %+v, want a new thread", h.MessageID, h.Thread)
			case w.thread != "" && h.Thread == nil:
				t.Errorf("%s: not matched to request %s", h.MessageID, w.thread)
			case w.thread != "" && (h.Thread.Ref.Thread != w.thread || h.Thread.By != w.by || h.Thread.Ref.MessageID != sent[w.thread].MessageID):
				t.Errorf("%s: matched %+v by %s, want request %s by %s", h.MessageID, h.Thread.Ref, h.Thread.By, w.thread, w.by)
			}
			if !h.AutoAnswer {
				t.Errorf("%s: a customer's reply must allow an auto-answer", h.MessageID)
			}
		}
	}
	if d := rec.dupes(); len(d) > 0 {
		t.Fatalf("handed twice: %v", d)
	}

	// The post-actions on the server, seen by a raw IMAP client.
	waitFolder(t, s, "help@acme.test", "INBOX", "emptied by the move", func(m []serverMsg) bool { return len(m) == 0 })
	moved := folder(t, s, "help@acme.test", "Processed")
	for _, id := range []string{"r1@example.test", "r4@example.test"} {
		if _, ok := byMessageID(moved, id); !ok || len(moved) != 2 {
			t.Fatalf("Processed holds %d messages, %s missing", len(moved), id)
		}
	}
	waitFolder(t, s, "sales@acme.test", "INBOX", `\Seen set`, func(m []serverMsg) bool {
		return len(m) == 1 && m[0].has(imap.FlagSeen)
	})
	waitFolder(t, s, "help@globex.test", "INBOX", "deleted and expunged", func(m []serverMsg) bool { return len(m) == 0 })
}
