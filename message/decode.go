package message

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// base64Reader decodes base64 leniently: line breaks and spaces are
// skipped, other characters outside the alphabet (garbage) are skipped and
// counted, padding ends a group (so base64 encodings pasted one after the
// other decode each), and a trailing partial group is decoded as far as it
// goes.
type base64Reader struct {
	r    io.Reader
	in   [4096]byte
	quad [4]byte
	nq   int
	out  []byte
	buf  [3072 + 6]byte
	err  error
	bad  int // garbage bytes skipped, plus damaged groups
}

// damage reports how many defects the decoder worked around.
func (d *base64Reader) damage() int { return d.bad }

var b64val = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alpha); i++ {
		t[alpha[i]] = byte(i)
	}
	t['-'], t['_'] = 62, 63 // URL-safe alphabet, seen in the wild
	return t
}()

func (d *base64Reader) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		n, err := d.r.Read(d.in[:])
		o := d.buf[:0]
		for _, c := range d.in[:n] {
			v := b64val[c]
			if v == 0xff {
				switch c {
				case '=':
					// Padding ends the group: keep what it holds.
					switch d.nq {
					case 1:
						d.bad++
					case 2:
						o = append(o, d.quad[0]<<2|d.quad[1]>>4)
					case 3:
						o = append(o, d.quad[0]<<2|d.quad[1]>>4, d.quad[1]<<4|d.quad[2]>>2)
					}
					d.nq = 0
				case '\r', '\n', ' ', '\t', '\f', '\v':
				default:
					d.bad++
				}
				continue
			}
			d.quad[d.nq] = v
			d.nq++
			if d.nq == 4 {
				o = append(o, d.quad[0]<<2|d.quad[1]>>4, d.quad[1]<<4|d.quad[2]>>2, d.quad[2]<<6|d.quad[3])
				d.nq = 0
			}
		}
		if err != nil {
			switch d.nq {
			case 1:
				d.bad++
			case 2:
				o = append(o, d.quad[0]<<2|d.quad[1]>>4)
			case 3:
				o = append(o, d.quad[0]<<2|d.quad[1]>>4, d.quad[1]<<4|d.quad[2]>>2)
			}
			d.nq = 0
			d.err = err
		}
		d.out = o
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

// qpReader decodes quoted-printable leniently, line by line: malformed escapes
// are kept literally instead of failing, and counted.
type qpReader struct {
	br  *bufio.Reader
	out []byte // decoded, not read yet: the tail of buf
	buf []byte // the decoded line, reused from line to line
	err error
	bad int // malformed escapes kept literally
}

// damage reports how many defects the decoder worked around.
func (q *qpReader) damage() int { return q.bad }

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func (q *qpReader) Read(p []byte) (int, error) {
	for len(q.out) == 0 {
		if q.err != nil {
			return 0, q.err
		}
		line, err := q.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			err = nil
		}
		q.err = err
		q.out = q.buf[:0]
		// Split off the line ending and trailing whitespace.
		end := len(line)
		hardBreak := false
		if end > 0 && line[end-1] == '\n' {
			end--
			hardBreak = true
			if end > 0 && line[end-1] == '\r' {
				end--
			}
		}
		body := line[:end]
		if hardBreak {
			for len(body) > 0 && (body[len(body)-1] == ' ' || body[len(body)-1] == '\t') {
				body = body[:len(body)-1]
			}
		}
		soft := false
		if len(body) > 0 && body[len(body)-1] == '=' {
			soft = true
			body = body[:len(body)-1]
		}
		for i := 0; i < len(body); i++ {
			c := body[i]
			if c == '=' {
				if i+2 < len(body) {
					h, ok1 := unhex(body[i+1])
					l, ok2 := unhex(body[i+2])
					if ok1 && ok2 {
						q.out = append(q.out, h<<4|l)
						i += 2
						continue
					}
				}
				q.bad++
			}
			q.out = append(q.out, c)
		}
		if hardBreak && !soft {
			q.out = append(q.out, '\n')
		}
		q.buf = q.out
	}
	n := copy(p, q.out)
	q.out = q.out[n:]
	return n, nil
}

// transferDecoder wraps r, an encoded body of size bytes (-1 when not
// known), with a decoder for the Content-Transfer-Encoding enc. known is
// false for an unknown encoding (r is returned as is).
func transferDecoder(enc string, r io.Reader, size int64) (io.Reader, bool) {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "base64":
		return &base64Reader{r: r}, true
	case "quoted-printable":
		// A line buffer no larger than the body: a body that fits in it
		// whole is read as with the full one.
		n := qpBufSize
		if size >= 0 && size < qpBufSize {
			n = max(int(size)+1, 16)
		}
		return &qpReader{br: bufio.NewReaderSize(r, n)}, true
	case "", "7bit", "8bit", "binary":
		return r, true
	}
	return r, false
}

// qpBufSize is the line buffer of the quoted-printable decoder.
const qpBufSize = 8192

// knownEncoding reports whether transferDecoder knows the
// Content-Transfer-Encoding enc.
func knownEncoding(enc string) bool {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "base64", "quoted-printable", "", "7bit", "8bit", "binary":
		return true
	}
	return false
}

// looksEncodedLine reports whether a trimmed line of a text body declared
// base64 is (perhaps damaged) base64: no inner spaces, at most one
// character in five outside the standard alphabet and padding, and nothing
// that marks text (a URL, a "--" separator).
func looksEncodedLine(t []byte) bool {
	if bytes.ContainsAny(t, " \t") || bytes.Contains(t, []byte("://")) || bytes.HasPrefix(t, []byte("--")) {
		return false
	}
	bad := 0
	for _, c := range t {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=') {
			bad++
		}
	}
	return bad*5 <= len(t)
}

// decodeBase64Text decodes the encoded body of a text part declared base64,
// line by line: lines of the base64 alphabet are decoded (garbage
// characters in them skipped), a block of lines of words after the last
// encoded line (a footer that a list server or a scanner appended to an
// encoded body) is kept as text after the decoded content, and other lines
// of words are skipped. damage counts the garbage characters and the lines
// skipped or kept as text. ok is false when the body is not base64 at all
// (it does not start with an encoded line, or most of its lines are words
// inside the encoded block): it is then to be read as is.
func decodeBase64Text(enc []byte) (out []byte, damage int, ok bool) {
	type ln struct {
		b    []byte
		like bool
	}
	var lines []ln
	lastLike, likes := -1, 0
	for len(enc) > 0 {
		var l []byte
		if i := bytes.IndexByte(enc, '\n'); i >= 0 {
			l, enc = enc[:i], enc[i+1:]
		} else {
			l, enc = enc, nil
		}
		t := bytes.TrimSpace(l)
		if len(t) == 0 {
			continue
		}
		like := looksEncodedLine(t)
		if like {
			lastLike = len(lines)
			likes++
		}
		lines = append(lines, ln{t, like})
	}
	if len(lines) == 0 {
		return nil, 0, true
	}
	inner := lastLike + 1 // lines up to the last encoded one
	if !lines[0].like || likes*2 < inner {
		return nil, 0, false
	}
	var b64 bytes.Buffer
	for _, l := range lines[:inner] {
		if l.like {
			b64.Write(l.b)
			b64.WriteByte('\n')
		} else {
			damage++
		}
	}
	d := &base64Reader{r: &b64}
	out, _ = io.ReadAll(d)
	damage += d.bad
	if inner < len(lines) {
		damage++
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		for _, l := range lines[inner:] {
			out = append(out, l.b...)
			out = append(out, '\n')
		}
	}
	return out, damage, true
}
