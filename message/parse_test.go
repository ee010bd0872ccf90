package message

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func mustParse(t *testing.T, raw string, opts Options) *Message {
	t.Helper()
	m, err := ParseBytes([]byte(raw), opts)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

func hasWarning(m *Message, code WarningCode) bool {
	for _, w := range m.Warnings {
		if w.Code == code {
			return true
		}
	}
	return false
}

func TestSubjectDecoding(t *testing.T) {
	tests := []struct {
		name, raw, want string
		warn            WarningCode
	}{
		{"utf-8 B", "=?UTF-8?B?SGVsbG8g8J+Ri/CfjI0=?=", "Hello 👋🌍", ""},
		{"iso-8859-1 Q", "=?iso-8859-1?Q?Caf=E9_cr=E8me?=", "Café crème", ""},
		{"windows-1251", "=?windows-1251?B?z/Do4uXy?=", "Привет", ""},
		{"koi8-r", "=?koi8-r?B?8NLJ18XU?=", "Привет", ""},
		{"iso-2022-jp", "=?ISO-2022-JP?B?GyRCJTUlJCVIGyhC?=", "サイト", ""},
		{"shift_jis", "=?shift_jis?B?g1SDQ4Nn?=", "サイト", ""},
		{"gb2312", "=?gb2312?B?xOO6ww==?=", "你好", ""},
		{"big5", "=?big5?B?p0Gmbg==?=", "你好", ""},
		{"adjacent words joined", "=?utf-8?Q?a?= =?utf-8?Q?b?=", "ab", ""},
		{"mixed with plain", "Re: =?utf-8?Q?=C3=A9t=C3=A9?= report", "Re: été report", ""},
		{"unknown charset kept", "=?x-nope?Q?abc?=", "=?x-nope?Q?abc?=", ""},
		{"undeclared utf-8 kept", "Grüße aus Köln", "Grüße aus Köln", ""},
		{"undeclared latin1 guessed", "Gr\xfc\xdfe aus K\xf6ln", "Grüße aus Köln", WarnUndeclared8Bit},
		{"undeclared cp1252 quotes", "\x93quoted\x94 \x80", "\u201cquoted\u201d €", WarnUndeclared8Bit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, "From: a@example.com\r\nSubject: "+tt.raw+"\r\n\r\nbody\r\n", Options{})
			if m.Subject != tt.want {
				t.Errorf("Subject = %q, want %q", m.Subject, tt.want)
			}
			if tt.warn != "" && !hasWarning(m, tt.warn) {
				t.Errorf("missing warning %s in %v", tt.warn, m.Warnings)
			}
		})
	}
}

func TestHeaderFields(t *testing.T) {
	raw := "From nobody Mon Jan  1 00:00:00 2024\n" +
		"From: =?utf-8?Q?Jos=C3=A9?= <jose@example.com>\n" +
		"Sender: list@example.com\n" +
		"To: a@example.com, \"B, Bee\" <b@example.com>\n" +
		"Cc: broken <c@example.com, d@example.com\n" +
		"Reply-To: r@example.com\n" +
		"Date: Tue, 2 Jan 2024 10:11:12 +0100 (CET)\n" +
		"Message-ID: <id1@example.com>\n" +
		"In-Reply-To: <id0@example.com>\n" +
		"References: <a@x> <b@x>\n" +
		"\t<id0@example.com>\n" +
		"this line is no header\n" +
		"Subject: hi\n" +
		"\n" +
		"text\n"
	m := mustParse(t, raw, Options{})
	if len(m.From) != 1 || m.From[0].Name != "José" || m.From[0].Address != "jose@example.com" {
		t.Errorf("From = %v", m.From)
	}
	if m.Sender == nil || m.Sender.Address != "list@example.com" {
		t.Errorf("Sender = %v", m.Sender)
	}
	if len(m.To) != 2 || m.To[1].Name != "B, Bee" {
		t.Errorf("To = %v", m.To)
	}
	if len(m.Cc) != 2 || m.Cc[1].Address != "d@example.com" || !hasWarning(m, WarnBadAddress) {
		t.Errorf("Cc = %v, warnings %v", m.Cc, m.Warnings)
	}
	if len(m.ReplyTo) != 1 {
		t.Errorf("Reply-To = %v", m.ReplyTo)
	}
	if m.Date.IsZero() || m.Date.UTC().Hour() != 9 {
		t.Errorf("Date = %v", m.Date)
	}
	if m.MessageID != "id1@example.com" || len(m.InReplyTo) != 1 || m.InReplyTo[0] != "id0@example.com" {
		t.Errorf("ids = %q %q", m.MessageID, m.InReplyTo)
	}
	if got := strings.Join(m.References, " "); got != "a@x b@x id0@example.com" {
		t.Errorf("References = %q", got)
	}
	if m.Subject != "hi" || m.Text != "text\n" {
		t.Errorf("Subject %q Text %q", m.Subject, m.Text)
	}
	if !hasWarning(m, WarnMboxFromLine) || !hasWarning(m, WarnMalformedHeader) {
		t.Errorf("warnings = %v", m.Warnings)
	}
}

