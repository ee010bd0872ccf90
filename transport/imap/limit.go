package imap

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"

	"github.com/correio-dev/correio/transport"
)

// Defaults of the bounds on what a server sends (Config.MaxLine,
// Config.MaxList, Config.MaxLiteral).
const (
	// DefaultMaxLine bounds one line of a response outside literals
	// (greeting, status responses, FETCH data): 1 MiB.
	DefaultMaxLine = 1 << 20
	// DefaultMaxList bounds the messages one List returns: a larger
	// folder is listed in several rounds (the session's Wait returns at
	// once while more are left).
	DefaultMaxList = 10000
	// DefaultMaxLiteral bounds a literal outside a message fetch (a folder
	// name, an unsolicited BODY[] in a listing): 64 KiB.
	DefaultMaxLiteral = 64 << 10
)

// bodyMargin is what a BODY[] literal may exceed the message's listed size
// by (servers compute RFC822.SIZE differently): 64 KiB plus a quarter of
// the listed size, never more than MaxMessageSize plus 64 KiB.
func bodyMargin(listed int64) int64 { return 64<<10 + listed/4 }

// allowedBody is the largest BODY[] literal accepted for a message listed
// at listed bytes (0: unknown) in a mailbox whose limit is maxMsg.
func allowedBody(listed, maxMsg int64) int64 {
	hard := maxMsg + 64<<10
	if listed <= 0 {
		return hard
	}
	return min(listed+bodyMargin(listed), hard)
}

// framer is the net.Conn the IMAP client reads: it follows the framing of
// the server's stream (lines, and literals announced by "{n}" at a line's
// end) and stops the connection, before go-imap buffers anything, when a
// line outside literals exceeds maxLine or a literal announces more than
// the current allowance. A literal right after "BODY[]" is a message body
// (streamed to a spool or discarded, never buffered by go-imap): the
// session allows it up to its messages' bounds during a fetch; every other
// literal (go-imap buffers those) is allowed DefaultMaxLiteral.
//
// It misreads nothing go-imap reads: a quoted string cannot hold a line
// end, so a line ending in "{n}" is always followed by a literal (a status
// text ending so is treated as one, which only counts those bytes against
// the literal allowance rather than the line).
type framer struct {
	net.Conn
	maxLine int64

	mu      sync.Mutex
	maxLit  int64 // any literal but a message body
	maxBody int64 // a BODY[] literal
	err     error
	errUID  UID   // the UID on the line of a literal refused, if any
	readErr error // the first error of the connection's Read (EOF, reset, closed)
	// stream state (only the reading goroutine changes it, under mu)
	line   int64  // bytes of the current line outside literals
	head   []byte // the line's first bytes (up to headLen)
	tail   []byte // the line's last bytes (up to tailLen)
	litRem int64  // bytes of the current literal still to come
	hdr    int    // literal header scan: 0 none, 1 '{', 2 digits, 3 '}', 4 '}' SP, 5 CR
	num    int64
}

const (
	headLen = 128
	tailLen = 64
)

func newFramer(c net.Conn, maxLine, maxLit int64) *framer {
	return &framer{Conn: c, maxLine: maxLine, maxLit: maxLit, maxBody: maxLit}
}

// allow sets the largest literals accepted from now on: body for BODY[]
// literals, DefaultMaxLiteral for the others.
func (f *framer) allow(body int64) {
	f.mu.Lock()
	f.maxBody = max(body, DefaultMaxLiteral)
	f.mu.Unlock()
}

// Err returns the UID named on the line of a refused literal (0 when
// none) and the *transport.LimitError that stopped the connection.
func (f *framer) Err() (UID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.errUID, f.err
}

// ReadErr returns the first error the connection's Read returned (nil
// while every read succeeded): why go-imap's reader ended.
func (f *framer) ReadErr() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.readErr
}

const maxDigits = 1 << 62 / 10

func (f *framer) Read(p []byte) (int, error) {
	f.mu.Lock()
	if f.err != nil {
		defer f.mu.Unlock()
		return 0, f.err
	}
	f.mu.Unlock()
	n, err := f.Conn.Read(p)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil && f.readErr == nil {
		f.readErr = err
	}
	if lerr := f.scan(p[:n]); lerr != nil {
		f.err = lerr
		_ = f.Conn.Close()
		return 0, lerr
	}
	return n, err
}

func (f *framer) scan(b []byte) error {
	for i := 0; i < len(b); i++ {
		if f.litRem > 0 {
			k := min(f.litRem, int64(len(b)-i))
			f.litRem -= k
			i += int(k) - 1
			continue
		}
		c := b[i]
		if c == '\n' {
			if f.hdr >= 3 {
				limit := f.maxLit
				if f.bodyLiteral() {
					limit = f.maxBody
				}
				if f.num > limit {
					f.errUID = lineUID(f.head)
					return &transport.LimitError{What: "literal", Limit: limit, Got: f.num}
				}
				// The response goes on after the literal: keep its head.
				f.litRem, f.tail = f.num, f.tail[:0]
			} else {
				f.line, f.head, f.tail = 0, f.head[:0], f.tail[:0]
			}
			f.hdr, f.num = 0, 0
			continue
		}
		f.line++
		if f.line > f.maxLine {
			// A FETCH response that goes on without end after its body
			// names its message: the message is the cause.
			f.errUID = lineUID(f.head)
			return &transport.LimitError{What: "line", Limit: f.maxLine, Got: -1}
		}
		if len(f.head) < headLen {
			f.head = append(f.head, c)
		}
		if len(f.tail) == tailLen {
			copy(f.tail, f.tail[1:])
			f.tail = f.tail[:tailLen-1]
		}
		f.tail = append(f.tail, c)
		switch {
		case c == '{':
			f.hdr, f.num = 1, 0
		case c >= '0' && c <= '9' && (f.hdr == 1 || f.hdr == 2):
			f.hdr = 2
			if f.num < maxDigits {
				f.num = f.num*10 + int64(c-'0')
			}
		case c == '}' && f.hdr == 2:
			f.hdr = 3
		case c == ' ' && f.hdr == 3:
			f.hdr = 4
		case c == '\r' && (f.hdr == 3 || f.hdr == 4):
			f.hdr = 5
		default:
			f.hdr = 0
		}
	}
	return nil
}

