package threading_test

import (
	"errors"
	"testing"

	"github.com/correio-dev/correio/threading"
)

func TestTokens(t *testing.T) {
	def := threading.TokenFormat{}.MustCompile()
	tok, err := def.Format("123")
	if err != nil || tok != "[#REQ-123]" {
		t.Fatalf("Format = %q %v", tok, err)
	}
	if _, err := def.Format("12 3"); !errors.Is(err, threading.ErrBadToken) {
		t.Fatalf("bad id accepted: %v", err)
	}
	if _, err := def.Format(""); !errors.Is(err, threading.ErrBadToken) {
		t.Fatal("empty id accepted")
	}
	parse := []struct {
		subject string
		id      string
		ok      bool
	}{
		{"Re: Printer broken [#REQ-123]", "123", true},
		{"RE: AW: Fwd: [#req-77] printer", "77", true},
		{"Fwd: [#REQ-1] and [#REQ-2]", "2", true},
		{"[#TICKET-5] other system", "", false},
		{"no token", "", false},
		{"[#REQ-] empty", "", false},
	}
	for _, p := range parse {
		id, ok := def.Parse(p.subject)
		if id != p.id || ok != p.ok {
			t.Errorf("Parse(%q) = %q %v, want %q %v", p.subject, id, ok, p.id, p.ok)
		}
	}
	s, _ := def.Tag("Printer broken", "9")
	if s != "Printer broken [#REQ-9]" {
		t.Fatalf("Tag = %q", s)
	}
	if s2, _ := def.Tag(s, "9"); s2 != s {
		t.Fatalf("Tag not idempotent: %q", s2)
	}
	custom, err := threading.TokenFormat{Open: "{", Prefix: "CHAMADO ", Close: "}"}.Compile()
	if err != nil {
		t.Fatal(err)
	}
	tok, _ = custom.Format("A-1")
	if id, ok := custom.Parse("Re: " + tok); tok != "{CHAMADO A-1}" || !ok || id != "A-1" {
		t.Fatalf("custom token %q -> %q %v", tok, id, ok)
	}
	if _, err := (threading.TokenFormat{Open: "[\n", Close: "]"}).Compile(); !errors.Is(err, threading.ErrBadToken) {
		t.Fatalf("format with LF accepted: %v", err)
	}
}
