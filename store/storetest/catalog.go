package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/workflow"
)

// CatalogHarness describes a catalog store.
type CatalogHarness struct {
	// New returns an empty store; the harness closes it when t ends.
	New func(t *testing.T) store.Catalog
	// Raw, when set, returns the bytes the store persisted for c (database
	// files, table contents), so the suite can check that no secret is
	// stored in clear. Nil for stores that persist nothing.
	Raw func(t *testing.T, c store.Catalog) []byte
	// Reopen, when set, closes c and opens the same data again, so the
	// round trip covers what was persisted rather than a cache.
	Reopen func(t *testing.T, c store.Catalog) store.Catalog
	// OAuth2 is true when the store rebuilds OAuth2 token sources on load
	// (the test store was opened with a TokenSources hook) or keeps them.
	OAuth2 bool
}

// Secrets the suite stores and then looks for in the raw bytes.
const (
	InboundPassword  = "in-pa55word-7f3a"
	OutboundPassword = "out-pa55word-91cc"
)

// FullInbound returns an inbound mailbox with every setting set.
func FullInbound(id mailbox.ID) *mailbox.Mailbox {
	return &mailbox.Mailbox{
		ID: id, Kind: mailbox.Inbound, Description: "Support " + string(id), Address: string(id) + "@example.com", Enabled: true,
		Inbound: &mailbox.InboundSettings{
			Transport:        mailbox.TransportIMAP,
			Server:           mailbox.Server{Host: "imap.example.com", Port: 1993, Security: mailbox.SecurityTLS, TLSServerName: "mail.example.com"},
			Credentials:      mailbox.Credentials{Username: "support", Password: mailbox.NewSecret(InboundPassword), Mechanism: mailbox.AuthPlain},
			Folder:           "Support/Incoming",
			PostAction:       mailbox.PostMove,
			MoveTo:           "Support/Done",
			QuarantineFolder: "Support/Bad",
			StartFrom:        mailbox.StartUnseen,
			PollInterval:     90 * time.Second,
			Idle:             mailbox.IdleOff,
			MaxMessageSize:   10 << 20,
		},
	}
}

