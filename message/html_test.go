package message

import (
	"strings"
	"testing"
)

func TestSanitizeHTMLRemovesActiveContent(t *testing.T) {
	in := `<html><head><meta http-equiv="refresh" content="0;url=https://evil.example/"><base href="https://evil.example/">
<style>body{background:url(https://track.example/css.png)}</style><link rel="stylesheet" href="https://evil.example/x.css">
<script>alert(1)</script></head><body onload="alert(2)">
<p onclick="alert(3)" style="color:red; width: expression(alert(4)); background-image:url(https://track.example/bg.png)">Hello <b>agent</b></p>
<a href="javascript:alert(5)">js link</a> <a href="data:text/html,<script>alert(6)</script>">data link</a>
<a href="https://example.com/doc" id="config" name="config">doc</a> <a href="/admin/delete">relative</a>
<form action="https://evil.example/phish"><input name="password"><button>Login</button></form>
<iframe src="https://evil.example/"></iframe><object data="x.swf"></object><embed src="x.swf">
<svg onload="alert(7)"><a xlink:href="javascript:alert(8)">svg</a></svg>
<img src="x" onerror="alert(9)"><table background="https://track.example/t.png"><tr><td bgcolor="#eee">cell</td></tr></table>
</body></html>`
	res := SanitizeHTML(in, nil, HTMLOptions{})
	out := strings.ToLower(res.HTML)
	for _, bad := range []string{"<script", "alert", "onload", "onclick", "onerror", "javascript:", "data:text",
		"<form", "<input", "<iframe", "<object", "<embed", "<meta", "<base", "<style", "<link", "expression",
		"url(", "track.example", "evil.example", "/admin/delete", "config"} {
		if strings.Contains(out, bad) {
			t.Errorf("output keeps %q:\n%s", bad, res.HTML)
		}
	}
	for _, good := range []string{"hello", "<b>agent</b>", "color: red", `href="https://example.com/doc"`, "noreferrer", "cell"} {
		if !strings.Contains(out, good) {
			t.Errorf("output lost %q:\n%s", good, res.HTML)
		}
	}
}

func TestSanitizeHTMLRemoteImages(t *testing.T) {
	in := `<p>Logo <img src="https://cdn.example/logo.png" alt="ACME"> pixel <img src="http://t.example/p.gif" width="1" height="1"> <img src="//t.example/q.gif" srcset="https://t.example/2x.gif 2x"></p>`
	open := SanitizeHTML(in, nil, HTMLOptions{})
	if open.RemoteImagesBlocked != 0 || strings.Count(open.HTML, "<img") != 3 {
		t.Fatalf("not blocking: %d %s", open.RemoteImagesBlocked, open.HTML)
	}
	if strings.Contains(open.HTML, "srcset") {
		t.Error("srcset kept")
	}
	blocked := SanitizeHTML(in, nil, HTMLOptions{BlockRemoteImages: true})
	if blocked.RemoteImagesBlocked != 3 || strings.Contains(blocked.HTML, "<img") || strings.Contains(blocked.HTML, "example") {
		t.Fatalf("blocking: %d %s", blocked.RemoteImagesBlocked, blocked.HTML)
	}
	if !strings.Contains(blocked.HTML, "[ACME]") {
		t.Errorf("alt text not kept: %s", blocked.HTML)
	}
}

func TestSanitizeHTMLDataImages(t *testing.T) {
	in := `<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==" alt="dot"><img src="data:image/svg+xml;base64,PHN2Zy8+">`
	if r := SanitizeHTML(in, nil, HTMLOptions{}); strings.Contains(r.HTML, "data:") {
		t.Errorf("data image kept by default: %s", r.HTML)
	}
	r := SanitizeHTML(in, nil, HTMLOptions{AllowDataImages: true})
	if !strings.Contains(r.HTML, "data:image/png") || strings.Contains(r.HTML, "svg") {
		t.Errorf("data images: %s", r.HTML)
	}
}

// An Outlook message: the image part has a Content-ID but no
// Content-Disposition inside multipart/related, a second image is named by
// Content-Location only.
const outlookInline = "From: a@example.com\r\nTo: b@example.com\r\nSubject: inline\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/related; boundary=rel; type=\"text/html\"\r\n\r\n" +
	"--rel\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
	"<p>See <img src=\"cid:image001.png@01DA0000.12345678\" alt=\"shot\"> and <img src=\"image002.jpg\"> and <img src=\"cid:missing@x\" alt=\"gone\"></p>\r\n" +
	"--rel\r\nContent-Type: image/png; name=\"image001.png\"\r\nContent-Transfer-Encoding: base64\r\nContent-ID: <image001.png@01DA0000.12345678>\r\n\r\niVBORw0KGgo=\r\n" +
	"--rel\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\nContent-Location: image002.jpg\r\n\r\n/9j/4AAQ\r\n" +
	"--rel--\r\n"

