package imap

import (
	"bytes"
	"strings"
	"testing"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// The writer sees both directions; each case is the traffic in order,
// written in the pieces given.
func TestRedactingWriterLiterals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pw     string // default "pä\r\nss-wd", a literal with a line break
		pieces []string
		keep   []string
	}{
		{"synchronising", "", []string{"T1 LOGIN bob {9}\r\n", "+ Ready for literal data\r\n", "pä\r\nss-wd\r\n", "T1 OK Logged in\r\n"},
			[]string{"T1 LOGIN [REDACTED]\r\n", "+ Ready for literal data\r\n", "T1 OK Logged in\r\n"}},
		{"literal plus", "", []string{"T1 LOGIN bob {9+}\r\npä\r\nss-wd\r\n", "T1 OK Logged in\r\n"}, []string{"T1 OK Logged in"}},
		{"two literals", "", []string{"T1 LOGIN {4+}\r\nböb {9+}\r\n", "pä\r\n", "ss-wd\r\nT2 SELECT INBOX\r\n"}, []string{"T2 SELECT INBOX\r\n"}},
		{"refused literal", "", []string{"T1 LOGIN bob {9}\r\n", "T1 NO no literals\r\n", "T2 LOGOUT\r\n"}, []string{"T1 NO no literals\r\n", "T2 LOGOUT\r\n"}},
		{"byte by byte", "", strings.Split("T1 LOGIN bob {9+}\r\npä\r\nss-wd\r\nT2 NOOP\r\n", ""), []string{"T2 NOOP\r\n"}},
		// A password echoed in a reply is removed by the Redactor.
		{"echoed in a reply", "pä-ss-wd", []string{"T1 LOGIN bob \"pä-ss-wd\"\r\n", "T1 NO bad password pä-ss-wd for bob\r\n", "* OK cMOkLXNzLXdk\r\n"}, []string{"T1 NO bad password [REDACTED] for bob", "* OK [REDACTED]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if tc.pw == "" {
				tc.pw = "pä\r\nss-wd"
			}
			red := transport.NewRedactor("bob", mailbox.NewSecret(tc.pw))
			w := newRedactingWriter(&out, red)
			for _, p := range tc.pieces {
				if _, err := w.Write([]byte(p)); err != nil {
					t.Fatal(err)
				}
			}
			got := out.String()
			for _, leak := range []string{"pä", "ss-wd"} {
				if strings.Contains(got, leak) {
					t.Fatalf("leaks %q:\n%q", leak, got)
				}
			}
			for _, k := range tc.keep {
				if !strings.Contains(got, k) {
					t.Fatalf("lost %q:\n%q", k, got)
				}
			}
		})
	}
}
