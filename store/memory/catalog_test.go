package memory_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
)

func in(id string) *mailbox.Mailbox {
	return &mailbox.Mailbox{ID: mailbox.ID(id), Description: id, Kind: mailbox.Inbound, Enabled: true,
		Inbound: &mailbox.InboundSettings{Server: mailbox.Server{Host: "imap.example.com"},
			Credentials: mailbox.Credentials{Username: "u", Password: mailbox.NewSecret("p")}}}
}

func out(id string) *mailbox.Mailbox {
	return &mailbox.Mailbox{ID: mailbox.ID(id), Description: id, Kind: mailbox.Outbound, Enabled: true,
		Outbound: &mailbox.OutboundSettings{Server: mailbox.Server{Host: "smtp.example.com"},
			Credentials: mailbox.Credentials{Username: "u", Password: mailbox.NewSecret("p")},
			From:        mailbox.Identity{Address: id + "@example.com"}}}
}

func seeded(t *testing.T) *memory.Catalog {
	t.Helper()
	ctx := context.Background()
	c := memory.NewCatalog()
	for _, m := range []*mailbox.Mailbox{in("in-a"), in("in-b"), in("in-c"), out("out-a"), out("out-sys")} {
		if err := c.PutMailbox(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.SetSystemMailbox(ctx, "out-sys"); err != nil {
		t.Fatal(err)
	}
	if err := c.PutContract(ctx, &contract.Contract{ID: "acme", Name: "ACME", OutboundMailbox: "out-a", InboundMailboxes: []mailbox.ID{"in-a"}}); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestContractRules(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		contract contract.Contract
		wantErr  error
		wantPath string
	}{
		{"valid", contract.Contract{ID: "globex", Name: "Globex", OutboundMailbox: "out-a", InboundMailboxes: []mailbox.ID{"in-b"}}, nil, ""},
		{"no outbound is fine", contract.Contract{ID: "globex", Name: "Globex"}, nil, ""},
		{"outbound not registered", contract.Contract{ID: "globex", Name: "Globex", OutboundMailbox: "nope"}, contract.ErrMailboxNotFound, "outbound_mailbox"},
		{"outbound is inbound", contract.Contract{ID: "globex", Name: "Globex", OutboundMailbox: "in-b"}, contract.ErrWrongKind, "outbound_mailbox"},
		{"inbound is outbound", contract.Contract{ID: "globex", Name: "Globex", InboundMailboxes: []mailbox.ID{"out-a"}}, contract.ErrWrongKind, "inbound_mailboxes"},
		{"inbound not registered", contract.Contract{ID: "globex", Name: "Globex", InboundMailboxes: []mailbox.ID{"ghost"}}, contract.ErrMailboxNotFound, "inbound_mailboxes"},
		{"inbound owned by another", contract.Contract{ID: "globex", Name: "Globex", InboundMailboxes: []mailbox.ID{"in-a"}}, contract.ErrInboundTaken, "inbound_mailboxes"},
		{"inbound listed twice", contract.Contract{ID: "globex", Name: "Globex", InboundMailboxes: []mailbox.ID{"in-b", "in-b"}}, contract.ErrInvalid, "inbound_mailboxes"},
		{"name required", contract.Contract{ID: "globex"}, contract.ErrInvalid, "name"},
		{"re-saving the owner keeps its inbound", contract.Contract{ID: "acme", Name: "ACME Corp", InboundMailboxes: []mailbox.ID{"in-a", "in-c"}}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := seeded(t)
			err := c.PutContract(ctx, &tt.contract)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("PutContract = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				var re *contract.RuleError
				if !errors.As(err, &re) || re.Path != tt.wantPath {
					t.Fatalf("want RuleError at %q, got %#v", tt.wantPath, re)
				}
				if _, ok := c.Contract(tt.contract.ID); ok && tt.contract.ID != "acme" {
					t.Fatal("refused contract was stored")
				}
				return
			}
			got, ok := c.Contract(tt.contract.ID)
			if !ok || got.Name != tt.contract.Name {
				t.Fatalf("contract not stored: %+v", got)
			}
			for _, id := range tt.contract.InboundMailboxes {
				if o, _ := c.InboundOwner(id); o != tt.contract.ID {
					t.Fatalf("owner of %s = %q", id, o)
				}
			}
		})
	}
}

func TestMailboxRemovalAndKindChange(t *testing.T) {
	ctx := context.Background()
	c := seeded(t)
	for _, id := range []mailbox.ID{"out-a", "in-a"} {
		err := c.DeleteMailbox(ctx, id)
		var re *contract.RuleError
		if !errors.Is(err, contract.ErrMailboxInUse) || !errors.As(err, &re) || re.Contract != "acme" {
			t.Fatalf("delete %s: %v, want in use by acme", id, err)
		}
	}
	if err := c.DeleteMailbox(ctx, "out-sys"); !errors.Is(err, contract.ErrMailboxInUse) {
		t.Fatalf("delete system mailbox: %v", err)
	}
	if err := c.DeleteMailbox(ctx, "in-b"); err != nil {
		t.Fatalf("delete unused: %v", err)
	}
	if err := c.DeleteMailbox(ctx, "in-b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	// Changing the kind of a used mailbox is refused.
	changed := in("out-a")
	if err := c.PutMailbox(ctx, changed); !errors.Is(err, contract.ErrKindChangeInUse) {
		t.Fatalf("kind change: %v", err)
	}
	// Disabling it is allowed; the resolver reports it.
	dis := out("out-a")
	dis.Enabled = false
	if err := c.PutMailbox(ctx, dis); err != nil {
		t.Fatalf("disable: %v", err)
	}
	// After the contract goes, the mailboxes can be removed.
	if err := c.DeleteContract(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.InboundOwner("in-a"); ok {
		t.Fatal("inbound still owned after contract removal")
	}
	if err := c.DeleteMailbox(ctx, "out-a"); err != nil {
		t.Fatalf("delete after contract removal: %v", err)
	}
}

func TestSystemMailboxRules(t *testing.T) {
	ctx := context.Background()
	c := seeded(t)
	if err := c.SetSystemMailbox(ctx, "in-b"); !errors.Is(err, contract.ErrWrongKind) {
		t.Fatalf("inbound as system: %v", err)
	}
	if err := c.SetSystemMailbox(ctx, "ghost"); !errors.Is(err, contract.ErrMailboxNotFound) {
		t.Fatalf("ghost as system: %v", err)
	}
	if err := c.PutMailbox(ctx, in("out-sys")); !errors.Is(err, contract.ErrKindChangeInUse) {
		t.Fatalf("system mailbox kind change: %v", err)
	}
	if err := c.SetSystemMailbox(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.SystemMailbox(); ok {
		t.Fatal("system mailbox not cleared")
	}
}

func TestInvalidMailboxRefused(t *testing.T) {
	c := memory.NewCatalog()
	m := out("x")
	m.Description = ""
	if err := c.PutMailbox(context.Background(), m); len(mailbox.FieldErrors(err)) == 0 {
		t.Fatalf("invalid mailbox accepted: %v", err)
	}
	m.ID = ""
	m.Description = "x"
	if err := c.PutMailbox(context.Background(), m); len(mailbox.FieldErrors(err)) == 0 {
		t.Fatalf("mailbox without id accepted: %v", err)
	}
}

func TestSnapshotsAreCopies(t *testing.T) {
	ctx := context.Background()
	c := seeded(t)
	m := out("out-b")
	if err := c.PutMailbox(ctx, m); err != nil {
		t.Fatal(err)
	}
	m.Outbound.From.Address = "mutated@example.com"
	got, _ := c.Mailbox("out-b")
	if got.Outbound.From.Address != "out-b@example.com" {
		t.Fatal("catalog shares the caller's mailbox")
	}
}

// Eight writers race to bind the same inbound mailbox: exactly one wins.
func TestConcurrentInboundBinding(t *testing.T) {
	ctx := context.Background()
	c := seeded(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.PutContract(ctx, &contract.Contract{ID: contract.ID(fmt.Sprint("c", i)), Name: "C", InboundMailboxes: []mailbox.ID{"in-c"}})
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, contract.ErrInboundTaken):
			t.Fatalf("unexpected error %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d writers bound the same inbound mailbox", wins)
	}
	if len(c.Contracts()) != 2 || len(c.Mailboxes()) != 5 || c.Version() == 0 {
		t.Fatalf("catalog state: %d contracts %d mailboxes", len(c.Contracts()), len(c.Mailboxes()))
	}
}
