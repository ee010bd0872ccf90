package graph

import (
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "5": 5 * time.Second, "0": 0, "-3": 0, "soon": 0, "999999": 24 * time.Hour,
		"Tue, 01 Dec 2026 10:00:30 GMT": 30 * time.Second, "Tue, 01 Dec 2026 09:00:00 GMT": 0,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestWithEnvelope(t *testing.T) {
	raw := []byte("From: a@example.com\r\nTo: B <b@example.com>\r\nCc: c@example.com\r\n\r\nbody\r\n")
	out, err := withEnvelope(raw, []string{"b@example.com", "C@example.com", "d@example.com"}, false)
	if err != nil || string(out) != "Bcc: d@example.com\r\n"+string(raw) {
		t.Fatalf("%q %v", out, err)
	}
	if _, err := withEnvelope(raw, []string{"b@example.com"}, false); err == nil {
		t.Fatal("a Cc recipient outside the envelope was accepted")
	}
	if out, err := withEnvelope(raw, []string{"b@example.com"}, true); err != nil || string(out) != string(raw) {
		t.Fatalf("with DeliverHeaderRecipients: %q %v", out, err)
	}
	if _, err := withEnvelope(raw, []string{"b@example.com", "c@example.com", "x@example.com\r\nBcc: y@example.com"}, false); err == nil {
		t.Fatal("a header injected through the envelope")
	}
	if _, err := withEnvelope([]byte("To: undisclosed-recipients:;\r\n\r\nx"), []string{"z@example.com"}, false); err != nil {
		t.Fatalf("an empty group: %v", err)
	}
}
