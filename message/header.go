package message

import (
	"bytes"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"strconv"
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
	if isUTF7(cs) {
		return utf7Reader(r)
	}
	return charset.Reader(cs, r)
}

// DecodeHeaderText decodes RFC 2047 encoded words in a raw header value
// and cleans the result with CleanHeaderText, so no CR, LF or other control
// character comes out of it, whether written raw or encoded. Encoded words
// in unknown charsets are kept as written; malformed words are decoded one
// by one where possible.
func DecodeHeaderText(v string) string {
	if !strings.Contains(v, "=?") {
		return CleanHeaderText(v)
	}
	if s, err := wordDecoder.DecodeHeader(v); err == nil {
		return CleanHeaderText(s)
	}
	// Decode word by word, leaving the ones that fail.
	return CleanHeaderText(encodedWordRe.ReplaceAllStringFunc(v, func(w string) string {
		if s, err := wordDecoder.Decode(w); err == nil {
			return s
		}
		return w
	}))
}

var encodedWordRe = regexp.MustCompile(`=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=`)

// fixText returns b as a UTF-8 string: valid UTF-8 is kept, anything else is
// decoded as windows-1252 (a superset of latin1 for printable text). It
// reports whether a guess was needed.
func fixText(b []byte) (string, bool) {
	if utf8.Valid(b) {
		return string(b), false
	}
	// windows-1252 by table (what charmap.Windows1252's decoder does),
	// into one allocation.
	n := len(b)
	for _, c := range b {
		if c >= 0x80 {
			n += 2
		}
	}
	var sb strings.Builder
	sb.Grow(n)
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] < 0x80 {
			i++
		}
		sb.Write(b[:i])
		if i == len(b) {
			break
		}
		sb.WriteRune(cp1252[b[i]])
		b = b[i+1:]
	}
	return sb.String(), true
}

// cp1252 maps each byte to its windows-1252 character.
var cp1252 = func() (t [256]rune) {
	for i := range t {
		t[i] = charmap.Windows1252.DecodeByte(byte(i))
	}
	return t
}()

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

// encodedWordAtRe matches an encoded word that is an RFC 5322 atom (RFC
// 2047 section 5(3)): one holding a special such as '<', ',' or '@' is not
// an encoded word to the address parser, its specials are structure.
var encodedWordAtRe = regexp.MustCompile(`^=\?[^?\s()<>\[\]:;@\\,"]+\?[bBqQ]\?[^?\s()<>\[\]:;@\\,"]*\?=`)

// maskSpecials returns a copy of v of the same length in which encoded
// words, quoted strings and comments are overwritten with '_', so that the
// structure of an address list (commas, angle brackets, the addr-spec) can
// be found the way RFC 5322 reads it: from the raw text, before any RFC 2047
// decoding. A comma or an address inside an encoded word is display-name
// text, never structure.
func maskSpecials(v string) string {
	b := []byte(v)
	for i := 0; i < len(b); {
		switch c := b[i]; {
		case c == '=' && i+1 < len(b) && b[i+1] == '?':
			if loc := encodedWordAtRe.FindStringIndex(v[i:]); loc != nil {
				for j := i; j < i+loc[1]; j++ {
					b[j] = '_'
				}
				i += loc[1]
				continue
			}
			i++
		case c == '"':
			j := i + 1
			for ; j < len(b) && b[j] != '"'; j++ {
				if b[j] == '\\' {
					j++
				}
			}
			for k := i; k <= j && k < len(b); k++ {
				b[k] = '_'
			}
			i = j + 1
		case c == '(':
			depth, j := 0, i
			for ; j < len(b); j++ {
				if b[j] == '\\' {
					b[j] = '_'
					j++
					if j < len(b) {
						b[j] = '_'
					}
					continue
				}
				if b[j] == '(' {
					depth++
				} else if b[j] == ')' {
					depth--
				}
				b[j] = '_'
				if depth == 0 {
					break
				}
			}
			i = j + 1
		default:
			i++
		}
	}
	return string(b)
}

