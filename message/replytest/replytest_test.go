package replytest_test

import (
	"fmt"
	"testing"

	"github.com/correio-dev/correio/message/replytest"
)

// keepAll is a cutter that cuts nothing.
func keepAll(text string, _ bool) string { return text }

// The suites tell a cutter that cuts nothing from one that works: it
// matches only the cases whose text is all new.
func TestRunDiscriminates(t *testing.T) {
	res, err := replytest.Run(replytest.Options{ReplyDir: "../testdata/reply", CorpusDir: "../../testdata/corpus",
		HTML: func(string) string { return "" }}, keepAll)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 7 {
		t.Fatalf("%d suites", len(res))
	}
	for _, r := range res {
		if r.Total == 0 || r.Rate() > 0.5 || len(r.Misses) != r.Total-r.Matched {
			t.Errorf("%s: %d/%d, %d misses", r.Name, r.Matched, r.Total, len(r.Misses))
		}
	}
	if _, err := replytest.Run(replytest.Options{ReplyDir: "nowhere"}, keepAll); err == nil {
		t.Error("missing suites not reported")
	}
}

func TestNorm(t *testing.T) {
	if got := replytest.Norm("\r\n\r\nHi \u00a0\r\nthere\t\r\n\r\n"); got != "Hi\nthere" {
		t.Errorf("Norm = %q", got)
	}
}

func ExampleRun() {
	res, err := replytest.Run(replytest.Options{ReplyDir: "../testdata/reply"}, keepAll)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range res {
		if r.Name == replytest.Discourse {
			fmt.Println(r)
		}
	}
	// Output: discourse/email_reply_trimmer: 8/64 (12%)
}
