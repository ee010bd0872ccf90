package mailtest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTPSecurity is how an SMTPServer protects its connections.
type SMTPSecurity int

const (
	// SMTPPlain offers no TLS at all: it is also the server "without
	// STARTTLS" a client that requires TLS must refuse.
	SMTPPlain SMTPSecurity = iota
	// SMTPStartTLS offers STARTTLS on a plaintext connection.
	SMTPStartTLS
	// SMTPImplicitTLS speaks TLS from the first byte (SMTPS).
	SMTPImplicitTLS
)

// Reply is an SMTP reply a fault answers with, for example
// Reply{Code: 550, Enhanced: "5.1.1", Message: "no such user"}.
type Reply struct {
	Code     int
	Enhanced string // "x.y.z"; empty for the generic x.0.0
	Message  string
}

func (r Reply) smtpError() *smtp.SMTPError {
	e := &smtp.SMTPError{Code: r.Code, Message: r.Message, EnhancedCode: smtp.EnhancedCodeNotSet}
	if e.Message == "" {
		e.Message = "scripted fault"
	}
	if parts := strings.Split(r.Enhanced, "."); len(parts) == 3 {
		for i, p := range parts {
			e.EnhancedCode[i], _ = strconv.Atoi(p)
		}
	}
	return e
}

// SMTPFaults script how an SMTPServer misbehaves. The zero value is a
// healthy server. Faults can be changed while the server runs
// (SMTPServer.SetFaults); a connection reads them when it needs them.
type SMTPFaults struct {
	// Greeting, when set, is sent instead of the 220 greeting (typically
	// 421 "service not available") and the connection is closed.
	Greeting *Reply
	// Blackhole accepts the TCP connection (and, with implicit TLS, nothing
	// more) and never answers, until the client or the server closes it.
	Blackhole bool
	// RejectAuth fails every AUTH with 535 5.7.8.
	RejectAuth bool
	// EchoAuth fails every AUTH with 535 5.7.8 quoting the client's AUTH
	// data back, as some servers do: each SASL response base64-encoded as
	// it was sent and decoded (the PLAIN or XOAUTH2 blob, the LOGIN
	// password, the token). A client must keep it out of every output.
	EchoAuth bool
	// Mail answers MAIL FROM with this reply.
	Mail *Reply
	// Rcpt answers RCPT TO for the given addresses (compared
	// case-insensitively) with the reply given.
	Rcpt map[string]Reply
	// Data answers the end of DATA with this reply (the message is not
	// recorded).
	Data *Reply
	// DropInData closes the connection in the middle of DATA, after the
	// first bytes of the message arrived.
	DropInData bool
	// HangInData reads the whole message and then never answers, until
	// the server closes: a server slower than any deadline.
	HangInData bool
	// DropAfterData records the message, then closes the connection
	// instead of answering: the client cannot know the message arrived
	// (the in-flight case a retry may duplicate).
	DropAfterData bool
}

// SMTPOptions configure an SMTPServer. The zero value is a plaintext
// server without authentication.
type SMTPOptions struct {
	Security SMTPSecurity
	// CA issues the server certificate (for 127.0.0.1 and localhost) when
	// Security is not SMTPPlain; default DefaultCA().
	CA *CA
	// Users maps user names to passwords for AUTH PLAIN, LOGIN and
	// CRAM-MD5. When Users or Tokens is set, MAIL needs authentication.
	Users map[string]string
	// Tokens maps user names to the bearer token XOAUTH2 must present.
	Tokens map[string]string
	// Domain is the name in the greeting; default "mailtest.local".
	Domain string
	// Faults is the initial fault script.
	Faults SMTPFaults
	// MaxTLSVersion, when set, caps the TLS version the server speaks
	// (tls.VersionTLS11 for a server a client requiring TLS 1.2 must
	// refuse); MinTLSVersion lowers its floor (default TLS 1.0).
	MaxTLSVersion, MinTLSVersion uint16
}

// SMTPMessage is a message the server accepted.
type SMTPMessage struct {
	From string
	To   []string
	// Data is the message as received (headers and body, CRLF line ends,
	// dot-unstuffed).
	Data []byte
	// User is the authenticated user, or "".
	User string
	// Mechanism is the SASL mechanism used, or "".
	Mechanism string
	// TLS reports whether the message arrived over TLS.
	TLS bool
	// Helo is the name the client gave in EHLO/HELO.
	Helo string
	// At is when the server accepted the message (its end of DATA).
	At time.Time
}

