package mailtest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
)

// POP3Options configure a POP3Server. The zero value serves plaintext POP3
// on 127.0.0.1 with CAPA, UIDL, TOP, USER and SASL PLAIN and XOAUTH2.
type POP3Options struct {
	// TLSConfig enables STLS, or implicit TLS (POP3S) with ImplicitTLS.
	TLSConfig   *tls.Config
	ImplicitTLS bool
	// NoUIDL, NoTOP, NoCAPA and NoSASL hide those commands, to test the
	// fallbacks of a client (NoCAPA: an RFC 1939 server).
	NoUIDL, NoTOP, NoCAPA, NoSASL bool
	// Debug receives the raw protocol (credentials included).
	Debug io.Writer
}

// POP3Server is an in-process POP3 server (RFC 1939, CAPA of RFC 2449,
// STLS of RFC 2595, AUTH of RFC 5034) listening on 127.0.0.1. Each user
// has one maildrop: put mail in with Deliver, count it with Messages. A
// session sees the maildrop as it was at login and deletes at QUIT, as
// POP3 servers do.
type POP3Server struct {
	// Addr is host:port of the listener.
	Addr string

	opts POP3Options
	ln   net.Listener
	wg   sync.WaitGroup

	mu      sync.Mutex
	users   map[string]*pop3User
	conns   map[net.Conn]bool
	refuse  bool
	uidSeq  int
	logins  int
	closing bool
}

type pop3User struct {
	password string
	token    string
	msgs     []*pop3Msg
}

type pop3Msg struct {
	uidl string
	raw  []byte
}

