package imap

import (
	"bytes"
	"io"
	"regexp"
	"strconv"
	"sync"

	"github.com/correio-dev/correio/transport"
)

// redactingWriter passes the raw protocol to w with credentials removed:
// the arguments of LOGIN and AUTHENTICATE commands (a SASL initial
// response on the same line, and the literals a password or user name is
// sent as when it is not plain ASCII), every client line of a SASL
// exchange until the server's tagged answer, and, on every line of either
// side, the secrets the connection's Redactor knows (a server that echoes
// the credentials back). It works line by line; literals are counted in
// bytes.
type redactingWriter struct {
	mu   sync.Mutex
	w    io.Writer
	red  *transport.Redactor
	buf  []byte
	sasl bool // inside an AUTHENTICATE exchange
	// lit is the size of a credential literal whose bytes come next;
	// await the size of a synchronising one still waiting for the
	// server's "+" continuation.
	lit, await int
}

var (
	credCmdRe  = regexp.MustCompile(`(?i)^(\S+ (?:UID )?)(LOGIN|AUTHENTICATE)( .*)?$`)
	taggedDone = regexp.MustCompile(`(?i)^\S+ (OK|NO|BAD)\b`)
	literalRe  = regexp.MustCompile(`\{(\d+)(\+?)\}$`)
)

// maxHeld is what the writer holds waiting for a line end: longer runs
// (message literals) are passed on in pieces.
const maxHeld = 64 << 10

func newRedactingWriter(w io.Writer, red *transport.Redactor) io.Writer {
	if w == nil {
		return nil
	}
	return &redactingWriter{w: w, red: red}
}

func (r *redactingWriter) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = append(r.buf, p...)
	for {
		if r.lit > 0 {
			// A credential literal, then the rest of its command line.
			if len(r.buf) > maxHeld {
				r.buf, r.lit = r.buf[:0], 0
				if _, err := r.w.Write([]byte(transport.Redacted)); err != nil {
					return len(p), err
				}
				break
			}
			if len(r.buf) < r.lit {
				break
			}
			i := bytes.IndexByte(r.buf[r.lit:], '\n')
			if i < 0 {
				break
			}
			line := r.buf[:r.lit+i+1]
			r.lit = 0
			body := bytes.TrimRight(line, "\r\n")
			r.literalAfter(body)
			if _, err := r.w.Write(append([]byte(transport.Redacted), line[len(body):]...)); err != nil {
				return len(p), err
			}
			r.buf = r.buf[len(line):]
			continue
		}
		i := bytes.IndexByte(r.buf, '\n')
		if i < 0 {
			break
		}
		line := r.buf[:i+1]
		if _, err := r.w.Write(r.redact(line)); err != nil {
			return len(p), err
		}
		r.buf = r.buf[i+1:]
	}
	if r.lit == 0 && len(r.buf) > maxHeld { // a literal without newlines: pass it on
		_, err := r.w.Write([]byte(r.red.Redact(string(r.buf))))
		r.buf = r.buf[:0]
		return len(p), err
	}
	return len(p), nil
}

// literalAfter notes a credential literal announced at the end of body.
func (r *redactingWriter) literalAfter(body []byte) {
	m := literalRe.FindSubmatch(body)
	if m == nil {
		return
	}
	n, err := strconv.Atoi(string(m[1]))
	if err != nil || n <= 0 {
		return
	}
	if len(m[2]) > 0 { // LITERAL+: the bytes follow at once
		r.lit = n
	} else {
		r.await = n
	}
}

func (r *redactingWriter) redact(line []byte) []byte {
	body := bytes.TrimRight(line, "\r\n")
	eol := line[len(body):]
	if r.await > 0 {
		switch {
		case bytes.HasPrefix(body, []byte("+")): // go ahead: the literal follows
			r.lit, r.await = r.await, 0
		case taggedDone.Match(body): // refused
			r.await = 0
		}
		return r.secrets(line)
	}
	if m := credCmdRe.FindSubmatch(body); m != nil {
		r.literalAfter(body)
		if bytes.EqualFold(m[2], []byte("AUTHENTICATE")) {
			r.sasl = true
			// Keep the mechanism name, drop an initial response.
			f := bytes.Fields(m[3])
			out := append(append([]byte{}, m[1]...), m[2]...)
			if len(f) > 0 {
				out = append(append(out, ' '), r.secrets(f[0])...)
			}
			if len(f) > 1 {
				out = append(out, " "+transport.Redacted...)
			}
			return append(out, eol...)
		}
		return append(append(append([]byte{}, m[1]...), m[2]...), append([]byte(" "+transport.Redacted), eol...)...)
	}
	if r.sasl {
		if taggedDone.Match(body) {
			r.sasl = false
			return r.secrets(line)
		}
		if bytes.HasPrefix(body, []byte("+")) { // server challenge
			return r.secrets(line)
		}
		return append([]byte(transport.Redacted), eol...)
	}
	return r.secrets(line)
}

// secrets removes what the Redactor knows.
func (r *redactingWriter) secrets(b []byte) []byte {
	if r.red == nil {
		return b
	}
	return []byte(r.red.Redact(string(b)))
}
