package message

import (
	"bytes"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// latinLike lists charset labels whose text is read as windows-1252 (what
// browsers do for them too) unless it is valid UTF-8.
var latinLike = map[string]bool{
	"": true, "us-ascii": true, "ascii": true, "utf-8": true, "utf8": true,
	"iso-8859-1": true, "iso8859-1": true, "latin1": true, "l1": true, "latin-1": true,
	"windows-1252": true, "cp1252": true, "x-unknown": true, "unknown-8bit": true,
	"unknown": true, "default": true, "x-user-defined": true, "iso_8859-1": true,
}

// mislabelled lists, for 7-bit or legacy CJK labels, the 8-bit encodings
// such text is commonly in when the label is wrong.
var mislabelled = map[string][]string{
	"iso-2022-jp": {"euc-jp", "shift_jis"},
	"iso-2022-kr": {"euc-kr"},
	"euc-jp":      {"shift_jis"},
	"shift_jis":   {"euc-jp"},
	"gb2312":      {"gb18030"},
	"gbk":         {"gb18030"},
	"big5":        {"big5-hkscs"},
}

func decodeWith(cs string, raw []byte) (string, bool) {
	if isUTF7(cs) {
		s, _ := decodeUTF7(raw)
		return s, true
	}
	r, err := charset.Reader(cs, bytes.NewReader(raw))
	if err != nil {
		return "", false
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return "", false
	}
	return strings.ToValidUTF8(string(out), "\uFFFD"), true
}

// decodeCharset decodes raw text in charset cs to UTF-8. code is set when
// the result is a guess (unknown charset, undeclared or mislabelled 8-bit).
func decodeCharset(cs string, raw []byte) (string, WarningCode) {
	is8bit := false
	for _, c := range raw {
		if c >= 0x80 {
			is8bit = true
			break
		}
	}
	if latinLike[cs] || !is8bit && (strings.HasPrefix(cs, "iso-8859") || strings.HasPrefix(cs, "windows-")) {
		if utf8.Valid(raw) {
			return string(raw), ""
		}
		s, _ := fixText(raw)
		if cs == "iso-8859-1" || cs == "windows-1252" || cs == "latin1" || cs == "cp1252" || cs == "iso8859-1" || cs == "iso_8859-1" {
			return s, ""
		}
		return s, WarnUndeclared8Bit
	}
	s, ok := decodeWith(cs, raw)
	if !ok {
		s, _ := fixText(raw)
		return s, WarnUnknownCharset
	}
	if is8bit && strings.ContainsRune(s, utf8.RuneError) && !bytes.Contains(raw, []byte("\uFFFD")) {
		if utf8.Valid(raw) {
			return string(raw), WarnUnknownCharset
		}
		for _, alt := range mislabelled[cs] {
			if s2, ok := decodeWith(alt, raw); ok && !strings.ContainsRune(s2, utf8.RuneError) {
				return s2, WarnUnknownCharset
			}
		}
	}
	return s, ""
}
