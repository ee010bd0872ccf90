package pop3

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// maxLine bounds every status line and every line of a multi-line reply
// other than a message's (RFC 2449 allows 512 octets; servers send longer
// CAPA and UIDL lines rarely, never this long).
const maxLine = 8 << 10

// maxListing bounds the lines of a LIST, UIDL or CAPA reply.
const maxListing = 1 << 20

// ErrTimeout is wrapped by the errors of a command the server did not
// answer within Config.Timeout.
var ErrTimeout = errors.New("pop3: timeout")

// Caps are what the server announced in CAPA (RFC 2449).
type Caps struct {
	// CAPA is false when the server does not know the CAPA command.
	CAPA bool
	// UIDL, TOP, USER and STLS are the capabilities of those names.
	UIDL, TOP, USER, STLS bool
	// SASL lists the SASL mechanisms offered (upper case).
	SASL []string
	// Implementation is the server's IMPLEMENTATION line, if any.
	Implementation string
}

// HasSASL reports whether mech is among the SASL mechanisms.
func (c Caps) HasSASL(mech string) bool {
	for _, m := range c.SASL {
		if strings.EqualFold(m, mech) {
			return true
		}
	}
	return false
}

// replyError is a -ERR reply.
type replyError struct {
	cmd  string
	text string
	code string // RFC 2449 extended response code: AUTH, SYS/TEMP, IN-USE, LOGIN-DELAY, SYS/PERM
}

func (e *replyError) Error() string { return "pop3 " + e.cmd + ": -ERR " + e.text }

func parseReplyError(cmd, text string) *replyError {
	e := &replyError{cmd: cmd, text: text}
	if strings.HasPrefix(text, "[") {
		if i := strings.IndexByte(text, ']'); i > 0 {
			e.code = strings.ToUpper(text[1:i])
		}
	}
	return e
}

// conn is one POP3 connection in the TRANSACTION state (once authed).
type conn struct {
	nc      net.Conn
	r       *bufio.Reader
	server  string
	timeout time.Duration
	caps    Caps
	red     *transport.Redactor
	broken  bool
	// upgraded is true after STLS.
	upgraded bool
}

func newConn(nc net.Conn, server string, timeout time.Duration, red *transport.Redactor) *conn {
	return &conn{nc: nc, r: bufio.NewReaderSize(nc, maxLine), server: server, timeout: timeout, red: red}
}

// guard applies the command deadline and ctx to the connection until the
// returned stop is called.
func (c *conn) guard(ctx context.Context) (stop func()) {
	_ = c.nc.SetDeadline(time.Now().Add(c.timeout))
	cancel := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	return func() { cancel() }
}

func (c *conn) readLine() (string, error) {
	line, err := c.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		c.broken = true
		return "", fmt.Errorf("%w: a reply line longer than %d bytes", errProtocol, maxLine)
	}
	if err != nil {
		c.broken = true
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

var errProtocol = errors.New("pop3: protocol violation")

// status reads one status line: its text after +OK, or a *replyError.
func (c *conn) status(cmd string) (string, error) {
	line, err := c.readLine()
	if err != nil {
		return "", err
	}
	switch {
	case line == "+OK" || strings.HasPrefix(line, "+OK "):
		return strings.TrimPrefix(strings.TrimPrefix(line, "+OK"), " "), nil
	case line == "-ERR" || strings.HasPrefix(line, "-ERR "):
		return "", parseReplyError(cmd, strings.TrimPrefix(strings.TrimPrefix(line, "-ERR"), " "))
	case strings.HasPrefix(line, "+ ") || line == "+":
		return line, errContinue
	}
	c.broken = true
	return "", fmt.Errorf("%w: %s answered %q", errProtocol, cmd, truncate(line))
}

var errContinue = errors.New("pop3: continuation")

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

func (c *conn) send(line string) error {
	if _, err := io.WriteString(c.nc, line+"\r\n"); err != nil {
		c.broken = true
		return err
	}
	return nil
}

// cmd sends line and reads the status.
func (c *conn) cmd(ctx context.Context, name, line string) (string, error) {
	defer c.guard(ctx)()
	if err := c.send(line); err != nil {
		return "", err
	}
	return c.status(name)
}

// lines sends line and reads a multi-line reply (unstuffed), bounded.
func (c *conn) lines(ctx context.Context, name, line string) ([]string, error) {
	defer c.guard(ctx)()
	if err := c.send(line); err != nil {
		return nil, err
	}
	if _, err := c.status(name); err != nil {
		return nil, err
	}
	var out []string
	total := 0
	for {
		l, err := c.readLine()
		if err != nil {
			return nil, err
		}
		if l == "." {
			return out, nil
		}
		l = strings.TrimPrefix(l, ".")
		total += len(l)
		if total > maxListing {
			c.broken = true
			return nil, fmt.Errorf("%w: %s reply larger than %d bytes", errProtocol, name, maxListing)
		}
		out = append(out, l)
	}
}

func (c *conn) capa(ctx context.Context) error {
	ls, err := c.lines(ctx, "CAPA", "CAPA")
	var re *replyError
	if errors.As(err, &re) {
		c.caps = Caps{USER: true} // RFC 1939 server: USER is mandatory to try
		return nil
	}
	if err != nil {
		return err
	}
	caps := Caps{CAPA: true}
	for _, l := range ls {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "UIDL":
			caps.UIDL = true
		case "TOP":
			caps.TOP = true
		case "USER":
			caps.USER = true
		case "STLS":
			caps.STLS = true
		case "SASL":
			for _, m := range f[1:] {
				caps.SASL = append(caps.SASL, strings.ToUpper(m))
			}
		case "IMPLEMENTATION":
			caps.Implementation = truncate(strings.Join(f[1:], " "))
		}
	}
	c.caps = caps
	return nil
}

