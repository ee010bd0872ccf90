package message

import (
	"bytes"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// isUTF7 reports whether a charset label names UTF-7 (RFC 2152), which
// go-message's charset tables do not decode.
func isUTF7(cs string) bool {
	switch strings.ToLower(strings.TrimSpace(cs)) {
	case "utf-7", "utf7", "unicode-1-1-utf-7", "csunicode11utf7", "x-unicode-2-0-utf-7", "x-utf-7":
		return true
	}
	return false
}

// b64index maps the base64 alphabet of RFC 2152 (the standard one, no
// padding) to its values; other bytes map to -1.
var b64index = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alpha); i++ {
		t[alpha[i]] = int8(i)
	}
	return t
}()

// decodeUTF7 decodes RFC 2152 UTF-7 to UTF-8. It is lenient: a byte that
// UTF-7 does not allow is read as windows-1252, an unpaired surrogate
// becomes U+FFFD, and bits left over at the end of a shifted run are
// dropped. ok is false when any of these was needed.
func decodeUTF7(b []byte) (string, bool) {
	var out strings.Builder
	out.Grow(len(b))
	ok := true
	var units []uint16
	flush := func() {
		for _, r := range utf16.Decode(units) {
			if r == utf8.RuneError {
				ok = false
			}
			out.WriteRune(r)
		}
		units = units[:0]
	}
	for i := 0; i < len(b); {
		c := b[i]
		if c != '+' {
			if c >= 0x80 {
				s, _ := fixText(b[i : i+1])
				out.WriteString(s)
				ok = false
			} else {
				out.WriteByte(c)
			}
			i++
			continue
		}
		i++
		if i < len(b) && b[i] == '-' { // "+-" is a literal '+'
			out.WriteByte('+')
			i++
			continue
		}
		var acc uint32
		nbits := 0
		for i < len(b) && b64index[b[i]] >= 0 {
			acc = acc<<6 | uint32(b64index[b[i]])
			nbits += 6
			if nbits >= 16 {
				nbits -= 16
				units = append(units, uint16(acc>>uint(nbits)))
				acc &= 1<<uint(nbits) - 1
			}
			i++
		}
		if nbits >= 6 || acc != 0 {
			ok = false // RFC 2152: leftover bits must be fewer than 6 and zero
		}
		flush()
		if i < len(b) && b[i] == '-' { // the '-' ending a shifted run is absorbed
			i++
		}
	}
	return out.String(), ok
}

// utf7Reader decodes a whole UTF-7 stream (header words and text bodies are
// small and bounded by the caller).
func utf7Reader(r io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	s, _ := decodeUTF7(b)
	return bytes.NewReader([]byte(s)), nil
}
