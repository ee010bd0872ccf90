// Command replycompare measures message.ExtractReply and
// github.com/dimiro1/reply (a Go port of Discourse's email_reply_trimmer)
// on the same reply suites in one run, and prints a Markdown table. It is a
// module of its own so that correio does not depend on that parser, which
// is no longer maintained. Run it from this directory:
//
//	go run .
package main

import (
	"fmt"
	"os"

	"github.com/correio-dev/correio/message"
	"github.com/correio-dev/correio/message/replytest"
	"github.com/dimiro1/reply"
)

func main() {
	opts := replytest.Options{ReplyDir: "../../message/testdata/reply", CorpusDir: "../../testdata/corpus"}
	ours := func(text string, withSig bool) string {
		r := message.ExtractReply(text)
		if withSig && r.Signature != "" {
			return r.Text + "\n\n" + r.Signature
		}
		return r.Text
	}
	// dimiro1/reply reads plain text only; it gets HTML as
	// message.HTMLToText renders it.
	theirs := func(text string, _ bool) string { return reply.FromText(text) }
	oursOpts, theirOpts := opts, opts
	oursOpts.HTML = func(doc string) string {
		r := message.ExtractReplyHTML(doc)
		return r.Text + r.Signature
	}
	theirOpts.HTML = func(doc string) string { return reply.FromText(message.HTMLToText(doc)) }
	a, err := replytest.Run(oursOpts, ours)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	b, err := replytest.Run(theirOpts, theirs)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("| suite | cases | message.ExtractReply | dimiro1/reply |")
	fmt.Println("|---|---:|---:|---:|")
	ta, tb, n := 0, 0, 0
	for i := range a {
		fmt.Printf("| %s | %d | %d | %d |\n", a[i].Name, a[i].Total, a[i].Matched, b[i].Matched)
		ta += a[i].Matched
		tb += b[i].Matched
		n += a[i].Total
	}
	fmt.Printf("| all | %d | %d (%.1f %%) | %d (%.1f %%) |\n", n, ta, 100*float64(ta)/float64(n), tb, 100*float64(tb)/float64(n))
}