// parseAddressList parses an address list leniently. ok is false when the
// strict parser failed and addresses were salvaged. Display names are
// decoded and cleaned (CleanHeaderText); the structure is read from the raw
// text first, so an encoded word can only ever become part of a name.
func parseAddressList(v string) ([]*mail.Address, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, true
	}
	p := mail.AddressParser{WordDecoder: wordDecoder}
	if l, err := p.ParseList(v); err == nil {
		ok := true
		for _, a := range l {
			ok = ok && cleanAddress(a.Address)
		}
		if ok {
			for _, a := range l {
				a.Name = cleanName(a.Name)
			}
			return l, true
		}
	}
	// Try each comma/semicolon separated element, split where the raw text
	// has a separator outside quotes, comments, angle brackets and encoded
	// words.
	var out []*mail.Address
	masked := maskSpecials(v)
	start, angle := 0, false
	for i := 0; i <= len(masked); i++ {
		if i < len(masked) {
			switch masked[i] {
			case '<':
				angle = true
				continue
			case '>':
				angle = false
				continue
			case ',', ';':
				if angle && strings.IndexByte(masked[i:], '>') >= 0 {
					continue // inside <...>; an unclosed '<' does not hide separators
				}
				angle = false
			default:
				continue
			}
		}
		s, ms := v[start:i], masked[start:i]
		start = i + 1
		if strings.TrimSpace(s) == "" {
			continue
		}
		if a, err := p.Parse(strings.TrimSpace(s)); err == nil && cleanAddress(a.Address) {
			a.Name = cleanName(a.Name)
			out = append(out, a)
			continue
		}
		if a := salvageAddress(s, ms); a != nil {
			out = append(out, a)
		}
	}
	return out, false
}

// salvageAddress finds the address in one element of a broken address list:
// the last <...> holding an @, else the last bare addr-spec, looked for in
// the masked text so that nothing inside an encoded word, a quoted string or
// a comment is taken for the address. The rest is the display name.
func salvageAddress(s, masked string) *mail.Address {
	var lo, hi int
	if i := strings.LastIndexByte(masked, '<'); i >= 0 {
		if j := strings.IndexByte(masked[i:], '>'); j > 0 && strings.IndexByte(masked[i:i+j], '@') > 0 {
			lo, hi = i+1, i+j
		}
	}
	if hi == 0 {
		locs := addrSpecRe.FindAllStringIndex(masked, -1)
		if len(locs) == 0 {
			return nil
		}
		lo, hi = locs[len(locs)-1][0], locs[len(locs)-1][1]
	}
	addr := strings.Trim(strings.TrimSpace(s[lo:hi]), ".")
	if m := addrSpecRe.FindString(addr); m != addr || !cleanAddress(addr) {
		return nil
	}
	name := s[:lo] + " " + s[hi:]
	name = strings.TrimSpace(strings.Trim(strings.TrimSpace(name), "<>\"' \t"))
	return &mail.Address{Name: cleanName(DecodeHeaderText(name)), Address: addr}
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
	// The usual form first: mail.ParseDate tries it after others, whose
	// failures cost an error each.
	if t, err := time.Parse("Mon, 2 Jan 2006 15:04:05 -0700", v); err == nil {
		return t, true
	}
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
	joinRFC2231(params)
	return mt, params
}

// joinRFC2231 assembles RFC 2231 parameters the lenient parser found
// (name*=utf-8'en'a%20b, name*0*=..., name*1=...) into plain ones, unless the
// plain name is present too.
func joinRFC2231(params map[string]string) {
	type section struct {
		val string
		ext bool
	}
	parts := map[string]map[int]section{}
	for k, v := range params {
		i := strings.IndexByte(k, '*')
		if i <= 0 {
			continue
		}
		base, rest := k[:i], k[i+1:]
		ext := strings.HasSuffix(rest, "*") || rest == ""
		rest = strings.TrimSuffix(rest, "*")
		n := 0
		if rest != "" {
			var err error
			if n, err = strconv.Atoi(rest); err != nil || n < 0 || n > 100 {
				continue
			}
		}
		if parts[base] == nil {
			parts[base] = map[int]section{}
		}
		parts[base][n] = section{v, ext}
	}
	for base, secs := range parts {
		if _, ok := params[base]; ok {
			continue
		}
		cs := ""
		var b []byte
		for n := 0; n < len(secs); n++ {
			sec, ok := secs[n]
			if !ok {
				break
			}
			v := sec.val
			if sec.ext {
				if n == 0 {
					// charset'language'value
					if c, rest, ok := strings.Cut(v, "'"); ok {
						if _, rest2, ok := strings.Cut(rest, "'"); ok {
							cs, v = strings.ToLower(c), rest2
						}
					}
				}
				b = append(b, percentDecode(v)...)
			} else {
				b = append(b, v...)
			}
		}
		if len(b) == 0 {
			continue
		}
		s, _ := decodeCharset(cs, b)
		params[base] = s
	}
}

// percentDecode decodes %XX escapes, keeping malformed ones as written.
func percentDecode(v string) []byte {
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == '%' && i+2 < len(v) {
			h, ok1 := unhex(v[i+1])
			l, ok2 := unhex(v[i+2])
			if ok1 && ok2 {
				out = append(out, h<<4|l)
				i += 2
				continue
			}
		}
		out = append(out, v[i])
	}
	return out
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
