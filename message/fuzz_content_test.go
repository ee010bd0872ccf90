package message

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// replyDir holds the reply suites (see testdata/reply/SOURCES.md).
const replyDir = "testdata/reply"

func readFixture(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// FuzzExtractReply checks that no text makes the reply cutter panic or
// hang, that Full is always the input, and that the new part, signature
// and history come from the input.
func FuzzExtractReply(f *testing.F) {
	for _, pat := range []string{"discourse/emails/*.txt", "crisp/fixtures/*.txt", "github/emails/email_1_*.txt"} {
		files, _ := filepath.Glob(filepath.Join(replyDir, pat))
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil && len(b) < 32<<10 {
				f.Add(string(b))
			}
		}
	}
	f.Add("a\n" + ReplyMarker + "\n> b")
	f.Add("On x wrote:\n> q\nt\n> q\n-- \ns")
	f.Fuzz(func(t *testing.T, text string) {
		r := ExtractReply(text)
		if r.Full != text {
			t.Fatal("Full is not the input")
		}
		if r.Confidence < ConfidenceLow || r.Confidence > ConfidenceHigh || r.By == "" {
			t.Fatalf("bad confidence %d or cut %q", r.Confidence, r.By)
		}
		norm := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(text)
		for _, line := range strings.Split(r.Text, "\n") {
			if !strings.Contains(norm, strings.TrimSpace(line)) {
				t.Fatalf("Text line %q is not in the input", line)
			}
		}
		if utf8.ValidString(text) && !utf8.ValidString(r.Text+r.Signature+r.Quoted) {
			t.Fatal("valid input gave invalid UTF-8")
		}
	})
}

// FuzzSanitizeHTML checks that no markup makes the sanitiser, the inline
// mapping, the HTML reply cutter or the text rendering panic, and that the
// result carries no script, event handler or javascript: URL.
func FuzzSanitizeHTML(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(replyDir, "talon", "html_replies", "*.html"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(string(b), true)
		}
	}
	f.Add(`<img src="cid:a@b"><img src="//x/y"><a href="javascript:x">j</a><svg onload=x>`, false)
	f.Add(`<div class="gmail_quote"><blockquote type="cite"><div id="divRplyFwdMsg">`, true)
	m, err := ParseBytes([]byte(outlookInline), Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, doc string, block bool) {
		opts := HTMLOptions{BlockRemoteImages: block, AllowDataImages: !block,
			PartURL: func(p *Part) string { return "/part/" + p.ContentID }}
		res := SanitizeHTML(doc, m.Parts, opts)
		low := strings.ToLower(res.HTML)
		for _, bad := range []string{"<script", "javascript:", " onerror=", " onload=", "<iframe"} {
			if strings.Contains(low, bad) {
				t.Fatalf("output has %q: %s", bad, res.HTML)
			}
		}
		if block && (strings.Contains(low, `src="http`) || strings.Contains(low, `src="//`)) {
			t.Fatalf("remote image kept while blocking: %s", res.HTML)
		}
		if res.RemoteImagesBlocked < 0 || res.MissingInline < 0 {
			t.Fatal("negative count")
		}
		_ = ExtractReplyHTML(doc)
		_ = HTMLToText(doc)
	})
}
