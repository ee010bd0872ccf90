package routing_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/workflow"
)

func outbound(id string, enabled bool) *mailbox.Mailbox {
	return &mailbox.Mailbox{ID: mailbox.ID(id), Description: id, Kind: mailbox.Outbound, Enabled: enabled,
		Outbound: &mailbox.OutboundSettings{Server: mailbox.Server{Host: "smtp.example.com"},
			Credentials: mailbox.Credentials{Username: "u", Password: mailbox.NewSecret("p")},
			From:        mailbox.Identity{Address: id + "@example.com"}}}
}

func inbound(id string) *mailbox.Mailbox {
	return &mailbox.Mailbox{ID: mailbox.ID(id), Description: id, Kind: mailbox.Inbound, Enabled: true,
		Inbound: &mailbox.InboundSettings{Server: mailbox.Server{Host: "imap.example.com"},
			Credentials: mailbox.Credentials{Username: "u", Password: mailbox.NewSecret("p")}}}
}

func catalog(t testing.TB, withSystem bool) *memory.Catalog {
	t.Helper()
	ctx := context.Background()
	c := memory.NewCatalog()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.PutMailbox(ctx, outbound("sys", true)))
	must(c.PutMailbox(ctx, outbound("acme-out", true)))
	must(c.PutMailbox(ctx, outbound("off", false)))
	must(c.PutMailbox(ctx, outbound("special", true)))
	must(c.PutMailbox(ctx, inbound("acme-in")))
	must(c.PutContract(ctx, &contract.Contract{ID: "acme", Name: "ACME", OutboundMailbox: "acme-out", InboundMailboxes: []mailbox.ID{"acme-in"}}))
	must(c.PutContract(ctx, &contract.Contract{ID: "plain", Name: "No mailbox"}))
	must(c.PutContract(ctx, &contract.Contract{ID: "dormant", Name: "Disabled mailbox", OutboundMailbox: "off"}))
	if withSystem {
		must(c.SetSystemMailbox(ctx, "sys"))
	}
	return c
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name      string
		noSystem  bool
		req       routing.Request
		wantBox   mailbox.ID
		wantRule  routing.Rule
		wantErr   error
		reasonHas string
	}{
		{"system is the default", false, routing.Request{}, "sys", routing.RuleSystem, nil, "system mailbox"},
		{"system ignores the contract", false, routing.Request{Contract: "acme"}, "sys", routing.RuleSystem, nil, "system"},
		{"contract mailbox", false, routing.Request{Choice: workflow.Contract, Contract: "acme"}, "acme-out", routing.RuleContract, nil, `contract "acme" uses mailbox "acme-out"`},
		{"contract without mailbox falls back to system", false, routing.Request{Choice: workflow.Contract, Contract: "plain"}, "sys", routing.RuleSystemContractHasNone, nil, "names no outbound mailbox"},
		{"flow without contract falls back to system", false, routing.Request{Choice: workflow.Contract}, "sys", routing.RuleSystemNoContract, nil, "runs for no contract"},
		{"contract's disabled mailbox is an error, not a fallback", false, routing.Request{Choice: workflow.Contract, Contract: "dormant"}, "", routing.RuleContract, routing.ErrMailboxDisabled, ""},
		{"unknown contract", false, routing.Request{Choice: workflow.Contract, Contract: "ghost"}, "", routing.RuleContract, routing.ErrContractNotFound, ""},
		{"specific", false, routing.Request{Choice: workflow.Specific, MailboxID: "special", Contract: "acme"}, "special", routing.RuleSpecific, nil, `names mailbox "special"`},
		{"specific missing", false, routing.Request{Choice: workflow.Specific, MailboxID: "ghost"}, "", routing.RuleSpecific, routing.ErrMailboxNotFound, ""},
		{"specific empty", false, routing.Request{Choice: workflow.Specific}, "", routing.RuleSpecific, routing.ErrMailboxNotFound, ""},
		{"specific inbound", false, routing.Request{Choice: workflow.Specific, MailboxID: "acme-in"}, "", routing.RuleSpecific, routing.ErrNotOutbound, ""},
		{"specific disabled", false, routing.Request{Choice: workflow.Specific, MailboxID: "off"}, "", routing.RuleSpecific, routing.ErrMailboxDisabled, ""},
		{"no system mailbox", true, routing.Request{}, "", routing.RuleSystem, routing.ErrNoSystemMailbox, ""},
		{"no system mailbox for a fallback", true, routing.Request{Choice: workflow.Contract, Contract: "plain"}, "", routing.RuleSystemContractHasNone, routing.ErrNoSystemMailbox, ""},
		{"contract still works without system", true, routing.Request{Choice: workflow.Contract, Contract: "acme"}, "acme-out", routing.RuleContract, nil, "acme-out"},
		{"unknown choice", false, routing.Request{Choice: 9}, "", 0, routing.ErrBadChoice, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := routing.NewResolver(catalog(t, !tt.noSystem))
			d, err := r.Resolve(context.Background(), tt.req)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				var re *routing.ResolveError
				if !errors.As(err, &re) || re.Rule != tt.wantRule {
					t.Fatalf("ResolveError rule = %+v, want %v", re, tt.wantRule)
				}
				return
			}
			if d.Mailbox.ID != tt.wantBox || d.Rule != tt.wantRule {
				t.Fatalf("decision = %s/%v, want %s/%v", d.Mailbox.ID, d.Rule, tt.wantBox, tt.wantRule)
			}
			if !strings.Contains(d.Reason(), tt.reasonHas) {
				t.Fatalf("reason %q lacks %q", d.Reason(), tt.reasonHas)
			}
		})
	}
}

