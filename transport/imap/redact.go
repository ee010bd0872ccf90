package imap

import (
	"bytes"
	"io"
	"regexp"
	"sync"
)

// redactingWriter passes the raw protocol to w with credentials removed:
// the arguments of LOGIN and AUTHENTICATE commands (and a SASL initial
// response on the same line), and every client line of a SASL exchange
// until the server's tagged answer. It works line by line.
type redactingWriter struct {
	mu   sync.Mutex
	w    io.Writer
	buf  []byte
	sasl bool // inside an AUTHENTICATE exchange
}

var (
	credCmdRe  = regexp.MustCompile(`(?i)^(\S+ (?:UID )?)(LOGIN|AUTHENTICATE)( .*)?$`)
	taggedDone = regexp.MustCompile(`(?i)^\S+ (OK|NO|BAD)\b`)
)

func newRedactingWriter(w io.Writer) io.Writer {
	if w == nil {
		return nil
	}
	return &redactingWriter{w: w}
}

func (r *redactingWriter) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = append(r.buf, p...)
	for {
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
	if len(r.buf) > 64<<10 { // a literal without newlines: pass it on
		_, err := r.w.Write(r.redact(r.buf))
		r.buf = r.buf[:0]
		return len(p), err
	}
	return len(p), nil
}

func (r *redactingWriter) redact(line []byte) []byte {
	body := bytes.TrimRight(line, "\r\n")
	eol := line[len(body):]
	if m := credCmdRe.FindSubmatch(body); m != nil {
		if bytes.EqualFold(m[2], []byte("AUTHENTICATE")) {
			r.sasl = true
			// Keep the mechanism name, drop an initial response.
			f := bytes.Fields(m[3])
			out := append(append([]byte{}, m[1]...), m[2]...)
			if len(f) > 0 {
				out = append(append(out, ' '), f[0]...)
			}
			if len(f) > 1 {
				out = append(out, " [REDACTED]"...)
			}
			return append(out, eol...)
		}
		return append(append(append([]byte{}, m[1]...), m[2]...), append([]byte(" [REDACTED]"), eol...)...)
	}
	if r.sasl {
		if taggedDone.Match(body) {
			r.sasl = false
			return line
		}
		if bytes.HasPrefix(body, []byte("+")) { // server challenge
			return line
		}
		return append([]byte("[REDACTED]"), eol...)
	}
	return line
}