func TestLeniency(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		text     string
		html     string
		parts    int
		warnings []WarningCode
	}{
		{
			name: "bom",
			raw:  "\xef\xbb\xbfSubject: x\r\n\r\nhello\r\n",
			text: "hello\r\n", warnings: []WarningCode{WarnByteOrderMark},
		},
		{
			name: "missing closing boundary",
			raw: "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\none\n--b\n" +
				"Content-Type: application/pdf\nContent-Disposition: attachment; filename=x.pdf\n\n%PDF\n",
			text: "one", parts: 1, warnings: []WarningCode{WarnUnclosedMultipart},
		},
		{
			name: "alternative nested in mixed, bare CR",
			raw: strings.ReplaceAll("Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/alternative; boundary=i\n\n"+
				"--i\nContent-Type: text/plain\n\nplain\n--i\nContent-Type: text/html\n\n<p>html</p>\n--i--\n--o--\n", "\n", "\r"),
			text: "plain", html: "<p>html</p>", warnings: []WarningCode{WarnBareCR},
		},
		{
			name: "unknown charset",
			raw:  "Content-Type: text/plain; charset=x-martian\n\nCaf\xe9\n",
			text: "Café\n", warnings: []WarningCode{WarnUnknownCharset},
		},
		{
			name: "declared charset decoded",
			raw:  "Content-Type: text/plain; charset=iso-8859-15\nContent-Transfer-Encoding: quoted-printable\n\n=A4 5=\n0\n",
			text: "€ 50\n",
		},
		{
			name: "mislabelled base64",
			raw:  "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\nthis is not base64 at all\n",
			text: "this is not base64 at all\n", warnings: []WarningCode{WarnBadEncoding},
		},
		{
			name: "lost folding",
			raw:  "Content-Type: multipart/mixed;\nboundary=\"zz\"\n\n--zz\nContent-Type: text/plain\n\nok\n--zz--\n",
			text: "ok", warnings: []WarningCode{WarnMalformedHeader},
		},
		{
			name: "no boundary line at all",
			raw:  "Content-Type: multipart/report; boundary=gone\n\nThe notice text.\n",
			text: "The notice text.\n", warnings: []WarningCode{WarnUnclosedMultipart},
		},
		{
			name: "headerless",
			raw:  "just some words\nand more\n",
			text: "just some words\nand more\n", warnings: []WarningCode{WarnNoHeader},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.raw, Options{})
			if m.Text != tt.text || m.HTML != tt.html {
				t.Errorf("Text %q HTML %q, want %q %q", m.Text, m.HTML, tt.text, tt.html)
			}
			if len(m.Parts) != tt.parts {
				t.Errorf("%d parts, want %d", len(m.Parts), tt.parts)
			}
			for _, w := range tt.warnings {
				if !hasWarning(m, w) {
					t.Errorf("missing warning %s in %v", w, m.Warnings)
				}
			}
		})
	}
}

func TestPartsStreamAndFilenames(t *testing.T) {
	raw := "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\n" +
		"Content-Disposition: attachment; filename*=UTF-8''..%2F..%2Fetc%2Fr%C3%A9sum%C3%A9.txt\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\nSGVsbG8s\r\nIHdvcmxk\r\nIQ=\r\n" +
		"--b\r\nContent-Type: image/png; name=\"=?utf-8?Q?logo=2Epng?=\"\r\nContent-ID: <logo@x>\r\n" +
		"Content-Disposition: inline\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=3Db=\r\nc\r\n" +
		"--b--\r\n"
	m := mustParse(t, raw, Options{})
	if m.Text != "hello" || len(m.Parts) != 2 {
		t.Fatalf("Text %q, %d parts", m.Text, len(m.Parts))
	}
	att, img := m.Parts[0], m.Parts[1]
	if att.Filename != "résumé.txt" || !att.IsAttachment() {
		t.Errorf("attachment %q attachment=%v", att.Filename, att.IsAttachment())
	}
	if img.Filename != "logo.png" || img.ContentID != "logo@x" || img.IsAttachment() {
		t.Errorf("inline %q %q attachment=%v", img.Filename, img.ContentID, img.IsAttachment())
	}
	for _, c := range []struct {
		p    *Part
		want string
	}{{att, "Hello, world!"}, {img, "a=bc"}} {
		rc, err := c.p.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != c.want {
			t.Errorf("%s content %q, want %q", c.p.ContentType, b, c.want)
		}
	}
}

