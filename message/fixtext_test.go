package message

import (
	"net/mail"
	"testing"

	"golang.org/x/text/encoding/charmap"
)

// TestFixTextMatchesCharmap checks the table decoder of fixText against
// x/text's windows-1252 decoder, byte by byte and on mixed input.
func TestFixTextMatchesCharmap(t *testing.T) {
	inputs := [][]byte{[]byte("caf\xe9 \x80 \x81\x8d\x8f\x90\x9d end"), []byte("\xff"), []byte("abc\xe9"), []byte("\xe9abc")}
	for c := 0x80; c < 0x100; c++ {
		inputs = append(inputs, []byte{'a', byte(c), 'b'})
	}
	for _, in := range inputs {
		want, err := charmap.Windows1252.NewDecoder().Bytes(in)
		if err != nil {
			t.Fatal(err)
		}
		got, fixed := fixText(in)
		if got != string(want) || !fixed {
			t.Fatalf("fixText(%q) = %q, %v; want %q, true", in, got, fixed, want)
		}
	}
	if s, fixed := fixText([]byte("plain é")); s != "plain é" || fixed {
		t.Fatalf("valid UTF-8 changed: %q %v", s, fixed)
	}
}

// TestParseDateAsNetMail checks that the fast path of parseDate reads
// what mail.ParseDate reads.
func TestParseDateAsNetMail(t *testing.T) {
	for _, v := range []string{"Tue, 2 Jan 2024 10:11:12 +0100", "Tue, 02 Jan 2024 10:11:12 -0000", "Wed, 31 Dec 2025 23:59:59 +1345", "Mon, 24 Nov 2026 10:00:00 +0000"} {
		want, err := mail.ParseDate(v)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := parseDate(v)
		if !ok || !got.Equal(want) || got.Format("-0700") != want.Format("-0700") {
			t.Fatalf("parseDate(%q) = %v %v, want %v", v, got, ok, want)
		}
	}
}