// SMTPServer is an in-process SMTP server on 127.0.0.1 built on
// github.com/emersion/go-smtp. It records every accepted message and obeys a
// fault script. It is safe for concurrent use.
type SMTPServer struct {
	opts  SMTPOptions
	srv   *smtp.Server
	ln    net.Listener
	host  string
	port  int
	done  chan struct{}
	wg    sync.WaitGroup
	close sync.Once

	mu       sync.Mutex
	faults   SMTPFaults
	msgs     []SMTPMessage
	changed  chan struct{}
	conns    int
	auths    int
	authFail int
	held     map[net.Conn]struct{}
	hung     int
	sessions map[*session]struct{}
	peak     int // most sessions open at once
}

// NewSMTPServer starts a server on 127.0.0.1 with a random port. Close it
// when done (t.Cleanup(s.Close)).
func NewSMTPServer(opts SMTPOptions) (*SMTPServer, error) {
	s := &SMTPServer{
		opts:     opts,
		faults:   opts.Faults,
		done:     make(chan struct{}),
		changed:  make(chan struct{}),
		held:     map[net.Conn]struct{}{},
		sessions: map[*session]struct{}{},
	}
	domain := opts.Domain
	if domain == "" {
		domain = "mailtest.local"
	}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = domain
	srv.AllowInsecureAuth = true
	srv.MaxLineLength = 4000
	srv.ErrorLog = discardLogger{}
	var tlsCfg *tls.Config
	if opts.Security != SMTPPlain {
		ca := opts.CA
		if ca == nil {
			var err error
			if ca, err = DefaultCA(); err != nil {
				return nil, err
			}
		}
		var err error
		if tlsCfg, err = ca.ServerConfig(); err != nil {
			return nil, err
		}
		if opts.MaxTLSVersion != 0 {
			tlsCfg.MaxVersion = opts.MaxTLSVersion
		}
		if opts.MinTLSVersion != 0 {
			tlsCfg.MinVersion = opts.MinTLSVersion
		} else if opts.MaxTLSVersion != 0 && opts.MaxTLSVersion < tls.VersionTLS12 {
			tlsCfg.MinVersion = tls.VersionTLS10
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("mailtest: listen: %w", err)
	}
	var inner net.Listener = ln
	switch opts.Security {
	case SMTPStartTLS:
		srv.TLSConfig = tlsCfg
	case SMTPImplicitTLS:
		inner = tls.NewListener(ln, tlsCfg)
	}
	s.srv = srv
	s.ln = ln
	addr := ln.Addr().(*net.TCPAddr)
	s.host, s.port = "127.0.0.1", addr.Port
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = srv.Serve(&faultListener{Listener: inner, s: s})
	}()
	return s, nil
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

// Addr returns "127.0.0.1:port".
func (s *SMTPServer) Addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

// Host returns "127.0.0.1".
func (s *SMTPServer) Host() string { return s.host }

// Port returns the port the server listens on.
func (s *SMTPServer) Port() int { return s.port }

// SetFaults replaces the fault script; connections already open see the
// change at their next command.
func (s *SMTPServer) SetFaults(f SMTPFaults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

func (s *SMTPServer) currentFaults() SMTPFaults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// Messages returns a copy of the messages accepted so far, in order.
func (s *SMTPServer) Messages() []SMTPMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SMTPMessage(nil), s.msgs...)
}

// WaitMessages waits until at least n messages were accepted or ctx ends,
// and returns the messages accepted so far.
func (s *SMTPServer) WaitMessages(ctx context.Context, n int) ([]SMTPMessage, error) {
	for {
		s.mu.Lock()
		if len(s.msgs) >= n {
			out := append([]SMTPMessage(nil), s.msgs...)
			s.mu.Unlock()
			return out, nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return s.Messages(), fmt.Errorf("mailtest: %d of %d messages: %w", len(s.Messages()), n, ctx.Err())
		}
	}
}

// Connections returns how many TCP connections the server accepted.
func (s *SMTPServer) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// PeakSessions returns the most SMTP sessions the server had open at the
// same moment: what a provider's limit on simultaneous connections
// (per account or per client) counts.
func (s *SMTPServer) PeakSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// AuthAttempts returns how many AUTH exchanges were attempted and how many
// of them failed.
func (s *SMTPServer) AuthAttempts() (total, failed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.auths, s.authFail
}

