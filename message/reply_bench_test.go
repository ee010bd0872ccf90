package message

import (
	"strings"
	"testing"
)

// BenchmarkExtractReply measures the reply cutter on a typical Gmail reply
// and on 1 MB of lines built to hit every rule (attribution-like lines,
// client signature lines, quote lines, underscore lines).
func BenchmarkExtractReply(b *testing.B) {
	typical := readFixture(b, "testdata/reply/discourse/emails/embedded_email_german_6.txt")
	var sb strings.Builder
	for sb.Len() < 1<<20 {
		sb.WriteString("On Tue, 3 Mar 2026 at 10:15, Ana <ana@example.com>\nSent from my iPhone\n\n> q\n_______________\nAm 3. März schrieb x\nFrom: a\n")
	}
	hostile := sb.String()
	b.Run("typical", func(b *testing.B) {
		b.SetBytes(int64(len(typical)))
		for b.Loop() {
			_ = ExtractReply(typical)
		}
	})
	b.Run("hostile-1MB", func(b *testing.B) {
		b.SetBytes(int64(len(hostile)))
		for b.Loop() {
			_ = ExtractReply(hostile)
		}
	})
}

// BenchmarkSanitizeHTML measures SanitizeHTML on talon's Outlook 2010
// reply.
func BenchmarkSanitizeHTML(b *testing.B) {
	doc := readFixture(b, "testdata/reply/talon/html_replies/ms_outlook_2010.html")
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		_ = SanitizeHTML(doc, nil, HTMLOptions{BlockRemoteImages: true})
	}
}
