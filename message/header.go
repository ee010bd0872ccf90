package message

import (
	"bytes"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding/charmap"
)

// Field is one header field as found in the raw message: the name as
// written and the unfolded raw value (not RFC 2047 decoded; 8-bit bytes that
// were not valid UTF-8 are converted from windows-1252).
type Field struct {
	Name  string
	Value string
}

// Header is the ordered list of header fields of a message or part.
type Header struct {
	Fields []Field
}

// Get returns the raw value of the first field named name (case-insensitive),
// or "".
func (h *Header) Get(name string) string {
	if h == nil {
		return ""
	}
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Has reports whether a field named name is present.
func (h *Header) Has(name string) bool {
	if h == nil {
		return false
	}
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

// Values returns the raw values of all fields named name, in order.
func (h *Header) Values(name string) []string {
	if h == nil {
		return nil
	}
	var vs []string
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, name) {
			vs = append(vs, f.Value)
		}
	}
	return vs
}

// Text returns the first field named name with RFC 2047 encoded words
// decoded to UTF-8 (unknown charsets are left encoded).
func (h *Header) Text(name string) string {
	return DecodeHeaderText(h.Get(name))
}

// wordDecoder decodes RFC 2047 encoded words in every charset
// go-message/charset knows. It holds no mutable state.
var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

func charsetReader(cs string, r io.Reader) (io.Reader, error) {
	return charset.Reader(cs, r)
}

// DecodeHeaderText decodes RFC 2047 encoded words in a raw header value.
// Encoded words in unknown charsets are kept as written; malformed words are
// decoded one by one where possible.
func DecodeHeaderText(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	if s, err := wordDecoder.DecodeHeader(v); err == nil {
		return s
	}
	// Decode word by word, leaving the ones that fail.
	return encodedWordRe.ReplaceAllStringFunc(v, func(w string) string {
		if s, err := wordDecoder.Decode(w); err == nil {
			return s
		}
		return w
	})
}

var encodedWordRe = regexp.MustCompile(`=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=`)

// fixText returns b as a UTF-8 string: valid UTF-8 is kept, anything else is
// decoded as windows-1252 (a superset of latin1 for printable text). It
// reports whether a guess was needed.
func fixText(b []byte) (string, bool) {
	if utf8.Valid(b) {
		return string(b), false
	}
	s, err := charmap.Windows1252.NewDecoder().Bytes(b)
	if err != nil {
		return string(bytes.ToValidUTF8(b, []byte("\uFFFD"))), true
	}
	return string(s), true
}

// parseHeaderBlock parses header fields from raw bytes (used for embedded
// headers and delivery-status blocks). It stops at the first empty line and
// returns the rest.
func parseHeaderBlock(b []byte) (Header, []byte) {
	var h Header
	var cur []byte
	flush := func() {
		if cur != nil {
			if f, ok := splitField(cur); ok {
				h.Fields = append(h.Fields, f)
			}
			cur = nil
		}
	}
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		var line []byte
		if i < 0 {
			line, b = b, nil
		} else {
			line, b = b[:i], b[i+1:]
		}
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			flush()
			return h, b
		}
		if line[0] == ' ' || line[0] == '\t' {
			if cur != nil {
				cur = append(cur, line...)
			}
			continue
		}
		flush()
		cur = append([]byte(nil), line...)
	}
	flush()
	return h, nil
}

// splitField splits an unfolded header line into name and value. It accepts
// whitespace between the name and the colon.
func splitField(line []byte) (Field, bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return Field{}, false
	}
	name := bytes.TrimRight(line[:i], " \t")
	if len(name) == 0 || len(name) > 200 {
		return Field{}, false
	}
	for _, c := range name {
		if c <= ' ' || c >= 0x7f {
			return Field{}, false
		}
	}
	v, _ := fixText(bytes.TrimSpace(line[i+1:]))
	return Field{Name: string(name), Value: v}, true
}