// Stalled returns how many connections the server is holding without
// answering (Blackhole, HangInData): the clients' attempts still pending.
func (s *SMTPServer) Stalled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held) + s.hung
}

// Close stops the server, closes every connection (held ones included) and
// waits for its goroutines.
func (s *SMTPServer) Close() error {
	var err error
	s.close.Do(func() {
		close(s.done)
		err = s.srv.Close()
		_ = s.ln.Close() // Serve may not have registered it yet
		s.mu.Lock()
		for c := range s.held {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	if errors.Is(err, smtp.ErrServerClosed) {
		err = nil
	}
	return err
}

func (s *SMTPServer) record(m SMTPMessage) {
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// faultListener applies the connect-time faults before go-smtp sees a
// connection.
type faultListener struct {
	net.Listener
	s *SMTPServer
}

func (l *faultListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		s := l.s
		s.mu.Lock()
		s.conns++
		f := s.faults
		s.mu.Unlock()
		switch {
		case f.Blackhole:
			s.hold(c)
			continue
		case f.Greeting != nil:
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				e := f.Greeting.smtpError()
				if f.Greeting.Enhanced != "" {
					_, _ = fmt.Fprintf(c, "%d %d.%d.%d %s\r\n", e.Code, e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2], e.Message)
				} else {
					_, _ = fmt.Fprintf(c, "%d %s\r\n", e.Code, e.Message)
				}
				_ = c.Close()
			}()
			continue
		}
		return c, nil
	}
}

// hold keeps c open without a word until the peer or the server closes it.
func (s *SMTPServer) hold(c net.Conn) {
	s.mu.Lock()
	s.held[c] = struct{}{}
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		raw := c
		if tc, ok := c.(*tls.Conn); ok {
			raw = tc.NetConn() // never handshake: the client waits for us
		}
		_, _ = io.Copy(io.Discard, raw)
		_ = c.Close()
		s.mu.Lock()
		delete(s.held, c)
		s.mu.Unlock()
	}()
	select {
	case <-s.done:
		_ = c.Close()
	default:
	}
}

type session struct {
	s    *SMTPServer
	conn *smtp.Conn
	user string
	mech string
	from string
	to   []string
}

func (s *SMTPServer) newSession(c *smtp.Conn) (smtp.Session, error) {
	ss := &session{s: s, conn: c}
	s.mu.Lock()
	s.sessions[ss] = struct{}{}
	s.peak = max(s.peak, len(s.sessions))
	s.mu.Unlock()
	return ss, nil
}

// DropConnections closes every open SMTP session without a word, as a
// server restarting or timing idle clients out does.
func (s *SMTPServer) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ss := range s.sessions {
		_ = ss.conn.Conn().Close()
	}
}

