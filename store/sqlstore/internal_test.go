package sqlstore

import (
	"context"
	"strings"
	"testing"

	"github.com/correio-dev/correio/mailbox"
)

func TestRebind(t *testing.T) {
	got := Rebind("UPDATE t SET a = ?, b = ? WHERE id = ?")
	if got != "UPDATE t SET a = $1, b = $2 WHERE id = $3" {
		t.Fatalf("Rebind = %q", got)
	}
	if Rebind("SELECT 1") != "SELECT 1" {
		t.Fatal("statement without placeholders changed")
	}
}

func TestEncodeDecodeEdges(t *testing.T) {
	ctx := context.Background()
	// Kind and settings disagree: refused, not stored half-empty.
	bad := &mailbox.Mailbox{ID: "x", Kind: mailbox.Inbound, Outbound: &mailbox.OutboundSettings{}}
	if _, err := encodeMailbox(ctx, nil, bad); err == nil {
		t.Fatal("inbound mailbox with outbound settings encoded")
	}
	// A corrupt settings column is an error naming the mailbox, not a panic.
	_, err := decodeMailbox(ctx, nil, nil, mailboxRow{ID: "x", Kind: "inbound", Settings: "{not json"}, nil)
	if err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Fatalf("corrupt settings: err = %v", err)
	}
	if _, err := decodeMailbox(ctx, nil, nil, mailboxRow{ID: "x", Kind: "sideways", Settings: "{}"}, nil); err == nil {
		t.Fatal("unknown kind decoded")
	}
	// OAuth2 without a hook: a token source that explains itself.
	m, err := decodeMailbox(ctx, nil, nil, mailboxRow{ID: "x", Kind: "outbound", Settings: `{"oauth2":true,"mechanism":"xoauth2"}`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Outbound.Credentials.OAuth2.Token(ctx); err != ErrNoTokenSource {
		t.Fatalf("placeholder token source: err = %v", err)
	}
}
