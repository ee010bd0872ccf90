package outbound_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/transport/smtp"
	"github.com/correio-dev/correio/workflow"
)

type directory map[string][]workflow.User

func (d directory) User(_ context.Context, id workflow.UserID) (workflow.User, error) {
	if u, ok := d["user:"+string(id)]; ok {
		return u[0], nil
	}
	return workflow.User{}, errors.New("no such user")
}

func (d directory) GroupMembers(_ context.Context, id workflow.GroupID) ([]workflow.User, error) {
	return d["group:"+string(id)], nil
}

var dir = directory{
	"user:ana":     {{ID: "ana", Name: "Ana", Address: "ana@customer.example"}},
	"user:nomail":  {{ID: "nomail", Name: "No Mail"}},
	"group:agents": {{ID: "bo", Name: "Bo", Address: "bo@desk.example"}, {ID: "ana", Address: "ana@customer.example"}},
}

func TestRunnerContractMailboxPerRecipient(t *testing.T) {
	sysSrv := startServer(t, mailtest.SMTPOptions{})
	acmeSrv := startServer(t, mailtest.SMTPOptions{})
	h := newHarness(t, outbound.Options{}, smtp.Options{}, outboundBox("system", sysSrv), outboundBox("acme-out", acmeSrv))
	ctx := context.Background()
	_ = h.cat.SetSystemMailbox(ctx, "system")
	if err := h.cat.PutContract(ctx, &contract.Contract{ID: "acme", Name: "ACME", OutboundMailbox: "acme-out"}); err != nil {
		t.Fatal(err)
	}
	r := &outbound.Runner{Resolver: routing.NewResolver(h.cat), Directory: dir, Sender: h.s}
	conn := &workflow.EmailConnector{
		Mailbox:    workflow.Contract,
		Recipients: workflow.Recipients{Users: []workflow.UserID{"ana", "nomail"}, Groups: []workflow.GroupID{"agents"}, Addresses: []string{"Carla <carla@x.example>"}},
		Subject:    "{{.Title}} opened",
		Text:       "Hello, {{.Title}} was opened.",
		HTML:       "<p>{{.Title}}</p>",
	}
	res, err := r.Run(ctx, conn, outbound.Flow{Contract: "acme", Thread: "42", Vars: workflow.Vars{"Title": "Printer <broken>"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Decision.Rule != routing.RuleContract || res.Decision.Mailbox.ID != "acme-out" || !strings.Contains(res.Decision.Reason(), "acme") {
		t.Fatalf("decision %+v", res.Decision)
	}
	if len(res.IDs) != 3 || len(res.Expansion.WithoutAddress) != 1 {
		t.Fatalf("ids %v expansion %+v", res.IDs, res.Expansion)
	}
	got := wait(t, acmeSrv, 3)
	seen := map[string]bool{}
	for _, m := range got {
		if len(m.To) != 1 {
			t.Fatalf("per-recipient delivery sent to %v", m.To)
		}
		seen[m.To[0]] = true
		if !strings.Contains(string(m.Data), "Subject: Printer <broken> opened [#REQ-42]") {
			t.Fatalf("subject missing in %s", m.Data)
		}
		if !strings.Contains(string(m.Data), "&lt;broken&gt;") {
			t.Fatal("HTML not escaped")
		}
	}
	if !seen["ana@customer.example"] || !seen["bo@desk.example"] || !seen["carla@x.example"] {
		t.Fatalf("recipients %v", seen)
	}
	rec := h.record(res.IDs[0])
	if rec.Rule != routing.RuleContract || rec.DecisionReason != res.Decision.Reason() || rec.Contract != "acme" {
		t.Fatalf("decision not recorded: %+v", rec)
	}
	// The sent index finds the message by Message-ID and by thread.
	ref, ok, err := h.ob.SentByMessageID(ctx, "<"+rec.MessageID+">")
	if err != nil || !ok || ref.Thread != "42" || ref.Contract != "acme" || ref.Mailbox != "acme-out" {
		t.Fatalf("by Message-ID: %+v %v %v", ref, ok, err)
	}
	if ref, ok, _ := h.ob.SentByThread(ctx, "42"); !ok || ref.Mailbox != "acme-out" {
		t.Fatalf("by thread: %+v", ref)
	}
	if _, ok, _ := h.ob.SentByThread(ctx, "43"); ok {
		t.Fatal("unknown thread found")
	}
}

func TestRunnerSingleBccAndErrors(t *testing.T) {
	sysSrv := startServer(t, mailtest.SMTPOptions{})
	h := newHarness(t, outbound.Options{}, smtp.Options{}, outboundBox("system", sysSrv))
	ctx := context.Background()
	_ = h.cat.SetSystemMailbox(ctx, "system")
	r := &outbound.Runner{Resolver: routing.NewResolver(h.cat), Directory: dir, Sender: h.s}
	conn := &workflow.EmailConnector{
		Recipients: workflow.Recipients{Groups: []workflow.GroupID{"agents"}},
		Delivery:   workflow.SingleBcc,
		Subject:    "Approval requested", Text: "Please approve.",
	}
	res, err := r.Run(ctx, conn, outbound.Flow{})
	if err != nil || len(res.IDs) != 1 || res.Decision.Rule != routing.RuleSystem {
		t.Fatalf("%+v %v", res, err)
	}
	got := wait(t, sysSrv, 1)[0]
	if strings.Join(got.To, ",") != "bo@desk.example,ana@customer.example" || strings.Contains(string(got.Data), "ana@customer.example") {
		t.Fatalf("single Bcc: envelope %v", got.To)
	}
	// A subject variable carrying CR/LF never becomes a header.
	conn.Subject = "{{.Title}}"
	_, err = r.Run(ctx, conn, outbound.Flow{Vars: workflow.Vars{"Title": "x\r\nBcc: evil@example.org"}})
	if !errors.Is(err, workflow.ErrHeaderInjection) {
		t.Fatalf("injection: %v", err)
	}
	// Resolver errors are returned as they are.
	conn.Mailbox, conn.MailboxID = workflow.Specific, "missing"
	if _, err := r.Run(ctx, conn, outbound.Flow{}); !errors.Is(err, routing.ErrMailboxNotFound) {
		t.Fatalf("resolver: %v", err)
	}
}
