package message

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// CleanHeaderText makes decoded header text safe to reuse in a header, a
// log line or a user interface: CR, LF, tab, NEL and the Unicode line and
// paragraph separators become a space (a run of them one space), every
// other control character (C0, DEL, C1) is removed, invalid UTF-8 is
// replaced by U+FFFD, and surrounding space is trimmed. Printable text,
// including non-Latin scripts, is kept as is.
//
// DecodeHeaderText, and so Message.Subject, Header.Text and every display
// name of Message.From, To, Cc, ReplyTo and Sender, already return cleaned
// text; use CleanHeaderText on text taken from Header.Fields (raw values).
func CleanHeaderText(s string) string {
	if !needsClean(s) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	// A run of spaces holding a line break becomes one space; other runs
	// of spaces are kept as written.
	spaces, brk := 0, false
	for _, r := range s {
		switch {
		case r == '\r' || r == '\n' || r == '\t' || r == '\v' || r == '\f' || r == 0x85 || r == 0x2028 || r == 0x2029:
			brk = true
			continue
		case r == ' ':
			spaces++
			continue
		case unicode.IsControl(r):
			continue
		}
		switch {
		case brk:
			b.WriteByte(' ')
		case spaces > 0:
			b.WriteString(strings.Repeat(" ", spaces))
		}
		spaces, brk = 0, false
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// needsClean reports whether s holds anything CleanHeaderText changes
// besides surrounding space.
func needsClean(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20 || c == 0x7f:
			return true
		case c == 0xc2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9f: // C1 controls, NEL
			return true
		case c == 0xe2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xa8 || s[i+2] == 0xa9): // U+2028, U+2029
			return true
		}
	}
	return !utf8.ValidString(s) || strings.TrimSpace(s) != s
}

// bidiControls are the embedding, override and isolate controls that can
// make a display name read differently from its characters ("Trojan
// Source"); they are removed from display names.
func isBidiControl(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

// cleanName cleans a decoded display name: CleanHeaderText, bidi controls
// removed, and the quotes some clients leave around a name trimmed.
func cleanName(s string) string {
	if strings.Contains(s, "=?") {
		// Encoded words inside a quoted display name are not decoded by
		// net/mail (RFC 2047 5(3) forbids them there), but Outlook and
		// others write them: decode them as mail clients do.
		s = DecodeHeaderText(s)
	}
	s = CleanHeaderText(s)
	if strings.IndexFunc(s, isBidiControl) >= 0 {
		s = strings.Map(func(r rune) rune {
			if isBidiControl(r) {
				return -1
			}
			return r
		}, s)
	}
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	return s
}

// cleanAddress reports whether an addr-spec is usable: no control
// characters, no white space outside quotes and no RFC 2047 encoded word
// (which RFC 2047 section 5 forbids in an addr-spec: one there is an
// attempt to smuggle a different address past a decoder).
func cleanAddress(a string) bool {
	if a == "" || strings.Contains(a, "=?") && strings.Contains(a, "?=") {
		return false
	}
	for _, r := range a {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