func TestRuleNames(t *testing.T) {
	for r := routing.RuleSpecific; r <= routing.RuleFailover; r++ {
		got, err := routing.ParseRule(r.String())
		if err != nil || got != r {
			t.Fatalf("rule %d round trip: %v %v", r, got, err)
		}
	}
	if _, err := routing.ParseRule("nope"); err == nil {
		t.Fatal("unknown rule parsed")
	}
}

func TestInboundContract(t *testing.T) {
	c := catalog(t, true)
	if id, ok := routing.InboundContract(c, "acme-in"); !ok || id != "acme" {
		t.Fatalf("InboundContract = %q %v", id, ok)
	}
	if _, ok := routing.InboundContract(c, "sys"); ok {
		t.Fatal("outbound mailbox has an inbound contract")
	}
}

func TestRequestFor(t *testing.T) {
	conn := &workflow.EmailConnector{Mailbox: workflow.Specific, MailboxID: "special"}
	req := routing.RequestFor(conn, "acme")
	if req.Choice != workflow.Specific || req.MailboxID != "special" || req.Contract != "acme" {
		t.Fatalf("RequestFor = %+v", req)
	}
}

func TestResolveAllocatesNothing(t *testing.T) {
	r := routing.NewResolver(catalog(t, true))
	ctx := context.Background()
	for _, req := range []routing.Request{
		{Choice: workflow.Contract, Contract: "acme"},
		{Choice: workflow.Contract, Contract: "plain"},
		{},
		{Choice: workflow.Specific, MailboxID: "special"},
	} {
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := r.Resolve(ctx, req); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Resolve(%+v) allocates %.1f per run", req, allocs)
		}
	}
}

// BenchmarkResolve decides over a catalog of 100,000 contracts, each with its
// own outbound mailbox; a third of the lookups fall back to the system
// mailbox.
func BenchmarkResolve(b *testing.B) {
	ctx := context.Background()
	c := memory.NewCatalog()
	if err := c.PutMailbox(ctx, outbound("sys", true)); err != nil {
		b.Fatal(err)
	}
	if err := c.SetSystemMailbox(ctx, "sys"); err != nil {
		b.Fatal(err)
	}
	const n = 100_000
	ids := make([]contract.ID, n)
	for i := range n {
		ct := &contract.Contract{ID: contract.ID(fmt.Sprintf("c%06d", i)), Name: "C"}
		if i%3 != 0 {
			mid := fmt.Sprintf("m%06d", i)
			if err := c.PutMailbox(ctx, outbound(mid, true)); err != nil {
				b.Fatal(err)
			}
			ct.OutboundMailbox = mailbox.ID(mid)
		}
		if err := c.PutContract(ctx, ct); err != nil {
			b.Fatal(err)
		}
		ids[i] = ct.ID
	}
	r := routing.NewResolver(c)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		d, err := r.Resolve(ctx, routing.Request{Choice: workflow.Contract, Contract: ids[i%n]})
		if err != nil || d.Mailbox == nil {
			b.Fatal(err)
		}
		i += 7919
	}
}