// stls upgrades the connection (RFC 2595).
func (c *conn) stls(ctx context.Context, cfg *tls.Config) error {
	if _, err := c.cmd(ctx, "STLS", "STLS"); err != nil {
		return err
	}
	if c.r.Buffered() > 0 { // bytes injected before the handshake
		c.broken = true
		return fmt.Errorf("%w: data after the STLS reply", errProtocol)
	}
	tc := tls.Client(c.nc, cfg)
	defer c.guard(ctx)()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.broken = true
		return err
	}
	c.nc = tc
	c.r = bufio.NewReaderSize(tc, maxLine)
	c.upgraded = true
	return nil
}

// authenticate logs in with the mailbox's credentials.
func (c *conn) authenticate(ctx context.Context, cr mailbox.Credentials) error {
	mech := cr.Mechanism
	if mech == mailbox.AuthAuto {
		switch {
		case cr.OAuth2 != nil:
			mech = mailbox.AuthXOAUTH2
		case c.caps.HasSASL("PLAIN"):
			mech = mailbox.AuthPlain
		default:
			mech = mailbox.AuthLogin
		}
	}
	switch mech {
	case mailbox.AuthPlain:
		if !c.caps.HasSASL("PLAIN") {
			return c.userPass(ctx, cr) // PLAIN's credentials, the RFC 1939 way
		}
		ir := base64.StdEncoding.EncodeToString([]byte("\x00" + cr.Username + "\x00" + cr.Password.Reveal()))
		return c.sasl(ctx, "AUTH PLAIN "+ir)
	case mailbox.AuthLogin:
		return c.userPass(ctx, cr)
	case mailbox.AuthXOAUTH2:
		if c.caps.CAPA && !c.caps.HasSASL("XOAUTH2") {
			return &transport.Error{Class: transport.Auth, Op: "auth", Err: errors.New("the server does not offer SASL XOAUTH2"), Hint: "this server does not accept OAuth2 over POP3; use a password or another server"}
		}
		tok, err := transport.AccessToken(ctx, cr.OAuth2)
		if err != nil {
			return err
		}
		c.red.AddToken(cr.Username, tok)
		err = c.sasl(ctx, "AUTH XOAUTH2 "+base64.StdEncoding.EncodeToString(transport.XOAUTH2(cr.Username, tok)))
		var re *replyError
		r, ok := cr.OAuth2.(mailbox.TokenRefresher)
		if !ok || !errors.As(err, &re) || re.code == "SYS/TEMP" || re.code == "IN-USE" || re.code == "LOGIN-DELAY" {
			return err
		}
		r.InvalidateToken()
		if tok, err = transport.AccessToken(ctx, cr.OAuth2); err != nil {
			return err
		}
		c.red.AddToken(cr.Username, tok)
		return c.sasl(ctx, "AUTH XOAUTH2 "+base64.StdEncoding.EncodeToString(transport.XOAUTH2(cr.Username, tok)))
	}
	return &transport.Error{Class: transport.Auth, Op: "auth", Err: fmt.Errorf("mechanism %q not supported over POP3", mech), Hint: "use plain, login (USER/PASS) or xoauth2"}
}

func (c *conn) userPass(ctx context.Context, cr mailbox.Credentials) error {
	if _, err := c.cmd(ctx, "USER", "USER "+cr.Username); err != nil {
		return err
	}
	_, err := c.cmd(ctx, "PASS", "PASS "+cr.Password.Reveal())
	return err
}

