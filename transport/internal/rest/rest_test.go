package rest

import (
	"errors"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "5": 5 * time.Second, "0": 0, "-3": 0, "soon": 0, "999999": 24 * time.Hour,
		"Tue, 01 Dec 2026 10:00:30 GMT": 30 * time.Second, "Tue, 01 Dec 2026 09:00:00 GMT": 0,
	} {
		if got := RetryAfter(v, now); got != want {
			t.Errorf("RetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

var errRecipients = errors.New("test: recipients")

func TestWithEnvelope(t *testing.T) {
	raw := []byte("From: a@example.com\r\nTo: B <b@example.com>\r\nCc: c@example.com\r\n\r\nbody\r\n")
	out, err := WithEnvelope(raw, []string{"b@example.com", "C@example.com", "d@example.com"}, false, "test", errRecipients)
	if err != nil || string(out) != "Bcc: d@example.com\r\n"+string(raw) {
		t.Fatalf("%q %v", out, err)
	}
	if _, err := WithEnvelope(raw, []string{"b@example.com"}, false, "test", errRecipients); !errors.Is(err, errRecipients) {
		t.Fatalf("a Cc recipient outside the envelope: %v", err)
	}
	if out, err := WithEnvelope(raw, []string{"b@example.com"}, true, "test", errRecipients); err != nil || string(out) != string(raw) {
		t.Fatalf("with DeliverHeaderRecipients: %q %v", out, err)
	}
	if _, err := WithEnvelope(raw, []string{"b@example.com", "c@example.com", "x@example.com\r\nBcc: y@example.com"}, false, "test", errRecipients); !errors.Is(err, errRecipients) {
		t.Fatalf("a header injected through the envelope: %v", err)
	}
	if _, err := WithEnvelope([]byte("To: undisclosed-recipients:;\r\n\r\nx"), []string{"z@example.com"}, false, "test", errRecipients); err != nil {
		t.Fatalf("an empty group: %v", err)
	}
	if _, err := WithEnvelope(raw, nil, false, "test", errRecipients); !errors.Is(err, errRecipients) {
		t.Fatalf("no recipients: %v", err)
	}
}
