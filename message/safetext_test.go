package message

import (
	"io"
	"strings"
	"testing"
	"unicode"
)

// hasControl reports whether s holds a character CleanHeaderText removes.
func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == 0x2028 || r == 0x2029
	}) >= 0
}

func TestCleanHeaderText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a\r\nb", "a b"},
		{"a \r\n b", "a b"},
		{"a\r\n\r\nBcc: x@example.org", "a Bcc: x@example.org"},
		{"nul\x00 esc\x1b[31m del\x7f", "nul esc[31m del"},
		{"c1\u0085next\u009bx", "c1 nextx"},
		{"line\u2028sep\u2029para", "line sep para"},
		{"  trimmed\t", "trimmed"},
		{"日本語 ação", "日本語 ação"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
	}
	for _, tc := range tests {
		if got := CleanHeaderText(tc.in); got != tc.want {
			t.Errorf("CleanHeaderText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHeaderTextSafe(t *testing.T) {
	raw := "From: =?utf-8?q?Bob=0D=0AX-Evil=3A_1?= <bob@example.org>\r\n" +
		"Reply-To: =?utf-8?b?QWxpY2UNCkJjYzogZXZpbEBleGFtcGxlLm5ldA==?= <alice@example.org>\r\n" +
		"To: \"=?utf-8?q?Quoted=0AName?=\" <q@example.org>, =?utf-8?q?=E2=80=AEgnp.exe?= <r@example.org>\r\n" +
		"Subject: =?utf-8?q?Hello=0D=0ABcc=3A_x=40example=2Enet?= raw\x01ctl\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\n" +
		"Content-Disposition: attachment; filename*=utf-8''evil%0D%0AContent-Type%3A%20x.txt\r\n\r\nx\r\n" +
		"--b\r\nContent-Type: application/octet-stream; name=\"=?utf-8?q?a=0D=0Ab.pdf?=\"\r\n\r\nx\r\n" +
		"--b--\r\n"
	m := mustParse(t, raw, Options{})
	if m.Subject != "Hello Bcc: x@example.net rawctl" {
		t.Errorf("Subject %q", m.Subject)
	}
	if len(m.From) != 1 || m.From[0].Address != "bob@example.org" || m.From[0].Name != "Bob X-Evil: 1" {
		t.Errorf("From %+v", m.From)
	}
	if len(m.ReplyTo) != 1 || m.ReplyTo[0].Address != "alice@example.org" || m.ReplyTo[0].Name != "Alice Bcc: evil@example.net" {
		t.Errorf("Reply-To %+v", m.ReplyTo)
	}
	if len(m.To) != 2 || m.To[0].Name != "Quoted Name" || m.To[1].Name != "gnp.exe" {
		t.Errorf("To %+v", m.To)
	}
	if len(m.Parts) != 2 || m.Parts[0].Filename != "evil Content-Type_ x.txt" || m.Parts[1].Filename != "a b.pdf" {
		for _, p := range m.Parts {
			t.Logf("part %q", p.Filename)
		}
		t.Errorf("file names not cleaned")
	}
	for _, p := range m.Parts {
		if hasControl(p.Filename) {
			t.Errorf("file name %q holds a control character", p.Filename)
		}
	}
	if got := m.Header.Text("Subject"); got != m.Subject {
		t.Errorf("Header.Text %q != Subject %q", got, m.Subject)
	}
}

// An encoded word is display-name text: what it decodes to never becomes
// the address, and an address is found from the raw structure (RFC 5322),
// not from decoded text.
func TestAddressesParsedBeforeDecoding(t *testing.T) {
	tests := []struct {
		from, addr, name string
	}{
		{"=?utf-8?q?attacker=40evil.example=0D=0A?= <bob@example.org>", "bob@example.org", "attacker@evil.example"},
		{"=?utf-8?q?=3Cattacker=40evil.example=3E=0D=0A?= <bob@example.org>", "bob@example.org", "<attacker@evil.example>"},
		// Broken: a phrase and a bare addr-spec; the salvaged address is the
		// bare one, never the one spelled inside the encoded word.
		{"=?utf-8?q?attacker@evil.example=0D=0A?= bob@example.org", "bob@example.org", "attacker@evil.example"},
		{"=?utf-8?b?YXR0YWNrZXJAZXZpbC5leGFtcGxlDQo=?= bob@example.org", "bob@example.org", "attacker@evil.example"},
		{"\"attacker@evil.example\" bob@example.org", "bob@example.org", "attacker@evil.example"},
		// An '@' makes the "encoded word" invalid to net/mail; the address is
		// still the one in angle brackets, never the one in the word.
		{"=?utf-8?q?victim@bank.example?= <attacker@evil.example>", "attacker@evil.example", "victim@bank.example"},
		{"bob@example.org (attacker@evil.example)", "bob@example.org", ""},
	}
	for _, tc := range tests {
		m := mustParse(t, "From: "+tc.from+"\r\nSubject: x\r\n\r\nx\r\n", Options{})
		if len(m.From) != 1 || m.From[0].Address != tc.addr || !strings.Contains(m.From[0].Name, tc.name) || hasControl(m.From[0].Name) {
			t.Errorf("From: %s\n  got %+v, want address %s, name with %q", tc.from, m.From, tc.addr, tc.name)
		}
	}
	// An encoded word inside an addr-spec is forbidden (RFC 2047 section
	// 5): no address is made of it.
	m := mustParse(t, "From: =?utf-8?q?a=40evil.example=0D=0A?=@example.org\r\n\r\nx\r\n", Options{})
	if len(m.From) != 0 || !hasWarning(m, WarnBadAddress) {
		t.Errorf("From %+v, warnings %v", m.From, m.Warnings)
	}
	// A comma inside an encoded word does not split the list.
	m = mustParse(t, "To: =?utf-8?q?Smith=2C_Ann?= <ann@example.org>, bob@example.org\r\n\r\nx\r\n", Options{})
	if len(m.To) != 2 || m.To[0].Name != "Smith, Ann" || m.To[1].Address != "bob@example.org" {
		t.Errorf("To %+v", m.To)
	}
}

func TestUTF7(t *testing.T) {
	// Examples from RFC 2152 section 3 (encoded by hand).
	tests := []struct{ in, want string }{
		{"Hi Mom -+Jjo--!", "Hi Mom -\u263a-!"},
		{"+ZeVnLIqe-", "日本語"},
		{"A+ImIDkQ.", "A\u2262\u0391."},
		{"1 +- 1 = 2", "1 + 1 = 2"},
		{"+2D3fAQ-", "\U0001F701"}, // a surrogate pair
	}
	for _, tc := range tests {
		got, ok := decodeUTF7([]byte(tc.in))
		if got != tc.want || !ok {
			t.Errorf("decodeUTF7(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
	if got, ok := decodeUTF7([]byte("+2D0-x")); ok || got != "\uFFFDx" {
		t.Errorf("lone surrogate: %q, %v", got, ok)
	}
	raw := "From: a@example.org\r\nSubject: =?utf-7?q?+ZeVnLIqe-?=\r\n" +
		"Content-Type: text/plain; charset=\"UTF-7\"\r\n\r\nHi Mom -+Jjo--!\r\n"
	m := mustParse(t, raw, Options{})
	if m.Subject != "日本語" || strings.TrimSpace(m.Text) != "Hi Mom -\u263a-!" {
		t.Errorf("subject %q text %q", m.Subject, m.Text)
	}
	if hasWarning(m, WarnUnknownCharset) {
		t.Errorf("UTF-7 reported as unknown: %v", m.Warnings)
	}
}

func TestLenientTransferDecoding(t *testing.T) {
	// Garbage inside base64: skipped, the rest decoded, a typed warning.
	raw := "From: a@example.org\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"SGVsbG8g!!V29ybGQh\r\nIEl0IHdvcmtzLg*=\r\n"
	m := mustParse(t, raw, Options{})
	if m.Text != "Hello World! It works." || !hasWarning(m, WarnBadBase64) {
		t.Errorf("text %q warnings %v", m.Text, m.Warnings)
	}
	// Two encodings pasted one after the other (padding in the middle).
	m = mustParse(t, "Content-Transfer-Encoding: base64\r\n\r\nSGk=\r\nIHRoZXJl\r\n", Options{})
	if m.Text != "Hi there" || hasWarning(m, WarnBadBase64) {
		t.Errorf("text %q warnings %v", m.Text, m.Warnings)
	}
	// A footer a list server appended to an encoded body is kept as text;
	// a line of words inside the encoding is skipped.
	m = mustParse(t, "Content-Transfer-Encoding: base64\r\n\r\nSGVsbG8g\r\nnot base64 here\r\nV29ybGQh\r\n"+
		"\r\n_______________\r\nlist mailing list\r\nhttps://lists.example.org/\r\n", Options{})
	if m.Text != "Hello World!\n_______________\nlist mailing list\nhttps://lists.example.org/\n" || !hasWarning(m, WarnBadBase64) {
		t.Errorf("text %q warnings %v", m.Text, m.Warnings)
	}
	// Clean base64: no warning.
	m = mustParse(t, "Content-Transfer-Encoding: base64\r\n\r\nSGVsbG8=\r\n", Options{})
	if m.Text != "Hello" || len(m.Warnings) != 0 {
		t.Errorf("text %q warnings %v", m.Text, m.Warnings)
	}
	// Text mislabelled as base64 is read as is.
	m = mustParse(t, "Content-Transfer-Encoding: base64\r\n\r\nThis is not base64 at all.\r\n", Options{})
	if !strings.HasPrefix(m.Text, "This is not") || !hasWarning(m, WarnBadEncoding) {
		t.Errorf("text %q warnings %v", m.Text, m.Warnings)
	}
	// Damaged quoted-printable: bad escapes kept, a typed warning.
	m = mustParse(t, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"+
		"caf=C3=A9 =ZZ 100=\r\n% =4\r\n", Options{})
	if m.Text != "café =ZZ 100% =4\n" || !hasWarning(m, WarnBadQuotedPrintable) {
		t.Errorf("text %q warnings %v", m.Text, m.Warnings)
	}
	m = mustParse(t, "Content-Transfer-Encoding: quoted-printable\r\n\r\nfine=3D=\r\nok\r\n", Options{})
	if m.Text != "fine=ok\n" || len(m.Warnings) != 0 {
		t.Errorf("text %q warnings %v", m.Text, m.Warnings)
	}
	// Part.Open decodes attachments the same lenient way.
	m = mustParse(t, "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/pdf\r\n"+
		"Content-Transfer-Encoding: base64\r\n\r\nJVBE#Ri0x\r\n--b--\r\n", Options{})
	rc, err := m.Parts[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "%PDF-1" || DecodeDamage(rc) != 1 {
		t.Errorf("attachment %q, damage %d", b, DecodeDamage(rc))
	}
	if DecodeDamage(strings.NewReader("x")) != 0 {
		t.Error("damage of a plain reader")
	}
}

func TestEmptyHeaderBlock(t *testing.T) {
	// Header fields after a leading empty line are read, with a warning.
	m := mustParse(t, "\r\nFrom: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n", Options{})
	if m.Subject != "hi" || len(m.From) != 1 || !hasWarning(m, WarnEmptyHeader) || strings.TrimSpace(m.Text) != "body" {
		t.Errorf("subject %q from %v text %q warnings %v", m.Subject, m.From, m.Text, m.Warnings)
	}
	// An empty header block before a body: a warning, the body kept.
	m = mustParse(t, "\r\nJust a body.\r\n", Options{})
	if len(m.Header.Fields) != 0 || !hasWarning(m, WarnEmptyHeader) || strings.TrimSpace(m.Text) != "Just a body." {
		t.Errorf("fields %v text %q warnings %v", m.Header.Fields, m.Text, m.Warnings)
	}
	// A MIME part without header fields is normal: no warning.
	m = mustParse(t, "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\npart text\r\n--b--\r\n", Options{})
	if hasWarning(m, WarnEmptyHeader) {
		t.Errorf("warnings %v", m.Warnings)
	}
}

// RFC 2231 file names in a Content-Disposition the strict parser rejects
// (here for a stray quote) are still assembled, and cleaned.
func TestLenientRFC2231Filename(t *testing.T) {
	raw := "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/pdf\r\n" +
		"Content-Disposition: attachment; filename*0*=utf-8''Relat%C3%B3rio%0D%0A; filename*1=\" final.pdf\"; x=\"unterminated\r\n\r\nx\r\n--b--\r\n"
	m := mustParse(t, raw, Options{})
	if len(m.Parts) != 1 || m.Parts[0].Filename != "Relatório final.pdf" || !hasWarning(m, WarnBadDisposition) {
		for _, p := range m.Parts {
			t.Logf("part %q", p.Filename)
		}
		t.Errorf("warnings %v", m.Warnings)
	}
}
