package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// The quickstart is README's first command: it must keep working and keep
// showing each promise.
func TestQuickstart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{
		`-> system-out (rule system)`,
		`contract "acme" uses mailbox "acme-out"`,
		`-> globex-out (rule specific)`,
		`From: "ACME Support" <support@acme.example>`,
		`from ana@acme.example -> request 1002 (matched by in-reply-to)`,
		`from bruno@globex.example -> request 2001 (matched by in-reply-to)`,
		`ACME's completion notice delivered`,
		`globex-out health: down (circuit breaker open: mailbox down), 1 queued`,
		`Globex's completion notice delivered; globex-out health: waiting, 0 queued`,
		`sent via globex-out Request 2001 completed [#REQ-2001]`,
		`received in globex-in`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(s)
	}
}
