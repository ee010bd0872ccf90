package transporttest_test

import (
	"testing"

	"github.com/correio-dev/correio/transport/transporttest"
)

// A transport of your own passes the same suite as IMAP and SMTP: describe
// how to reach and control your test server in a harness and call the
// suite from a test (transport/imap/conformance_test.go and
// transport/smtp/conformance_test.go are complete harnesses).
func Example() {
	testMySource := func(t *testing.T) {
		transporttest.RunSource(t, transporttest.SourceHarness{New: func(t *testing.T) *transporttest.SourceEnv {
			// Start your test server, create a mailbox on it and return its
			// Mailbox, Source, Deliver, Count, SetDown, RefuseLogin and, when
			// the server can, BreakAfter and ResetCursor.
			t.Skip("a harness of your own goes here")
			return nil
		}})
	}
	_ = testMySource // func TestConformance(t *testing.T) { testMySource(t) }
}