func (ss *session) authRequired() bool {
	return len(ss.s.opts.Users) > 0 || len(ss.s.opts.Tokens) > 0
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }
func (ss *session) Logout() error {
	ss.s.mu.Lock()
	delete(ss.s.sessions, ss)
	ss.s.mu.Unlock()
	return nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.authRequired() && ss.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	if f := ss.s.currentFaults(); f.Mail != nil {
		return f.Mail.smtpError()
	}
	ss.from, ss.to = from, nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	f := ss.s.currentFaults()
	for addr, r := range f.Rcpt {
		if strings.EqualFold(addr, to) {
			return r.smtpError()
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	f := ss.s.currentFaults()
	if f.DropInData {
		_, _ = io.CopyN(io.Discard, r, 64)
		_ = ss.conn.Conn().Close()
		return errors.New("mailtest: connection dropped in DATA")
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	if f.HangInData {
		ss.s.mu.Lock()
		ss.s.hung++
		ss.s.mu.Unlock()
		<-ss.s.done
		ss.s.mu.Lock()
		ss.s.hung--
		ss.s.mu.Unlock()
		return errors.New("mailtest: server closed")
	}
	if f.Data != nil {
		return f.Data.smtpError()
	}
	_, isTLS := ss.conn.TLSConnectionState()
	ss.s.record(SMTPMessage{
		From: ss.from, To: append([]string(nil), ss.to...), Data: buf.Bytes(),
		User: ss.user, Mechanism: ss.mech, TLS: isTLS, Helo: ss.conn.Hostname(), At: time.Now(),
	})
	if f.DropAfterData {
		_ = ss.conn.Conn().Close()
		return errors.New("mailtest: connection dropped after DATA")
	}
	return nil
}

// AuthMechanisms implements smtp.AuthSession.
func (ss *session) AuthMechanisms() []string {
	var m []string
	if len(ss.s.opts.Users) > 0 {
		m = append(m, sasl.Plain, sasl.Login, "CRAM-MD5")
	}
	if len(ss.s.opts.Tokens) > 0 {
		m = append(m, "XOAUTH2")
	}
	return m
}

// Auth implements smtp.AuthSession.
func (ss *session) Auth(mech string) (sasl.Server, error) {
	ss.s.mu.Lock()
	ss.s.auths++
	ss.s.mu.Unlock()
	f := ss.s.currentFaults()
	check := func(user string, ok bool) error {
		if f := ss.s.currentFaults(); f.RejectAuth || f.EchoAuth || !ok {
			ss.s.mu.Lock()
			ss.s.authFail++
			ss.s.mu.Unlock()
			return smtp.ErrAuthFailed
		}
		ss.user, ss.mech = user, mech
		return nil
	}
	srv, err := ss.mechanism(mech, check)
	if err != nil || !f.EchoAuth {
		return srv, err
	}
	return &echoSASL{inner: srv, mech: mech}, nil
}

func (ss *session) mechanism(mech string, check func(user string, ok bool) error) (sasl.Server, error) {
	users := ss.s.opts.Users
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error {
			want, ok := users[user]
			return check(user, ok && hmac.Equal([]byte(want), []byte(pass)))
		}), nil
	case sasl.Login:
		return &loginServer{check: func(user, pass string) error {
			want, ok := users[user]
			return check(user, ok && hmac.Equal([]byte(want), []byte(pass)))
		}}, nil
	case "CRAM-MD5":
		return &cramServer{users: users, check: check, domain: ss.s.srv.Domain}, nil
	case "XOAUTH2":
		return &smtpXOAUTH2{check: func(user, token string) error {
			want, ok := ss.s.opts.Tokens[user]
			return check(user, ok && token != "" && hmac.Equal([]byte(want), []byte(token)))
		}}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

type loginServer struct {
	step  int
	user  string
	check func(user, pass string) error
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if resp != nil { // initial response carries the user name
			l.user = string(resp)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.user = string(resp)
		l.step++
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(resp))
	}
}

type cramServer struct {
	users     map[string]string
	check     func(user string, ok bool) error
	domain    string
	challenge string
}

func (c *cramServer) Next(resp []byte) ([]byte, bool, error) {
	if c.challenge == "" {
		c.challenge = "<" + rand.Text() + "@" + c.domain + ">"
		return []byte(c.challenge), false, nil
	}
	user, digest, ok := strings.Cut(string(resp), " ")
	if !ok {
		return nil, true, c.check(user, false)
	}
	pass, known := c.users[user]
	mac := hmac.New(md5.New, []byte(pass))
	mac.Write([]byte(c.challenge))
	want := hex.EncodeToString(mac.Sum(nil))
	return nil, true, c.check(user, known && hmac.Equal([]byte(want), []byte(digest)))
}

type smtpXOAUTH2 struct {
	check func(user, token string) error
}

func (x *smtpXOAUTH2) Next(resp []byte) ([]byte, bool, error) {
	if resp == nil {
		return []byte{}, false, nil
	}
	return nil, true, x.check(parseXOAUTH2(resp))
}

// echoSASL runs a mechanism and, when it fails, refuses with a reply that
// quotes every response the client sent (EchoAuth).
type echoSASL struct {
	inner sasl.Server
	mech  string
	seen  [][]byte
}

func (e *echoSASL) Next(resp []byte) ([]byte, bool, error) {
	if resp != nil {
		e.seen = append(e.seen, append([]byte(nil), resp...))
	}
	ch, done, err := e.inner.Next(resp)
	if err == nil {
		return ch, done, nil
	}
	return nil, true, &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication failed: AUTH " + e.mech + " " + echoText(e.seen)}
}

// echoText quotes SASL responses as sent (base64) and decoded.
func echoText(seen [][]byte) string {
	var enc, dec []string
	for _, r := range seen {
		enc = append(enc, base64.StdEncoding.EncodeToString(r))
		dec = append(dec, strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return ' '
			}
			return r
		}, string(r)))
	}
	return strings.Join(enc, " ") + " [" + strings.Join(dec, " | ") + "]"
}