// FullOutbound returns an outbound mailbox with every setting set.
func FullOutbound(id mailbox.ID) *mailbox.Mailbox {
	return &mailbox.Mailbox{
		ID: id, Kind: mailbox.Outbound, Description: "Notifications " + string(id), Address: string(id) + "@example.com", Enabled: true,
		Outbound: &mailbox.OutboundSettings{
			Transport:      mailbox.TransportSMTP,
			Server:         mailbox.Server{Host: "smtp.example.com", Port: 2525, Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			Credentials:    mailbox.Credentials{Username: "notify", Password: mailbox.NewSecret(OutboundPassword), Mechanism: mailbox.AuthLogin},
			From:           mailbox.Identity{Name: "Service Desk", Address: "desk@example.com"},
			ReplyTo:        "replies@example.com",
			MaxConnections: 5,
			RateLimit:      mailbox.Rate{N: 100, Per: time.Minute},
			HELOName:       "relay.example.com",
		},
	}
}

// Inbound returns a minimal inbound mailbox.
func Inbound(id mailbox.ID) *mailbox.Mailbox {
	return &mailbox.Mailbox{ID: id, Kind: mailbox.Inbound, Description: string(id), Enabled: true,
		Inbound: &mailbox.InboundSettings{Server: mailbox.Server{Host: "imap.example.com"},
			Credentials: mailbox.Credentials{Username: "u", Password: mailbox.NewSecret(InboundPassword)}}}
}

// Outbound returns a minimal outbound mailbox.
func Outbound(id mailbox.ID) *mailbox.Mailbox {
	return &mailbox.Mailbox{ID: id, Kind: mailbox.Outbound, Description: string(id), Enabled: true,
		Outbound: &mailbox.OutboundSettings{Server: mailbox.Server{Host: "smtp.example.com"},
			Credentials: mailbox.Credentials{Username: "u", Password: mailbox.NewSecret(OutboundPassword)},
			From:        mailbox.Identity{Address: "desk@example.com"}}}
}

type staticTokens struct{}

func (staticTokens) Token(context.Context) (mailbox.Secret, error) {
	return mailbox.NewSecret("t"), nil
}

// RunCatalog runs the catalog conformance suite.
func RunCatalog(t *testing.T, h CatalogHarness) {
	ctx := context.Background()
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ruleErr := func(t *testing.T, err error, want error, contractID contract.ID, mb mailbox.ID) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Fatalf("err = %v, want %v", err, want)
		}
		var re *contract.RuleError
		if !errors.As(err, &re) {
			t.Fatalf("err = %T %v, want a *contract.RuleError", err, err)
		}
		if re.Mailbox != mb || re.Contract != contractID {
			t.Fatalf("RuleError names contract %q mailbox %q, want %q %q", re.Contract, re.Mailbox, contractID, mb)
		}
	}

	t.Run("RoundTrip", func(t *testing.T) {
		c := h.New(t)
		in, out := FullInbound("in-full"), FullOutbound("out-full")
		must(t, c.PutMailbox(ctx, in))
		must(t, c.PutMailbox(ctx, out))
		disabled := Outbound("out-off")
		disabled.Enabled = false
		must(t, c.PutMailbox(ctx, disabled))
		// A transport kind the host registers (not IMAP) is kept.
		api := Inbound("in-zapi")
		api.Inbound.Transport = "myapi"
		// Leave-on-server with a retention (the keep post-action).
		api.Inbound.PostAction, api.Inbound.KeepFor = mailbox.PostKeep, 14*24*time.Hour
		must(t, c.PutMailbox(ctx, api))
		var oauth *mailbox.Mailbox
		if h.OAuth2 {
			oauth = Outbound("out-oauth")
			oauth.Outbound.Credentials = mailbox.Credentials{Username: "me@example.com", Mechanism: mailbox.AuthXOAUTH2, OAuth2: staticTokens{}}
			must(t, c.PutMailbox(ctx, oauth))
		}
		must(t, c.PutContract(ctx, &contract.Contract{ID: "acme", Name: "ACME", OutboundMailbox: "out-full", InboundMailboxes: []mailbox.ID{"in-full"}}))
		must(t, c.SetSystemMailbox(ctx, "out-off"))
		check := func(t *testing.T, c store.Catalog) {
			t.Helper()
			for _, want := range []*mailbox.Mailbox{in, out, disabled, api} {
				got, ok := c.Mailbox(want.ID)
				if !ok {
					t.Fatalf("mailbox %s missing", want.ID)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("mailbox %s round trip:\n got %#v\nwant %#v", want.ID, dump(got), dump(want))
				}
			}
			if oauth != nil {
				got, ok := c.Mailbox("out-oauth")
				if !ok || got.Outbound == nil || got.Outbound.Credentials.OAuth2 == nil {
					t.Fatalf("OAuth2 mailbox lost its token source: %v", got)
				}
				if got.Outbound.Credentials.Mechanism != mailbox.AuthXOAUTH2 || got.Outbound.Credentials.Username != "me@example.com" {
					t.Fatalf("OAuth2 credentials = %+v", got.Outbound.Credentials)
				}
			}
			ct, ok := c.Contract("acme")
			if !ok || ct.Name != "ACME" || ct.OutboundMailbox != "out-full" || !reflect.DeepEqual(ct.InboundMailboxes, []mailbox.ID{"in-full"}) {
				t.Fatalf("contract = %+v, %v", ct, ok)
			}
			if sys, ok := c.SystemMailbox(); !ok || sys != "out-off" {
				t.Fatalf("system = %q %v", sys, ok)
			}
			if o, ok := c.InboundOwner("in-full"); !ok || o != "acme" {
				t.Fatalf("owner = %q %v", o, ok)
			}
			n := 4
			if oauth != nil {
				n = 5
			}
			if got := c.Mailboxes(); len(got) != n || got[0].ID != "in-full" {
				t.Fatalf("Mailboxes = %v", got)
			}
		}
		check(t, c)
		if h.Reopen != nil {
			check(t, h.Reopen(t, c))
		}
	})

	t.Run("ContractOrder", func(t *testing.T) {
		c := h.New(t)
		ids := []mailbox.ID{"in-c", "in-a", "in-b"}
		for _, id := range ids {
			must(t, c.PutMailbox(ctx, Inbound(id)))
		}
		must(t, c.PutContract(ctx, &contract.Contract{ID: "k", Name: "K", InboundMailboxes: ids}))
		ct, _ := c.Contract("k")
		if !reflect.DeepEqual(ct.InboundMailboxes, ids) {
			t.Fatalf("inbound mailboxes reordered: %v", ct.InboundMailboxes)
		}
		// Replacing drops mailboxes no longer listed.
		must(t, c.PutContract(ctx, &contract.Contract{ID: "k", Name: "K2", InboundMailboxes: ids[1:]}))
		if _, ok := c.InboundOwner("in-c"); ok {
			t.Fatal("mailbox dropped from the contract still owned")
		}
		if got := c.Contracts(); len(got) != 1 || got[0].Name != "K2" {
			t.Fatalf("Contracts = %v", got)
		}
	})

	t.Run("OutboundMustBeRegisteredAndOutbound", func(t *testing.T) {
		c := h.New(t)
		must(t, c.PutMailbox(ctx, Inbound("in")))
		must(t, c.PutMailbox(ctx, Outbound("out")))
		ruleErr(t, c.PutContract(ctx, &contract.Contract{ID: "a", Name: "A", OutboundMailbox: "nope"}), contract.ErrMailboxNotFound, "a", "nope")
		ruleErr(t, c.PutContract(ctx, &contract.Contract{ID: "a", Name: "A", OutboundMailbox: "in"}), contract.ErrWrongKind, "a", "in")
		ruleErr(t, c.PutContract(ctx, &contract.Contract{ID: "a", Name: "A", InboundMailboxes: []mailbox.ID{"out"}}), contract.ErrWrongKind, "a", "out")
		ruleErr(t, c.PutContract(ctx, &contract.Contract{ID: "a", Name: "A", InboundMailboxes: []mailbox.ID{"ghost"}}), contract.ErrMailboxNotFound, "a", "ghost")
		if err := c.PutContract(ctx, &contract.Contract{ID: "", Name: ""}); !errors.Is(err, contract.ErrInvalid) {
			t.Fatalf("empty contract: err = %v, want ErrInvalid", err)
		}
		if len(c.Contracts()) != 0 {
			t.Fatalf("refused contracts were saved: %v", c.Contracts())
		}
		must(t, c.PutContract(ctx, &contract.Contract{ID: "a", Name: "A", OutboundMailbox: "out", InboundMailboxes: []mailbox.ID{"in"}}))
	})

	t.Run("InboundOwnedOnce", func(t *testing.T) {
		c := h.New(t)
		must(t, c.PutMailbox(ctx, Inbound("in")))
		must(t, c.PutContract(ctx, &contract.Contract{ID: "a", Name: "A", InboundMailboxes: []mailbox.ID{"in"}}))
		ruleErr(t, c.PutContract(ctx, &contract.Contract{ID: "b", Name: "B", InboundMailboxes: []mailbox.ID{"in"}}), contract.ErrInboundTaken, "a", "in")
		if _, ok := c.Contract("b"); ok {
			t.Fatal("refused contract b was saved")
		}
		// Saving the owner again is fine; after it lets go, another may take it.
		must(t, c.PutContract(ctx, &contract.Contract{ID: "a", Name: "A again", InboundMailboxes: []mailbox.ID{"in"}}))
		must(t, c.DeleteContract(ctx, "a"))
		if _, ok := c.InboundOwner("in"); ok {
			t.Fatal("inbound mailbox still owned after its contract was deleted")
		}
		must(t, c.PutContract(ctx, &contract.Contract{ID: "b", Name: "B", InboundMailboxes: []mailbox.ID{"in"}}))
		if o, _ := c.InboundOwner("in"); o != "b" {
			t.Fatalf("owner = %q, want b", o)
		}
	})

	t.Run("RemovalOfUsedMailboxRefused", func(t *testing.T) {
		c := h.New(t)
		must(t, c.PutMailbox(ctx, Inbound("in")))
		must(t, c.PutMailbox(ctx, Outbound("out")))
		must(t, c.PutMailbox(ctx, Outbound("sys")))
		must(t, c.PutContract(ctx, &contract.Contract{ID: "a", Name: "A", OutboundMailbox: "out", InboundMailboxes: []mailbox.ID{"in"}}))
		must(t, c.SetSystemMailbox(ctx, "sys"))
		ruleErr(t, c.DeleteMailbox(ctx, "out"), contract.ErrMailboxInUse, "a", "out")
		ruleErr(t, c.DeleteMailbox(ctx, "in"), contract.ErrMailboxInUse, "a", "in")
		ruleErr(t, c.DeleteMailbox(ctx, "sys"), contract.ErrMailboxInUse, "", "sys")
		if len(c.Mailboxes()) != 3 {
			t.Fatalf("a refused removal removed something: %v", c.Mailboxes())
		}
		if got := c.ContractsUsing("out"); !reflect.DeepEqual(got, []contract.ID{"a"}) {
			t.Fatalf("ContractsUsing = %v", got)
		}
		if err := c.DeleteMailbox(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown mailbox: err = %v, want %v", err, store.ErrNotFound)
		}
		if err := c.DeleteContract(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown contract: err = %v, want %v", err, store.ErrNotFound)
		}
		must(t, c.DeleteContract(ctx, "a"))
		must(t, c.SetSystemMailbox(ctx, ""))
		for _, id := range []mailbox.ID{"in", "out", "sys"} {
			must(t, c.DeleteMailbox(ctx, id))
		}
		if len(c.Mailboxes()) != 0 {
			t.Fatalf("mailboxes left: %v", c.Mailboxes())
		}
	})

	t.Run("KindChangeWhileUsedRefused", func(t *testing.T) {
		c := h.New(t)
		must(t, c.PutMailbox(ctx, Outbound("out")))
		must(t, c.PutContract(ctx, &contract.Contract{ID: "a", Name: "A", OutboundMailbox: "out"}))
		ruleErr(t, c.PutMailbox(ctx, Inbound("out")), contract.ErrKindChangeInUse, "a", "out")
		if m, _ := c.Mailbox("out"); m.Kind != mailbox.Outbound {
			t.Fatalf("kind changed to %s despite the refusal", m.Kind)
		}
		// Other changes are allowed, disabling included.
		off := Outbound("out")
		off.Enabled = false
		must(t, c.PutMailbox(ctx, off))
		must(t, c.DeleteContract(ctx, "a"))
		must(t, c.PutMailbox(ctx, Inbound("out")))
		if m, _ := c.Mailbox("out"); m.Kind != mailbox.Inbound {
			t.Fatalf("kind = %s after an allowed change", m.Kind)
		}
	})

	t.Run("SystemMailboxOutbound", func(t *testing.T) {
		c := h.New(t)
		must(t, c.PutMailbox(ctx, Inbound("in")))
		must(t, c.PutMailbox(ctx, Outbound("out")))
		ruleErr(t, c.SetSystemMailbox(ctx, "in"), contract.ErrWrongKind, "", "in")
		ruleErr(t, c.SetSystemMailbox(ctx, "ghost"), contract.ErrMailboxNotFound, "", "ghost")
		if _, ok := c.SystemMailbox(); ok {
			t.Fatal("refused system mailbox was set")
		}
		must(t, c.SetSystemMailbox(ctx, "out"))
		ruleErr(t, c.PutMailbox(ctx, Inbound("out")), contract.ErrKindChangeInUse, "", "out")
		must(t, c.SetSystemMailbox(ctx, ""))
		if _, ok := c.SystemMailbox(); ok {
			t.Fatal("system mailbox not cleared")
		}
	})

	t.Run("InvalidMailboxRefused", func(t *testing.T) {
		c := h.New(t)
		bad := Outbound("bad")
		bad.Outbound.Server.Port = 70000
		err := c.PutMailbox(ctx, bad)
		var ve *mailbox.ValidationError
		if !errors.As(err, &ve) || ve.Field("outbound.server.port") == nil {
			t.Fatalf("err = %v, want a ValidationError on outbound.server.port", err)
		}
		noID := Outbound("")
		if err := c.PutMailbox(ctx, noID); !errors.As(err, &ve) || ve.Field("id") == nil {
			t.Fatalf("err = %v, want a ValidationError on id", err)
		}
		if len(c.Mailboxes()) != 0 {
			t.Fatal("an invalid mailbox was saved")
		}
	})

	t.Run("VersionAndResolver", func(t *testing.T) {
		c := h.New(t)
		v0 := c.Version()
		must(t, c.PutMailbox(ctx, Outbound("out")))
		must(t, c.PutMailbox(ctx, Outbound("sys")))
		must(t, c.SetSystemMailbox(ctx, "sys"))
		must(t, c.PutContract(ctx, &contract.Contract{ID: "a", Name: "A", OutboundMailbox: "out"}))
		v1 := c.Version()
		if v1 <= v0 {
			t.Fatalf("version %d -> %d after writes", v0, v1)
		}
		if err := c.SetSystemMailbox(ctx, "ghost"); err == nil {
			t.Fatal("ghost system mailbox accepted")
		}
		if c.Version() != v1 {
			t.Fatalf("a refused write moved the version %d -> %d", v1, c.Version())
		}
		r := routing.NewResolver(c)
		d, err := r.Resolve(ctx, routing.Request{Choice: workflow.Contract, Contract: "a"})
		if err != nil || d.Mailbox.ID != "out" || d.Rule != routing.RuleContract {
			t.Fatalf("resolve = %+v, %v", d, err)
		}
		d, err = r.Resolve(ctx, routing.Request{Choice: workflow.Contract})
		if err != nil || d.Mailbox.ID != "sys" || d.Rule != routing.RuleSystemNoContract {
			t.Fatalf("resolve = %+v, %v", d, err)
		}
		// A change is visible to the next decision.
		off := Outbound("out")
		off.Enabled = false
		must(t, c.PutMailbox(ctx, off))
		if _, err := r.Resolve(ctx, routing.Request{Choice: workflow.Contract, Contract: "a"}); !errors.Is(err, routing.ErrMailboxDisabled) {
			t.Fatalf("after disabling: err = %v, want ErrMailboxDisabled", err)
		}
	})

	t.Run("ConcurrentBindSameInbound", func(t *testing.T) {
		c := h.New(t)
		must(t, c.PutMailbox(ctx, Inbound("shared")))
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = c.PutContract(ctx, &contract.Contract{ID: contract.ID(fmt.Sprintf("c%d", i)), Name: "C", InboundMailboxes: []mailbox.ID{"shared"}})
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("contracts c%d and c%d both own the mailbox", winner, i)
				}
				winner = i
			case !errors.Is(err, contract.ErrInboundTaken):
				t.Fatalf("c%d: err = %v, want ErrInboundTaken", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no contract won the mailbox")
		}
		if o, _ := c.InboundOwner("shared"); o != contract.ID(fmt.Sprintf("c%d", winner)) {
			t.Fatalf("owner = %q, winner c%d", o, winner)
		}
		if got := len(c.Contracts()); got != 1 {
			t.Fatalf("%d contracts saved, want 1", got)
		}
	})

	t.Run("ConcurrentWriters", func(t *testing.T) {
		c := h.New(t)
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n*3)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				in, out := mailbox.ID(fmt.Sprintf("in%d", i)), mailbox.ID(fmt.Sprintf("out%d", i))
				errs <- c.PutMailbox(ctx, Inbound(in))
				errs <- c.PutMailbox(ctx, Outbound(out))
				errs <- c.PutContract(ctx, &contract.Contract{ID: contract.ID(fmt.Sprintf("c%d", i)), Name: "C", OutboundMailbox: out, InboundMailboxes: []mailbox.ID{in}})
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			must(t, err)
		}
		if len(c.Mailboxes()) != 2*n || len(c.Contracts()) != n {
			t.Fatalf("%d mailboxes, %d contracts after concurrent writes", len(c.Mailboxes()), len(c.Contracts()))
		}
	})

	t.Run("SecretsNotStoredInClear", func(t *testing.T) {
		if h.Raw == nil {
			t.Skip("the store persists nothing")
		}
		c := h.New(t)
		must(t, c.PutMailbox(ctx, FullInbound("in")))
		must(t, c.PutMailbox(ctx, FullOutbound("out")))
		raw := h.Raw(t, c)
		if len(raw) == 0 {
			t.Fatal("Raw returned nothing")
		}
		if !bytes.Contains(raw, []byte("imap.example.com")) {
			t.Fatal("Raw does not hold the stored settings; the check would prove nothing")
		}
		for _, s := range []string{InboundPassword, OutboundPassword} {
			if bytes.Contains(raw, []byte(s)) {
				t.Fatalf("password %q found in clear in the stored bytes", s)
			}
		}
	})
}

// dump prints a mailbox with its secrets compared by value, for failures.
func dump(m *mailbox.Mailbox) string {
	s := fmt.Sprintf("%+v", *m)
	if m.Inbound != nil {
		s += fmt.Sprintf(" in=%+v pwOK=%v", *m.Inbound, m.Inbound.Credentials.Password.Equal(mailbox.NewSecret(InboundPassword)))
	}
	if m.Outbound != nil {
		s += fmt.Sprintf(" out=%+v pwOK=%v", *m.Outbound, m.Outbound.Credentials.Password.Equal(mailbox.NewSecret(OutboundPassword)))
	}
	return s
}