// NewPOP3Server starts a POP3 server on 127.0.0.1:0. Close it when done.
func NewPOP3Server(opts *POP3Options) (*POP3Server, error) {
	if opts == nil {
		opts = &POP3Options{}
	}
	if opts.ImplicitTLS && opts.TLSConfig == nil {
		return nil, errors.New("mailtest: ImplicitTLS needs a TLSConfig")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &POP3Server{Addr: ln.Addr().String(), opts: *opts, ln: ln, users: map[string]*pop3User{}, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Host returns "127.0.0.1".
func (s *POP3Server) Host() string { h, _, _ := net.SplitHostPort(s.Addr); return h }

// Port returns the listening port.
func (s *POP3Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Close stops the server and its connections.
func (s *POP3Server) Close() error {
	s.mu.Lock()
	s.closing = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

// AddUser creates a user with an empty maildrop.
func (s *POP3Server) AddUser(username, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[username] = &pop3User{password: password}
}

// SetToken sets the XOAUTH2 access token accepted for username.
func (s *POP3Server) SetToken(username, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[username]; u != nil {
		u.token = token
	}
}

// SetLoginRefused makes every login fail (true) or work again.
func (s *POP3Server) SetLoginRefused(refuse bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = refuse
}

// Logins returns the number of successful logins.
func (s *POP3Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// Deliver appends raw to username's maildrop and returns its UIDL.
func (s *POP3Server) Deliver(username string, raw []byte) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[username]
	if u == nil {
		return "", ErrUnknownUser
	}
	s.uidSeq++
	m := &pop3Msg{uidl: fmt.Sprintf("%08d.mt", s.uidSeq), raw: append([]byte(nil), raw...)}
	u.msgs = append(u.msgs, m)
	return m.uidl, nil
}

// Messages returns how many messages username's maildrop holds.
func (s *POP3Server) Messages(username string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[username]
	if u == nil {
		return 0, ErrUnknownUser
	}
	return len(u.msgs), nil
}

func (s *POP3Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				_ = c.Close()
			}()
			s.serve(c)
		}()
	}
}

type pop3Conn struct {
	s     *POP3Server
	c     net.Conn
	r     *bufio.Reader
	w     *bufio.Writer
	tls   bool
	user  string
	authd bool
	drop  []*pop3Msg // the snapshot at login
	del   map[int]bool
}

func (s *POP3Server) serve(nc net.Conn) {
	pc := &pop3Conn{s: s, c: nc, del: map[int]bool{}}
	if s.opts.ImplicitTLS {
		tc := tls.Server(nc, s.opts.TLSConfig)
		if err := tc.Handshake(); err != nil {
			return
		}
		pc.c, pc.tls = tc, true
	}
	pc.reset()
	pc.reply("+OK mailtest POP3 ready")
	for {
		if pc.w.Flush() != nil {
			return
		}
		line, err := pc.r.ReadString('\n')
		if err != nil || len(line) > 1024 {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if s.opts.Debug != nil {
			fmt.Fprintf(s.opts.Debug, "C: %s\n", line)
		}
		verb, arg, _ := strings.Cut(line, " ")
		if !pc.handle(strings.ToUpper(verb), arg) {
			_ = pc.w.Flush()
			return
		}
	}
}

func (pc *pop3Conn) reset() {
	pc.r = bufio.NewReader(pc.c)
	pc.w = bufio.NewWriter(pc.c)
}

func (pc *pop3Conn) reply(format string, a ...any) {
	line := fmt.Sprintf(format, a...)
	if pc.s.opts.Debug != nil {
		fmt.Fprintf(pc.s.opts.Debug, "S: %s\n", line)
	}
	_, _ = pc.w.WriteString(line + "\r\n")
}

// msg returns the message numbered arg in the snapshot, or replies -ERR.
func (pc *pop3Conn) msg(arg string) (int, *pop3Msg) {
	n, err := strconv.Atoi(strings.Fields(arg + " x")[0])
	if err != nil || n < 1 || n > len(pc.drop) || pc.del[n] {
		pc.reply("-ERR no such message")
		return 0, nil
	}
	return n, pc.drop[n-1]
}

// handle runs one command; false ends the connection.
func (pc *pop3Conn) handle(verb, arg string) bool {
	o := pc.s.opts
	if !pc.authd {
		switch verb {
		case "CAPA":
			if o.NoCAPA {
				pc.reply("-ERR unknown command")
				return true
			}
			pc.capa()
		case "STLS":
			if o.TLSConfig == nil || o.ImplicitTLS || pc.tls {
				pc.reply("-ERR STLS not available")
				return true
			}
			pc.reply("+OK begin TLS")
			_ = pc.w.Flush()
			tc := tls.Server(pc.c, o.TLSConfig)
			if tc.Handshake() != nil {
				return false
			}
			pc.c, pc.tls = tc, true
			pc.reset()
		case "USER":
			pc.user = arg
			pc.reply("+OK")
		case "PASS":
			pc.login(pc.user, func(u *pop3User) bool { return u.password == arg })
		case "AUTH":
			return pc.auth(arg)
		case "QUIT":
			pc.reply("+OK bye")
			return false
		default:
			pc.reply("-ERR authenticate first")
		}
		return true
	}
	switch verb {
	case "CAPA":
		if o.NoCAPA {
			pc.reply("-ERR unknown command")
		} else {
			pc.capa()
		}
	case "STAT":
		n, size := 0, 0
		for i, m := range pc.drop {
			if !pc.del[i+1] {
				n++
				size += len(m.raw)
			}
		}
		pc.reply("+OK %d %d", n, size)
	case "LIST", "UIDL":
		if verb == "UIDL" && o.NoUIDL {
			pc.reply("-ERR unknown command")
			return true
		}
		field := func(m *pop3Msg) string {
			if verb == "UIDL" {
				return m.uidl
			}
			return strconv.Itoa(len(m.raw))
		}
		if arg != "" {
			if n, m := pc.msg(arg); m != nil {
				pc.reply("+OK %d %s", n, field(m))
			}
			return true
		}
		pc.reply("+OK")
		for i, m := range pc.drop {
			if !pc.del[i+1] {
				pc.reply("%d %s", i+1, field(m))
			}
		}
		pc.reply(".")
	case "RETR":
		if _, m := pc.msg(arg); m != nil {
			pc.reply("+OK %d octets", len(m.raw))
			pc.data(m.raw, -1)
		}
	case "TOP":
		if o.NoTOP {
			pc.reply("-ERR unknown command")
			return true
		}
		f := strings.Fields(arg)
		if len(f) != 2 {
			pc.reply("-ERR syntax")
			return true
		}
		lines, err := strconv.Atoi(f[1])
		if _, m := pc.msg(f[0]); m != nil && err == nil {
			pc.reply("+OK")
			pc.data(m.raw, lines)
		}
	case "DELE":
		if n, m := pc.msg(arg); m != nil {
			pc.del[n] = true
			pc.reply("+OK deleted")
		}
	case "RSET":
		pc.del = map[int]bool{}
		pc.reply("+OK")
	case "NOOP":
		pc.reply("+OK")
	case "QUIT":
		pc.commit()
		pc.reply("+OK bye")
		return false
	default:
		pc.reply("-ERR unknown command")
	}
	return true
}

func (pc *pop3Conn) capa() {
	o := pc.s.opts
	pc.reply("+OK capabilities")
	pc.reply("USER")
	if !o.NoUIDL {
		pc.reply("UIDL")
	}
	if !o.NoTOP {
		pc.reply("TOP")
	}
	if o.TLSConfig != nil && !o.ImplicitTLS && !pc.tls && !pc.authd {
		pc.reply("STLS")
	}
	if !o.NoSASL && !pc.authd {
		pc.reply("SASL PLAIN XOAUTH2")
	}
	pc.reply("IMPLEMENTATION mailtest")
	pc.reply(".")
}

func (pc *pop3Conn) login(user string, ok func(*pop3User) bool) {
	s := pc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[user]
	if s.refuse || u == nil || !ok(u) {
		pc.reply("-ERR [AUTH] invalid credentials")
		return
	}
	s.logins++
	pc.user, pc.authd = user, true
	pc.drop = append([]*pop3Msg(nil), u.msgs...)
	pc.reply("+OK logged in")
}

func (pc *pop3Conn) auth(arg string) bool {
	mech, ir, hasIR := strings.Cut(arg, " ")
	mech = strings.ToUpper(mech)
	if pc.s.opts.NoSASL || (mech != "PLAIN" && mech != "XOAUTH2") {
		pc.reply("-ERR unsupported mechanism")
		return true
	}
	if !hasIR {
		pc.reply("+ ")
		_ = pc.w.Flush()
		l, err := pc.r.ReadString('\n')
		if err != nil {
			return false
		}
		ir = strings.TrimRight(l, "\r\n")
	}
	if ir == "*" {
		pc.reply("-ERR cancelled")
		return true
	}
	b, err := base64.StdEncoding.DecodeString(ir)
	if err != nil {
		pc.reply("-ERR bad base64")
		return true
	}
	switch mech {
	case "PLAIN":
		parts := bytes.SplitN(b, []byte{0}, 3)
		if len(parts) != 3 {
			pc.reply("-ERR bad PLAIN response")
			return true
		}
		pass := string(parts[2])
		pc.login(string(parts[1]), func(u *pop3User) bool { return u.password == pass })
	case "XOAUTH2":
		// user=<u>\x01auth=Bearer <token>\x01\x01
		var user, token string
		for _, kv := range strings.Split(string(b), "\x01") {
			if v, ok := strings.CutPrefix(kv, "user="); ok {
				user = v
			}
			if v, ok := strings.CutPrefix(kv, "auth=Bearer "); ok {
				token = v
			}
		}
		s := pc.s
		s.mu.Lock()
		u := s.users[user]
		good := !s.refuse && u != nil && u.token != "" && u.token == token
		s.mu.Unlock()
		if !good {
			// RFC 7628 style: an error challenge, answered by an empty line.
			pc.reply("+ %s", base64.StdEncoding.EncodeToString([]byte(`{"status":"401"}`)))
			_ = pc.w.Flush()
			if _, err := pc.r.ReadString('\n'); err != nil {
				return false
			}
			pc.reply("-ERR [AUTH] invalid token")
			return true
		}
		pc.login(user, func(*pop3User) bool { return true })
	}
	return true
}

// data writes raw dot-stuffed, CRLF line endings, ending with the dot
// line; top >= 0 sends the header section and top lines of the body.
func (pc *pop3Conn) data(raw []byte, top int) {
	inBody, bodyLines := false, 0
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i+1], raw[i+1:]
		} else {
			raw = nil
		}
		content := bytes.TrimRight(line, "\r\n")
		if top >= 0 && inBody {
			if bodyLines >= top {
				break
			}
			bodyLines++
		}
		if bytes.HasPrefix(content, []byte(".")) {
			_ = pc.w.WriteByte('.')
		}
		_, _ = pc.w.Write(content)
		_, _ = pc.w.WriteString("\r\n")
		if len(content) == 0 {
			inBody = true
		}
	}
	pc.reply(".")
}

// commit removes the messages deleted in this session.
func (pc *pop3Conn) commit() {
	if len(pc.del) == 0 {
		return
	}
	s := pc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[pc.user]
	if u == nil {
		return
	}
	gone := map[*pop3Msg]bool{}
	for n := range pc.del {
		gone[pc.drop[n-1]] = true
	}
	kept := u.msgs[:0]
	for _, m := range u.msgs {
		if !gone[m] {
			kept = append(kept, m)
		}
	}
	u.msgs = kept
}