// isFieldLine reports whether a line starts a header field.
func isFieldLine(line []byte) bool {
	_, ok := splitField(line)
	return ok
}

var addrSpecRe = regexp.MustCompile(`[^\s<>,;:"'()\[\]]+@[^\s<>,;:"'()\[\]]+`)

// parseAddressList parses an address list leniently. ok is false when the
// strict parser failed and addresses were salvaged.
func parseAddressList(v string) ([]*mail.Address, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, true
	}
	p := mail.AddressParser{WordDecoder: wordDecoder}
	if l, err := p.ParseList(v); err == nil {
		return l, true
	}
	// Try each comma/semicolon separated element.
	var out []*mail.Address
	for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' }) {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if a, err := p.Parse(s); err == nil {
			out = append(out, a)
			continue
		}
		if m := addrSpecRe.FindString(s); m != "" {
			name := strings.TrimSpace(strings.Trim(strings.Replace(s, m, "", 1), " \t<>\"'"))
			out = append(out, &mail.Address{Name: DecodeHeaderText(name), Address: strings.Trim(m, ".")})
		}
	}
	return out, false
}

var dateLayouts = []string{
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 MST",
	"Mon, 2 Jan 2006 15:04 -0700",
	"2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 06 15:04:05 -0700",
	"Mon Jan 2 15:04:05 2006",
	"Mon Jan 2 15:04:05 MST 2006",
	"Mon, 2 Jan 2006 15:04:05",
	"2006-01-02 15:04:05 -0700",
	time.RFC3339,
}

// parseDate parses a Date header leniently.
func parseDate(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if t, err := mail.ParseDate(v); err == nil {
		return t, true
	}
	// Drop a trailing comment like "(PST)" and repeated spaces.
	if i := strings.IndexByte(v, '('); i > 0 {
		v = strings.TrimSpace(v[:i])
	}
	v = strings.Join(strings.Fields(v), " ")
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

var msgIDRe = regexp.MustCompile(`<[^<>\s]+>`)

// parseMsgIDs returns the message IDs (without angle brackets) in v.
func parseMsgIDs(v string) []string {
	ms := msgIDRe.FindAllString(v, -1)
	if len(ms) == 0 {
		v = strings.TrimSpace(v)
		if v == "" || strings.ContainsAny(v, " \t") {
			return nil
		}
		return []string{strings.Trim(v, "<>")}
	}
	ids := make([]string, 0, len(ms))
	for _, m := range ms {
		ids = append(ids, m[1:len(m)-1])
	}
	return ids
}

func firstMsgID(v string) string {
	if ids := parseMsgIDs(v); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// parseParams parses media type parameters leniently, used when
// mime.ParseMediaType rejects the value.
func parseParams(v string) (string, map[string]string) {
	parts := splitUnquoted(v, ';')
	mt := strings.ToLower(strings.TrimSpace(parts[0]))
	params := map[string]string{}
	for _, p := range parts[1:] {
		k, val, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' {
			val = strings.TrimSuffix(val[1:], `"`)
			val = strings.ReplaceAll(val, `\"`, `"`)
		}
		if k == "" {
			continue
		}
		if _, dup := params[k]; !dup {
			params[k] = val
		}
	}
	return mt, params
}

func splitUnquoted(s string, sep byte) []string {
	var out []string
	inq := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			inq = !inq
		case '\\':
			if inq {
				i++
			}
		case sep:
			if !inq {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// parseMediaType parses a Content-Type or Content-Disposition value,
// falling back to a lenient parser. ok is false when the fallback was used.
func parseMediaType(v string) (string, map[string]string, bool) {
	if strings.TrimSpace(v) == "" {
		return "", map[string]string{}, true
	}
	mt, params, err := mime.ParseMediaType(v)
	if err == nil {
		return mt, params, true
	}
	lmt, lparams := parseParams(v)
	if mt == "" {
		mt = lmt
	}
	return mt, lparams, false
}