// sasl runs an AUTH command with an initial response (RFC 5034): a
// challenge (XOAUTH2's error report) is answered with an empty line, after
// which the server sends -ERR.
func (c *conn) sasl(ctx context.Context, line string) error {
	defer c.guard(ctx)()
	if err := c.send(line); err != nil {
		return err
	}
	for range 3 {
		_, err := c.status("AUTH")
		if !errors.Is(err, errContinue) {
			return err
		}
		if err := c.send(""); err != nil {
			return err
		}
	}
	c.broken = true
	return fmt.Errorf("%w: endless SASL challenges", errProtocol)
}

// entry is one message of a LIST or UIDL reply.
type entry struct {
	num  int
	size int64
	uidl string
}

// list runs LIST and, when offered, UIDL.
func (c *conn) list(ctx context.Context, uidl bool) ([]entry, error) {
	ls, err := c.lines(ctx, "LIST", "LIST")
	if err != nil {
		return nil, err
	}
	out := make([]entry, 0, len(ls))
	idx := make(map[int]int, len(ls))
	for _, l := range ls {
		f := strings.Fields(l)
		if len(f) < 2 {
			return nil, c.violation("LIST", l)
		}
		n, err1 := strconv.Atoi(f[0])
		sz, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || n <= 0 || sz < 0 {
			return nil, c.violation("LIST", l)
		}
		idx[n] = len(out)
		out = append(out, entry{num: n, size: sz})
	}
	if !uidl {
		return out, nil
	}
	ls, err = c.lines(ctx, "UIDL", "UIDL")
	if err != nil {
		return nil, err
	}
	for _, l := range ls {
		f := strings.Fields(l)
		if len(f) != 2 {
			return nil, c.violation("UIDL", l)
		}
		n, err := strconv.Atoi(f[0])
		i, ok := idx[n]
		if err != nil || !ok || !validUIDL(f[1]) {
			return nil, c.violation("UIDL", l)
		}
		out[i].uidl = f[1]
	}
	for _, e := range out {
		if e.uidl == "" {
			return nil, fmt.Errorf("%w: UIDL did not name message %d", errProtocol, e.num)
		}
	}
	return out, nil
}

func (c *conn) violation(cmd, line string) error {
	return fmt.Errorf("%w: %s line %q", errProtocol, cmd, truncate(line))
}

// validUIDL: 1-70 characters 0x21-0x7E (RFC 1939 section 7).
func validUIDL(s string) bool {
	if len(s) == 0 || len(s) > 70 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// retr sends RETR (or TOP n 0 with top) and returns a reader of the
// unstuffed message, which ends with io.EOF at the terminating dot and
// fails with io.ErrUnexpectedEOF when the connection ends before it. Each
// read renews the deadline; ctx aborts it. The caller reads it to the end
// (or the connection is broken) and calls done.
func (c *conn) retr(ctx context.Context, num int, top bool) (r io.Reader, done func(), err error) {
	name, line := "RETR", "RETR "+strconv.Itoa(num)
	if top {
		name, line = "TOP", "TOP "+strconv.Itoa(num)+" 0"
	}
	stop := c.guard(ctx)
	if err := c.send(line); err != nil {
		stop()
		return nil, nil, err
	}
	if _, err := c.status(name); err != nil {
		stop()
		return nil, nil, err
	}
	d := &dotReader{c: c, bol: true}
	return d, func() {
		stop()
		if !d.done {
			c.broken = true
		}
	}, nil
}

// dotReader reads a multi-line reply's data with CRLF kept, the dot
// stuffing removed, lines of any length.
type dotReader struct {
	c       *conn
	bol     bool
	done    bool
	pending []byte
}

func (d *dotReader) Read(p []byte) (int, error) {
	for len(d.pending) == 0 {
		if d.done {
			return 0, io.EOF
		}
		_ = d.c.nc.SetReadDeadline(time.Now().Add(d.c.timeout))
		line, err := d.c.r.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			if d.bol && line[0] == '.' {
				line = line[1:]
			}
			d.bol = false
		case err != nil:
			d.c.broken = true
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		default:
			if d.bol {
				if bytes.Equal(line, []byte(".\r\n")) || bytes.Equal(line, []byte(".\n")) {
					d.done = true
					return 0, io.EOF
				}
				if line[0] == '.' {
					line = line[1:]
				}
			}
			d.bol = true
		}
		d.pending = line
	}
	n := copy(p, d.pending)
	d.pending = d.pending[n:]
	return n, nil
}

func (c *conn) quit(ctx context.Context) error {
	defer func() { _ = c.nc.Close() }()
	if c.broken || ctx.Err() != nil {
		return nil
	}
	_, err := c.cmd(ctx, "QUIT", "QUIT")
	return err
}

func (c *conn) abort() { _ = c.nc.Close() }
