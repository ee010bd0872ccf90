package workflow_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/correio-dev/correio/workflow"
)

// dir is a small in-memory Directory, as a host would implement.
type dir struct {
	users  map[workflow.UserID]workflow.User
	groups map[workflow.GroupID][]workflow.UserID
}

var errDirDown = errors.New("directory down")

func (d dir) User(_ context.Context, id workflow.UserID) (workflow.User, error) {
	if id == "boom" {
		return workflow.User{}, errDirDown
	}
	u, ok := d.users[id]
	if !ok {
		return workflow.User{}, fmt.Errorf("no user %s", id)
	}
	return u, nil
}

func (d dir) GroupMembers(ctx context.Context, id workflow.GroupID) ([]workflow.User, error) {
	var out []workflow.User
	for _, uid := range d.groups[id] {
		u, err := d.User(ctx, uid)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

func testDir() dir {
	return dir{
		users: map[workflow.UserID]workflow.User{
			"ana":   {ID: "ana", Name: "Ana Souza", Address: "ana@acme.example"},
			"bruno": {ID: "bruno", Name: "Bruno", Address: "Bruno@ACME.example"},
			"caio":  {ID: "caio", Name: "Caio"}, // no address
			"dup":   {ID: "dup", Name: "Bruno again", Address: "bruno@acme.example"},
			"evil":  {ID: "evil", Name: "Evil", Address: "evil@acme.example\r\nBcc: all@acme.example"},
		},
		groups: map[workflow.GroupID][]workflow.UserID{
			"agents": {"ana", "bruno", "caio"},
			"broken": {"boom"},
		},
	}
}

func addrs(e workflow.Expansion) []string {
	var out []string
	for _, r := range e.To {
		out = append(out, r.Address)
	}
	return out
}

func TestExpand(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		r           workflow.Recipients
		want        []string
		wantMissing []workflow.UserID
		wantInvalid int
		wantErr     error
	}{
		{"users", workflow.Recipients{Users: []workflow.UserID{"ana", "bruno"}}, []string{"ana@acme.example", "Bruno@ACME.example"}, nil, 0, nil},
		{"dedupe case-insensitively across users, groups and addresses",
			workflow.Recipients{Users: []workflow.UserID{"bruno", "dup"}, Groups: []workflow.GroupID{"agents"}, Addresses: []string{"ANA@acme.example", "Zed <zed@x.example>"}},
			[]string{"Bruno@ACME.example", "ana@acme.example", "zed@x.example"}, []workflow.UserID{"caio"}, 0, nil},
		{"user without address reported", workflow.Recipients{Users: []workflow.UserID{"caio", "ana"}}, []string{"ana@acme.example"}, []workflow.UserID{"caio"}, 0, nil},
		{"header injection in an address is not an address", workflow.Recipients{Users: []workflow.UserID{"evil", "ana"}}, []string{"ana@acme.example"}, []workflow.UserID{"evil"}, 0, nil},
		{"nobody left", workflow.Recipients{Users: []workflow.UserID{"caio"}, Addresses: []string{"not an address"}}, nil, []workflow.UserID{"caio"}, 1, workflow.ErrNoRecipients},
		{"empty", workflow.Recipients{}, nil, nil, 0, workflow.ErrNoRecipients},
		{"directory error surfaces", workflow.Recipients{Groups: []workflow.GroupID{"broken"}}, nil, nil, 0, errDirDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := workflow.Expand(ctx, testDir(), tt.r)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == errDirDown {
				return
			}
			if got := addrs(e); !slices.Equal(got, tt.want) {
				t.Fatalf("To = %v, want %v", got, tt.want)
			}
			if !slices.Equal(e.WithoutAddress, tt.wantMissing) {
				t.Fatalf("WithoutAddress = %v, want %v", e.WithoutAddress, tt.wantMissing)
			}
			if len(e.Invalid) != tt.wantInvalid {
				t.Fatalf("Invalid = %v", e.Invalid)
			}
		})
	}
}

func TestBatches(t *testing.T) {
	e, err := workflow.Expand(context.Background(), testDir(), workflow.Recipients{Groups: []workflow.GroupID{"agents"}})
	if err != nil {
		t.Fatal(err)
	}
	if b := e.Batches(workflow.PerRecipient); len(b) != 2 || len(b[0]) != 1 || b[1][0].Address != "Bruno@ACME.example" {
		t.Fatalf("per recipient batches: %v", b)
	}
	if b := e.Batches(workflow.SingleBcc); len(b) != 1 || len(b[0]) != 2 {
		t.Fatalf("single batch: %v", b)
	}
	if b := (workflow.Expansion{}).Batches(workflow.PerRecipient); b != nil {
		t.Fatalf("empty expansion batches: %v", b)
	}
}

func TestRender(t *testing.T) {
	tpl, err := workflow.Compile("Request {{.Request}} opened: {{.Title}}", "Hello {{.Requester}},\n{{.Title}}", "<p>Hello {{.Requester}}</p>")
	if err != nil {
		t.Fatal(err)
	}
	r, err := tpl.Render(workflow.Vars{"Request": "REQ-7", "Title": "Printer <broken>", "Requester": "Ana & Co"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != "Request REQ-7 opened: Printer <broken>" || !strings.Contains(r.Text, "Ana & Co") {
		t.Fatalf("rendered: %+v", r)
	}
	if r.HTML != "<p>Hello Ana &amp; Co</p>" {
		t.Fatalf("HTML not escaped: %q", r.HTML)
	}
	// missingkey=error
	_, err = tpl.Render(workflow.Vars{"Request": "REQ-7"})
	var te *workflow.TemplateError
	if !errors.As(err, &te) || te.Field != "subject" {
		t.Fatalf("missing key: %v", err)
	}
	// A CR or LF reaching the subject is an error, never a header.
	_, err = tpl.Render(workflow.Vars{"Request": "REQ-7", "Title": "x\r\nBcc: victim@example.com", "Requester": "a"})
	if !errors.Is(err, workflow.ErrHeaderInjection) {
		t.Fatalf("header injection: %v", err)
	}
	if _, err := workflow.Compile("{{.Broken", "", ""); err == nil {
		t.Fatal("bad template compiled")
	}
}

func TestConnectorValidate(t *testing.T) {
	ok := workflow.EmailConnector{Name: "opened", Recipients: workflow.Recipients{Users: []workflow.UserID{"ana"}}, Subject: "s", Text: "t"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid connector: %v", err)
	}
	bad := workflow.EmailConnector{Mailbox: workflow.Specific, Subject: "{{.x"}
	err := bad.Validate()
	want := map[string]bool{"mailbox_id": true, "recipients": true, "text": true, "templates": true}
	var ve interface{ Unwrap() []error }
	if !errors.As(err, &ve) {
		t.Fatalf("not a validation error: %v", err)
	}
	if got := len(ve.Unwrap()); got != len(want) {
		t.Fatalf("want %d field errors, got %v", len(want), err)
	}
	sys := workflow.EmailConnector{MailboxID: "x", Recipients: ok.Recipients, Subject: "s", Text: "t"}
	if sys.Validate() == nil {
		t.Fatal("system choice with a mailbox accepted")
	}
	for _, c := range []workflow.MailboxChoice{workflow.System, workflow.Contract, workflow.Specific} {
		got, err := workflow.ParseMailboxChoice(c.String())
		if err != nil || got != c {
			t.Fatalf("choice round trip %v", c)
		}
	}
	if workflow.MailboxChoice(0) != workflow.System {
		t.Fatal("System must be the zero value")
	}
}