func TestSafeHTMLInlineParts(t *testing.T) {
	m, err := ParseBytes([]byte(outlookInline), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Parts) != 2 || m.Parts[0].IsAttachment() {
		t.Fatalf("parts: %d, first is attachment: %v", len(m.Parts), m.Parts[0].IsAttachment())
	}
	urlOf := func(p *Part) string {
		for i, q := range m.Parts {
			if q == p {
				return "/tickets/7/parts/" + string(rune('0'+i))
			}
		}
		return ""
	}
	r := m.SafeHTML(HTMLOptions{PartURL: urlOf, BlockRemoteImages: true})
	if !strings.Contains(r.HTML, `src="/tickets/7/parts/0"`) || !strings.Contains(r.HTML, `src="/tickets/7/parts/1"`) {
		t.Fatalf("inline images not mapped: %s", r.HTML)
	}
	if len(r.Inline) != 2 || r.Inline[0] != m.Parts[0] || r.Inline[1] != m.Parts[1] {
		t.Errorf("Inline = %v", r.Inline)
	}
	if r.MissingInline != 1 || !strings.Contains(r.HTML, "[gone]") || strings.Contains(r.HTML, "cid:") {
		t.Errorf("missing cid: %d %s", r.MissingInline, r.HTML)
	}
	if r.RemoteImagesBlocked != 0 {
		t.Errorf("inline images counted as remote: %d", r.RemoteImagesBlocked)
	}
	if m.PartByContentID("<IMAGE001.png@01DA0000.12345678>") != m.Parts[0] || m.PartByContentID("nope") != nil {
		t.Error("PartByContentID")
	}
	// Without a PartURL the inline images are dropped, not left as cid:.
	r = m.SafeHTML(HTMLOptions{})
	if strings.Contains(r.HTML, "<img") || r.MissingInline != 3 {
		t.Errorf("no PartURL: %d %s", r.MissingInline, r.HTML)
	}
	// A forged token in the mail is not taken for a mapped part.
	r = SanitizeHTML(`<img src="cid:correio-part-0">`, m.Parts, HTMLOptions{PartURL: urlOf})
	if strings.Contains(r.HTML, "<img") {
		t.Errorf("forged token resolved: %s", r.HTML)
	}
}

func TestPlainTextFromHTML(t *testing.T) {
	raw := "From: a@example.com\r\nSubject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Olá,</p><p>o <b>sistema</b> caiu.<br>Veja <a href=\"https://status.example.com\">status</a>.</p><script>x()</script></body></html>\r\n"
	m, err := ParseBytes([]byte(raw), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := m.PlainText()
	for _, want := range []string{"Olá,", "sistema", "caiu.", "https://status.example.com"} {
		if !strings.Contains(got, want) {
			t.Errorf("PlainText %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "x()") || strings.Contains(got, "<p>") {
		t.Errorf("PlainText %q keeps markup or script", got)
	}
	m.Text = "plain body"
	if m.PlainText() != "plain body" {
		t.Error("text body not preferred")
	}
	if s := (&Message{Text: "a < b"}).SafeHTML(HTMLOptions{}); !strings.Contains(s.HTML, "a &lt; b") {
		t.Errorf("text-only SafeHTML %q", s.HTML)
	}
}

// Every corpus message goes through the content API without panicking,
// and the sanitised HTML never keeps a script.
func TestContentOverCorpus(t *testing.T) {
	n := 0
	for _, e := range loadCorpus(t) {
		m, err := ParseBytes(e.Data, Options{})
		if err != nil || len(m.Text)+len(m.HTML) > 64<<10 {
			continue // the large ones are the fuzzers' and benchmarks' business
		}
		_ = m.ReplyText()
		_ = m.PlainText()
		s := m.SafeHTML(HTMLOptions{BlockRemoteImages: true, PartURL: func(p *Part) string { return "/p" }})
		if low := strings.ToLower(s.HTML); strings.Contains(low, "<script") || strings.Contains(low, "javascript:") {
			t.Errorf("%s: unsafe output", e.Path)
		}
		if m.HTML != "" {
			n++
		}
	}
	if n < 20 {
		t.Fatalf("only %d corpus messages with HTML", n)
	}
}

// With remote images blocked, nothing in the output loads from the
// network: only link targets may keep a URL.
func TestSanitizeHTMLNoRemoteLoads(t *testing.T) {
	in := `<body background="https://t.example/1.png"><table background="https://t.example/2.png"><tr><td style="background:url(https://t.example/3.png)">x</td></tr></table>
<picture><source srcset="https://t.example/4.png"><img src="https://t.example/5.png"></picture>
<video poster="https://t.example/6.png" src="https://t.example/7.mp4"></video><audio src="https://t.example/8.mp3"></audio>
<input type="image" src="https://t.example/9.png"><svg><image href="https://t.example/10.png"/></svg>
<link rel="prefetch" href="https://t.example/11"><style>@import url(https://t.example/12.css);</style>
<div style="list-style-image:url(https://t.example/13.png);content:url(https://t.example/14.png)">y</div>
<img src="https://t.example/15.png" srcset="https://t.example/16.png 2x"><a href="https://example.com/ok">ok</a></body>`
	res := SanitizeHTML(in, nil, HTMLOptions{BlockRemoteImages: true})
	rest := strings.ReplaceAll(res.HTML, `href="https://example.com/ok"`, "")
	if strings.Contains(rest, "t.example") || strings.Contains(rest, "http") {
		t.Fatalf("remote reference left:\n%s", res.HTML)
	}
	if res.RemoteImagesBlocked != 2 || !strings.Contains(res.HTML, "https://example.com/ok") {
		t.Errorf("blocked %d:\n%s", res.RemoteImagesBlocked, res.HTML)
	}
}