// bodyLiteral reports whether the literal announced at the end of the
// line follows "BODY[]" (or "BODY[]<0>"): a whole message.
func (f *framer) bodyLiteral() bool {
	i := bytes.LastIndexByte(f.tail, '{')
	if i < 0 {
		return false
	}
	before := bytes.ToUpper(bytes.TrimRight(f.tail[:i], " "))
	return bytes.HasSuffix(before, []byte("BODY[]")) || bytes.HasSuffix(before, []byte("BODY[]<0>"))
}

// lineUID returns the UID a FETCH response line names ("UID 42"), or 0.
func lineUID(head []byte) UID {
	up := bytes.ToUpper(head)
	for off := 0; ; {
		i := bytes.Index(up[off:], []byte("UID "))
		if i < 0 {
			return 0
		}
		i += off
		off = i + 4
		if i > 0 && up[i-1] != ' ' && up[i-1] != '(' {
			continue
		}
		var n uint64
		j := off
		for ; j < len(up) && up[j] >= '0' && up[j] <= '9' && n < 1<<32; j++ {
			n = n*10 + uint64(up[j]-'0')
		}
		if j > off && n > 0 && n < 1<<32 {
			return UID(n)
		}
	}
}

// prefixConn reads prefix before the connection's own bytes.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// maxPreTLSLines bounds the untagged lines a server may send before it
// answers STARTTLS.
const maxPreTLSLines = 64

// startTLS reads the greeting, runs STARTTLS and the TLS handshake on raw,
// reading byte by byte so that nothing the server sends before TLS is
// taken as TLS data, and every line is bounded. The plaintext exchange goes
// to debug (the redacting writer) when set.
func (s *Session) startTLS(raw net.Conn, cfg *tls.Config, debug io.Writer) (*tls.Conn, error) {
	maxLine := s.cfg.maxLine()
	readLine := func() (string, error) {
		var b []byte
		one := make([]byte, 1)
		for {
			if _, err := io.ReadFull(raw, one); err != nil {
				return "", err
			}
			if one[0] == '\n' {
				if debug != nil {
					_, _ = debug.Write(append(b, '\n'))
				}
				return strings.TrimRight(string(b), "\r"), nil
			}
			b = append(b, one[0])
			if int64(len(b)) > maxLine {
				return "", &transport.Error{Class: transport.Protocol, Op: "greeting", Err: &transport.LimitError{What: "line", Limit: maxLine, Got: -1},
					Hint: "the server sent more than IMAP allows here; it is broken or hostile"}
			}
		}
	}
	greeting, err := readLine()
	if err != nil {
		return nil, err
	}
	switch up := strings.ToUpper(greeting); {
	case strings.HasPrefix(up, "* PREAUTH"):
		return nil, &transport.Error{Class: transport.TLS, Op: "starttls", Err: errors.New("server sent PREAUTH on an unencrypted connection"),
			Hint: "a server that logs in before STARTTLS cannot be protected; use implicit TLS"}
	case !strings.HasPrefix(up, "* OK"):
		return nil, &transport.Error{Class: transport.Temporary, Op: "greeting", Message: greeting, Err: errors.New("no OK greeting"),
			Hint: "the server did not greet; check the port and security setting"}
	}
	const cmd = "C0 STARTTLS\r\n"
	if debug != nil {
		_, _ = debug.Write([]byte(cmd))
	}
	if _, err := io.WriteString(raw, cmd); err != nil {
		return nil, err
	}
	for i := 0; ; i++ {
		if i > maxPreTLSLines {
			return nil, &transport.Error{Class: transport.Protocol, Op: "starttls", Err: &transport.LimitError{What: "responses", Limit: maxPreTLSLines, Got: int64(i)},
				Hint: "the server sent more than IMAP allows here; it is broken or hostile"}
		}
		line, err := readLine()
		if err != nil {
			return nil, err
		}
		tag, rest, _ := strings.Cut(line, " ")
		if tag != "C0" {
			continue // untagged data before the answer
		}
		if st, _, _ := strings.Cut(strings.ToUpper(rest), " "); st != "OK" {
			return nil, &transport.Error{Class: transport.TLS, Op: "starttls", Message: line, Err: errors.New("STARTTLS refused"),
				Hint: "the TLS handshake failed or the server offers no STARTTLS; check the security setting, port and certificate"}
		}
		break
	}
	tc := tls.Client(raw, cfg)
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	return tc, nil
}
