// Package transporttest is the conformance suite of correio's transports,
// as store/storetest is the stores': every inbound transport
// (transport.Source) passes RunSource and every outbound one
// (transport.Sender) passes RunSender, against a server the harness
// controls. transport/imap and transport/smtp run it against the
// in-process servers of package mailtest; a new transport (POP3, Microsoft
// Graph, the Gmail API, a host's own) runs it against its test server.
//
// What the suite checks, for sources: new mail is listed exactly once and
// fetched whole, into spools whose hash is the message's; every post-action
// the transport offers is applied (and applying it twice is harmless), the
// others fail with transport.ErrUnsupported; the cursor resumes after a
// reconnect and after a restart (a new Source reading the stored cursor),
// and a reset cursor re-reads the mailbox; a connection broken in the
// middle of a fetch loses nothing and never yields a partial message;
// Wait wakes on new mail (push) or on the engine's timer; errors are
// *transport.Error values of the right classes (auth, temporary, policy);
// Check reports. For senders: a message reaches every accepted recipient
// byte for byte, refused recipients are reported one by one with their
// class, a connection carries several messages, a connection broken
// mid-message is reported as transport.ErrBroken, errors are classified,
// and Check reports.
package transporttest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Message returns a small raw message with a unique Message-ID
// (<n.tag@transporttest>) and a body of about size bytes.
func Message(tag string, n, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Customer %d <customer%d@example.net>\r\n", n, n)
	fmt.Fprintf(&b, "To: desk@example.com\r\n")
	fmt.Fprintf(&b, "Subject: transporttest %s %d\r\n", tag, n)
	fmt.Fprintf(&b, "Date: Mon, 23 Nov 2026 10:%02d:00 +0000\r\n", n%60)
	fmt.Fprintf(&b, "Message-ID: <%d.%s@transporttest>\r\n", n, tag)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	line := fmt.Sprintf("message %d of %s: the quick brown fox jumps over the lazy dog\r\n", n, tag)
	for b.Len() < size {
		b.WriteString(line)
	}
	if size <= 0 {
		b.WriteString(line)
	}
	return b.Bytes()
}

// messageID returns the Message-ID of a Message.
func messageID(tag string, n int) string { return fmt.Sprintf("<%d.%s@transporttest>", n, tag) }

func sum(raw []byte) [32]byte { return sha256.Sum256(raw) }

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hasHeader reports whether raw carries the header line name: value.
func hasHeader(raw []byte, name, value string) bool {
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for _, l := range strings.Split(string(head), "\r\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) && strings.TrimSpace(v) == value {
			return true
		}
	}
	return false
}
