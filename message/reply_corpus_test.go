package message_test

import (
	"sort"
	"testing"

	"github.com/correio-dev/correio/message"
	"github.com/correio-dev/correio/message/replytest"
)

func oursPlain(text string, withSig bool) string {
	r := message.ExtractReply(text)
	if withSig && r.Signature != "" {
		return r.Text + "\n\n" + r.Signature
	}
	return r.Text
}

func oursHTML(doc string) string {
	r := message.ExtractReplyHTML(doc)
	return r.Text + r.Signature
}

// TestReplySuites measures ExtractReply and ExtractReplyHTML on every
// suite in testdata/reply and the corpus's talon expectations, and fails
// when a suite's match rate falls below the floor recorded in
// BENCHMARKS.md.
func TestReplySuites(t *testing.T) {
	floors := map[string]float64{
		replytest.CorpusTalon:   1.0,
		replytest.TalonStandard: 1.0,
		replytest.TalonHTML:     1.0,
		replytest.Discourse:     0.95,
		replytest.GitHub:        0.9,
		replytest.Crisp:         0.95,
		replytest.Willdurand:    0.85,
	}
	all, err := replytest.Run(replytest.Options{ReplyDir: "testdata/reply", CorpusDir: "../testdata/corpus", HTML: oursHTML}, oursPlain)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(floors) {
		t.Fatalf("%d suites ran, want %d", len(all), len(floors))
	}
	total, ok := 0, 0
	for _, s := range all {
		total += s.Total
		ok += s.Matched
		t.Log(s.String())
		sort.Strings(s.Misses)
		for _, f := range s.Misses {
			t.Logf("  miss %s", f)
		}
		if s.Rate() < floors[s.Name] {
			t.Errorf("%s below floor %.0f%%", s, 100*floors[s.Name])
		}
	}
	t.Logf("all suites: %d/%d (%.1f%%)", ok, total, 100*float64(ok)/float64(total))
}
