package message

import (
	"slices"
	"testing"
)

// TestNeverAnswerAutomatically: a null return path, any Auto-Submitted
// other than "no" (one of several is enough) and the vendor loop headers
// forbid an automatic answer whatever else the message carries, each with
// its signal; messages without them stay answerable.
func TestNeverAnswerAutomatically(t *testing.T) {
	const person = "From: Ana <ana@example.org>\nTo: helpdesk@example.com\nSubject: Printer broken\nMessage-ID: <p1@example.org>\n"
	const body = "\nThe printer on the second floor is broken again.\n"
	tests := []struct {
		name    string
		headers string
		allowed bool
		signal  string // must be among the signals ("" for none)
	}{
		{"a person's message", "", true, ""},
		{"return path of a person", "Return-Path: <ana@example.org>\n", true, ""},
		{"null return path", "Return-Path: <>\n", false, "header:null-return-path"},
		{"null return path with spaces", "Return-Path: < >\n", false, "header:null-return-path"},
		{"null return path with a comment", "Return-Path: <> (bounce)\n", false, "header:null-return-path"},
		{"null return path doubled", "Return-Path: <<>>\n", false, "header:null-return-path"},
		{"empty return path", "Return-Path: \n", false, "header:null-return-path"},
		{"second return path null", "Return-Path: <ana@example.org>\nReturn-Path: <>\n", false, "header:null-return-path"},
		{"null return path and auto-submitted no", "Return-Path: <>\nAuto-Submitted: no\n", false, "header:null-return-path"},
		{"auto-submitted no", "Auto-Submitted: no\n", true, ""},
		{"auto-submitted No with a comment", "Auto-Submitted: No (typed by a person)\n", true, ""},
		{"auto-submitted auto-generated", "Auto-Submitted: auto-generated\n", false, "header:auto-submitted"},
		{"auto-submitted with parameters", "Auto-Submitted: auto-notified; owner-email=\"x@example.org\"\n", false, "header:auto-submitted"},
		{"auto-submitted extension starting with no", "Auto-Submitted: notify\n", false, "header:auto-submitted"},
		{"auto-submitted empty", "Auto-Submitted: \n", false, "header:auto-submitted"},
		{"auto-submitted no then auto-replied", "Auto-Submitted: no\nAuto-Submitted: auto-replied\n", false, "header:auto-submitted"},
		{"auto-submitted auto-replied then no", "Auto-Submitted: auto-replied\nAuto-Submitted: no\n", false, "header:auto-submitted"},
		{"exchange inbox rules loop alone", "X-MS-Exchange-Inbox-Rules-Loop: bea@example.org\n", false, "header:x-ms-exchange-inbox-rules-loop"},
		{"exchange loop and auto-submitted no", "Auto-Submitted: no\nX-MS-Exchange-Inbox-Rules-Loop: bea@example.org\n", false, "header:x-ms-exchange-inbox-rules-loop"},
		{"x-loop", "X-Loop: helpdesk@example.com\n", false, "header:x-loop"},
		{"x-otrs-loop", "X-OTRS-Loop: yes\n", false, "header:x-otrs-loop"},
		{"rt loop prevention", "RT-Loop-Prevention: Example RT\n", false, "header:rt-loop-prevention"},
		{"x-autoreply", "X-Autoreply: yes\n", false, "header:x-autoreply"},
		{"x-autorespond", "X-Autorespond: Printer broken\n", false, "header:x-autorespond"},
		{"x-autoreply no", "X-Autoreply: no\n", true, ""},
		{"x-autoreply no then yes", "X-Autoreply: no\nX-Autoreply: yes\n", false, "header:x-autoreply"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := mustParse(t, person+tc.headers+body, Options{})
			c := Classify(m, ClassifyOptions{OwnAddresses: []string{"helpdesk@example.com"}})
			if c.AutoAnswerAllowed != tc.allowed {
				t.Fatalf("AutoAnswerAllowed %v, want %v (kind %s, signals %v)", c.AutoAnswerAllowed, tc.allowed, c.Kind, c.Signals)
			}
			if tc.allowed && c.Kind != KindNormal {
				t.Errorf("kind %s, want normal", c.Kind)
			}
			if !tc.allowed && !c.AutoAnswerSuppressed {
				t.Errorf("AutoAnswerSuppressed false (signals %v)", c.Signals)
			}
			if tc.signal != "" && !slices.Contains(c.Signals, tc.signal) {
				t.Errorf("signals %v lack %q", c.Signals, tc.signal)
			}
			seen := map[string]bool{}
			for _, s := range c.Signals {
				if seen[s] {
					t.Errorf("signal %q listed twice: %v", s, c.Signals)
				}
				seen[s] = true
			}
		})
	}
}