func TestSanitizeFilename(t *testing.T) {
	long := strings.Repeat("é", 150) + ".pdf"
	tests := []struct{ in, want string }{
		{"report.pdf", "report.pdf"},
		{"../../etc/passwd", "passwd"},
		{`C:\Users\x\evil.exe`, "evil.exe"},
		{".htaccess", "htaccess"},
		{"...", ""},
		{"a\x00b\x1fc\u202e.txt", "abc.txt"},
		{"  spaced \t name  .doc ", "spaced name .doc"},
		{"what?<>|*.txt", "what_____.txt"},
		{"bad\xffutf8.txt", "bad_utf8.txt"},
		{"trailing.", "trailing"},
	}
	for _, tt := range tests {
		if got := SanitizeFilename(tt.in); got != tt.want {
			t.Errorf("SanitizeFilename(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	got := SanitizeFilename(long)
	if len(got) > MaxFilenameBytes || !strings.HasSuffix(got, ".pdf") || !strings.HasPrefix(got, "é") {
		t.Errorf("long name -> %q (%d bytes)", got, len(got))
	}
	if strings.ContainsRune(got, '\uFFFD') {
		t.Errorf("long name cut inside a rune: %q", got)
	}
}

func nested(depth int) string {
	var b strings.Builder
	b.WriteString("Subject: deep\n")
	for i := 0; i < depth; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\n\ncore\n")
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\n", i)
	}
	return b.String()
}

func TestLimits(t *testing.T) {
	t.Run("depth", func(t *testing.T) {
		m := mustParse(t, nested(10), Options{})
		if m.Text != "core" || hasWarning(m, WarnDepthLimit) {
			t.Errorf("depth 10: Text %q warnings %v", m.Text, m.Warnings)
		}
		m = mustParse(t, nested(10), Options{MaxDepth: 3})
		if m.Text != "" || !hasWarning(m, WarnDepthLimit) || len(m.Parts) != 1 {
			t.Errorf("MaxDepth 3: Text %q parts %d warnings %v", m.Text, len(m.Parts), m.Warnings)
		}
		// Very deep input does not blow the stack.
		m = mustParse(t, nested(5000), Options{})
		if !hasWarning(m, WarnDepthLimit) {
			t.Errorf("depth 5000 without depth warning")
		}
	})
	t.Run("parts", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("Content-Type: multipart/mixed; boundary=x\n\n")
		for i := 0; i < 50; i++ {
			fmt.Fprintf(&b, "--x\nContent-Type: application/octet-stream\n\npart %d\n", i)
		}
		b.WriteString("--x--\n")
		m := mustParse(t, b.String(), Options{MaxParts: 10})
		if len(m.Parts) != 10 || !hasWarning(m, WarnPartLimit) {
			t.Errorf("%d parts, warnings %v", len(m.Parts), m.Warnings)
		}
	})
	t.Run("size", func(t *testing.T) {
		_, err := ParseBytes([]byte("Subject: x\n\n"+strings.Repeat("a", 100)), Options{MaxSize: 50})
		var pe *ParseError
		if !errors.Is(err, ErrTooLarge) || !errors.As(err, &pe) || pe.Reason != ReasonTooLarge {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("text", func(t *testing.T) {
		m := mustParse(t, "Subject: x\n\n"+strings.Repeat("é", 100), Options{MaxTextBytes: 51})
		if len(m.Text) != 50 || !hasWarning(m, WarnTextTruncated) {
			t.Errorf("Text %d bytes, warnings %v", len(m.Text), m.Warnings)
		}
	})
	t.Run("header", func(t *testing.T) {
		raw := "Subject: x\nX-Big: " + strings.Repeat("y", 5000) + "\nFrom: a@b.c\n\nbody"
		m := mustParse(t, raw, Options{MaxHeaderBytes: 1000})
		if !hasWarning(m, WarnHeaderTruncated) || m.Text != "body" || m.Header.Has("X-Big") {
			t.Errorf("warnings %v text %q", m.Warnings, m.Text)
		}
	})
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		raw    []byte
		reason Reason
		is     error
	}{
		{"empty", nil, ReasonEmpty, ErrUnreadable},
		{"binary", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00"), ReasonBinary, ErrUnreadable},
		{"only blank lines", []byte("\n\n\n"), ReasonNoHeader, ErrUnreadable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseBytes(tt.raw, Options{})
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Reason != tt.reason || !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want reason %s", err, tt.reason)
			}
		})
	}
	_, err := Parse(failingReader{}, 100, Options{})
	if !errors.Is(err, ErrIO) {
		t.Errorf("failing reader: err = %v", err)
	}
}

type failingReader struct{}

func (failingReader) ReadAt([]byte, int64) (int, error) { return 0, errors.New("disk on fire") }

func TestNoPanicOnTruncations(t *testing.T) {
	raw := []byte(nested(3) + "--b0\nContent-Type: message/rfc822\n\nSubject: inner\n\nx\n")
	for i := range raw {
		if _, err := ParseBytes(raw[:i], Options{}); err != nil && !errors.Is(err, ErrUnreadable) {
			t.Fatalf("prefix %d: %v", i, err)
		}
	}
	_ = bytes.MinRead
}

func TestHeaderWithoutBlankLine(t *testing.T) {
	raw := "Subject: x\nContent-Type: multipart/mixed; boundary=\"q\"\nThis is MIME.\n--q\nContent-Type: text/plain\n\nhello\n--q--\n"
	m := mustParse(t, raw, Options{})
	if m.Text != "hello" || m.Header.Get("Content-Type") == "text/plain" {
		t.Errorf("Text %q, warnings %v", m.Text, m.Warnings)
	}
}
