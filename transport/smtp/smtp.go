// Package smtp is correio's SMTP transport, built on the protocol client of
// github.com/wneessen/go-mail (its smtp subpackage).
//
// A Transport keeps, per outbound mailbox, a pool of at most
// MaxConnections live connections, reused across messages (RSET between
// them) and closed after an idle timeout. Every connection is dialed
// through transport.Net (the host's Dialer and address policy); every
// command and the DATA transfer have a deadline. Security follows the
// mailbox: implicit TLS, STARTTLS required (a server that does not offer it
// is refused), or plaintext only with the mailbox's explicit opt-in;
// certificates are verified, TLS 1.2 minimum. Authentication uses PLAIN,
// LOGIN, CRAM-MD5 or XOAUTH2 (with one token refresh and retry when the
// server refuses a token).
//
// Failures are *transport.Error values in the shared classes (temporary,
// permanent, auth, TLS, protocol, policy); when a server accepts some
// recipients and refuses others, Result lists both and the message goes
// to the accepted ones.
//
// Why the smtp subpackage rather than go-mail's Client: the Client aborts
// a message when any recipient is refused (no per-recipient results),
// does not say which step of the handshake failed, and keeps no pool; its
// protocol client does all of the SMTP work here, and go-mail's Msg builds
// the messages (see package outbound).
package smtp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	gm "github.com/wneessen/go-mail/smtp"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// Defaults of Options.
const (
	DefaultCommandTimeout = time.Minute
	DefaultDataTimeout    = 5 * time.Minute
	DefaultIdleTimeout    = time.Minute
)

// Options configure a Transport. The zero value is usable.
type Options struct {
	// Net dials every connection (Dialer, Resolver, address policy, dial
	// timeout).
	Net transport.Net
	// RootCAs, when set, replaces the system roots (tests use a mailtest
	// CA).
	RootCAs *x509.CertPool
	// CommandTimeout bounds the greeting, each command and its reply, and
	// the TLS handshake (default 1 min).
	CommandTimeout time.Duration
	// DataTimeout bounds sending a message body and reading the final
	// reply (default 5 min).
	DataTimeout time.Duration
	// IdleTimeout closes a pooled connection unused this long (default
	// 1 min).
	IdleTimeout time.Duration
	// Logger receives connection events (never secrets); default discard.
	Logger *slog.Logger
}

// Envelope is the SMTP envelope of one message: MAIL FROM and RCPT TO.
type Envelope = transport.Envelope

// RecipientError is a recipient the server refused at RCPT.
type RecipientError = transport.RecipientError

// Result of sending one message; Response is the server's reply to the end
// of DATA (often a queue id).
type Result = transport.Result

// Transport sends mail through outbound mailboxes. It is safe for
// concurrent use; Close it when done. It is the default transport.Sender of
// package outbound (and a transport.Checker): Open hands out a pooled
// connection.
type Transport struct {
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	pools  map[mailbox.ID]*pool
	closed bool
	wg     sync.WaitGroup // idle expirations in progress
}

// New returns a Transport.
func New(opts Options) *Transport {
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = DefaultCommandTimeout
	}
	if opts.DataTimeout <= 0 {
		opts.DataTimeout = DefaultDataTimeout
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Transport{opts: opts, log: log, pools: map[mailbox.ID]*pool{}}
}

// ErrClosed is returned by a closed Transport.
var ErrClosed = errors.New("smtp: transport closed")

// ErrNotOutbound is returned for a mailbox without outbound settings.
var ErrNotOutbound = errors.New("smtp: mailbox has no outbound settings")

var (
	_ transport.Sender   = (*Transport)(nil)
	_ transport.Checker  = (*Transport)(nil)
	_ transport.Outgoing = (*Conn)(nil)
)

// Open implements transport.Sender: it is Conn.
func (t *Transport) Open(ctx context.Context, mb *mailbox.Mailbox) (transport.Outgoing, error) {
	c, err := t.Conn(ctx, mb)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Validate implements transport.Checker: mailbox.Validate covers every
// SMTP setting.
func (t *Transport) Validate(mb *mailbox.Mailbox) error {
	if mb == nil {
		return &mailbox.ValidationError{Errors: []*mailbox.FieldError{{Path: "outbound", Code: mailbox.CodeRequired, Message: "no mailbox"}}}
	}
	return mb.Validate()
}

// Check implements transport.Checker with Probe.
func (t *Transport) Check(ctx context.Context, mb *mailbox.Mailbox) (transport.Report, error) {
	start := time.Now()
	r, err := t.Probe(ctx, mb)
	rep := transport.Report{Kind: mailbox.TransportSMTP, Server: r.Server, Security: r.Security, Detail: r}
	for _, f := range []transport.Fact{{Name: "greeting", Value: r.Greeting}, {Name: "tls", Value: strings.TrimSpace(r.TLSVersion + " " + r.TLSCipher)},
		{Name: "extensions", Value: strings.Join(r.Extensions, ", ")}, {Name: "auth", Value: r.AuthMechanism}} {
		if f.Value != "" {
			rep.Facts = append(rep.Facts, f)
		}
	}
	if r.Authenticated {
		rep.Facts = append(rep.Facts, transport.Fact{Name: "authenticated", Value: "yes"})
	}
	rep.Elapsed = time.Since(start)
	return rep, err
}

// Send sends one message through mb over a pooled connection.
func (t *Transport) Send(ctx context.Context, mb *mailbox.Mailbox, env Envelope, body io.WriterTo) (Result, error) {
	c, err := t.Conn(ctx, mb)
	if err != nil {
		return Result{}, err
	}
	defer c.Release()
	return c.Send(ctx, env, body)
}

// Conn returns a connection of mb's pool: an idle one, a new one while
// fewer than MaxConnections are live, or it waits for one to be released
// (until ctx ends). Release it when done; send several messages over it in
// between.
func (t *Transport) Conn(ctx context.Context, mb *mailbox.Mailbox) (*Conn, error) {
	if mb == nil || mb.Outbound == nil {
		return nil, ErrNotOutbound
	}
	p, err := t.pool(mb)
	if err != nil {
		return nil, err
	}
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		if n := len(p.idle); n > 0 {
			c := p.idle[n-1]
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			if c.timer != nil {
				c.timer.Stop()
			}
			c.mb = mb
			c.held = true
			return c, nil
		}
		if p.live < p.max {
			p.live++
			p.mu.Unlock()
			s, _, err := t.dial(ctx, mb, nil)
			if err != nil {
				p.mu.Lock()
				p.live--
				p.notify()
				p.mu.Unlock()
				return nil, err
			}
			return &Conn{t: t, p: p, s: s, mb: mb, held: true}, nil
		}
		ch := p.wake
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, &transport.Error{Class: transport.Temporary, Protocol: "smtp", Op: "pool", Server: serverOf(mb), Err: ctx.Err(), Hint: "every connection of the mailbox is busy"}
		}
	}
}

// PoolStats describe a mailbox's pool.
type PoolStats struct {
	Live, Idle, Max int
}

// Stats returns the pool figures of a mailbox.
func (t *Transport) Stats(id mailbox.ID) PoolStats {
	t.mu.Lock()
	p := t.pools[id]
	t.mu.Unlock()
	if p == nil {
		return PoolStats{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return PoolStats{Live: p.live, Idle: len(p.idle), Max: p.max}
}

// Close closes every idle connection and refuses new ones; connections in
// use are closed when released. It waits for idle closes in progress.
func (t *Transport) Close() error {
	t.mu.Lock()
	t.closed = true
	pools := t.pools
	t.pools = map[mailbox.ID]*pool{}
	t.mu.Unlock()
	for _, p := range pools {
		p.shutdown()
	}
	t.wg.Wait()
	return nil
}

func (t *Transport) pool(mb *mailbox.Mailbox) (*pool, error) {
	fp := fingerprint(mb)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ErrClosed
	}
	p := t.pools[mb.ID]
	if p != nil && p.fp == fp {
		return p, nil
	}
	if p != nil { // settings changed: retire the old pool
		old := p
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			old.shutdown()
		}()
	}
	p = &pool{t: t, fp: fp, max: mb.Outbound.MaxConnectionsOrDefault(), wake: make(chan struct{})}
	t.pools[mb.ID] = p
	return p, nil
}

func fingerprint(mb *mailbox.Mailbox) string {
	o := mb.Outbound
	c := o.Credentials
	return fmt.Sprintf("%s|%d|%s|%v|%s|%s|%s|%s|%d|%t", o.Server.Host, o.Port(), o.Server.Security, o.Server.AllowPlaintext,
		o.Server.TLSServerName, c.Username, c.Mechanism, o.HELOName, o.MaxConnectionsOrDefault(), c.OAuth2 != nil) +
		"|" + passwordTag(c.Password)
}

// passwordTag changes when the password changes without revealing it.
func passwordTag(s mailbox.Secret) string {
	h := uint64(14695981039346656037)
	for _, b := range []byte(s.Reveal()) {
		h ^= uint64(b)
		h *= 1099511628211
	}
	return strconv.FormatUint(h, 36)
}

type pool struct {
	t      *Transport
	fp     string
	mu     sync.Mutex
	max    int
	live   int
	idle   []*Conn
	wake   chan struct{}
	closed bool
}

// notify wakes waiters; callers hold p.mu.
func (p *pool) notify() {
	close(p.wake)
	p.wake = make(chan struct{})
}

func (p *pool) shutdown() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.live -= len(idle)
	p.notify()
	p.mu.Unlock()
	for _, c := range idle {
		if c.timer != nil {
			c.timer.Stop()
		}
		c.s.quit(p.t.opts.CommandTimeout)
	}
}

func (p *pool) release(c *Conn) {
	p.mu.Lock()
	if c.broken || p.closed {
		p.live--
		p.notify()
		p.mu.Unlock()
		c.s.quit(p.t.opts.CommandTimeout)
		return
	}
	p.idle = append(p.idle, c)
	c.timer = time.AfterFunc(p.t.opts.IdleTimeout, func() { p.expire(c) })
	p.notify()
	p.mu.Unlock()
}

func (p *pool) expire(c *Conn) {
	p.mu.Lock()
	for i, ic := range p.idle {
		if ic == c {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			p.live--
			p.notify()
			p.t.wg.Add(1)
			p.mu.Unlock()
			defer p.t.wg.Done()
			c.s.quit(p.t.opts.CommandTimeout)
			return
		}
	}
	p.mu.Unlock()
}

// Conn is a pooled SMTP connection, authenticated and ready to send. It is
// not safe for concurrent use: one goroutine sends over it, then releases
// it.
type Conn struct {
	t      *Transport
	p      *pool
	s      *session
	mb     *mailbox.Mailbox
	used   bool
	broken bool
	held   bool
	timer  *time.Timer
}

// Release returns the connection to its pool (or closes it when it broke).
// Calling it twice is harmless.
func (c *Conn) Release() {
	if !c.held {
		return
	}
	c.held = false
	c.p.release(c)
}

// Close implements transport.Outgoing: it is Release.
func (c *Conn) Close() error {
	c.Release()
	return nil
}

// Broken reports whether the connection failed and will be closed on
// Release.
func (c *Conn) Broken() bool { return c.broken }

// Send sends one message over the connection: RSET when the connection
// was used before, MAIL FROM, RCPT TO for each recipient, then DATA with
// body to the recipients the server accepted.
//
// It returns nil when the server accepted the message for
// Result.Accepted (Result.Rejected may still list refused recipients). It
// returns a *transport.Error when the message was not accepted: when every
// recipient was refused, Result.Rejected says why for each. An error of Op
// "data" after the body was fully written means the server may have
// received the message (the in-flight case). Once the connection is broken
// the error also matches transport.ErrBroken.
func (c *Conn) Send(ctx context.Context, env Envelope, body io.WriterTo) (Result, error) {
	res, err := c.send(ctx, env, body)
	if err != nil && c.broken {
		err = transport.Broken(err)
	}
	return res, err
}

func (c *Conn) send(ctx context.Context, env Envelope, body io.WriterTo) (Result, error) {
	var res Result
	if c.broken {
		return res, &transport.Error{Class: transport.Temporary, Protocol: "smtp", Op: "send", Server: c.s.server, Err: errors.New("connection is broken")}
	}
	if len(env.To) == 0 {
		return res, &transport.Error{Class: transport.Permanent, Protocol: "smtp", Op: "rcpt", Server: c.s.server, Err: errors.New("no recipient")}
	}
	stop := context.AfterFunc(ctx, c.s.interrupt)
	// stop changes when the session is redialled below: stop the current one.
	defer func() { stop() }()
	if c.used {
		if err := c.s.step(ctx, c.t.opts.CommandTimeout, "rset", func() error { return c.s.cl.Reset() }); err != nil {
			// The server may have dropped the idle connection: dial again.
			c.s.quit(0)
			s, _, derr := c.t.dial(ctx, c.mb, nil)
			if derr != nil {
				c.broken = true
				return res, derr
			}
			c.s = s
			stop()
			stop = context.AfterFunc(ctx, c.s.interrupt)
		}
	}
	c.used = true
	if err := c.s.step(ctx, c.t.opts.CommandTimeout, "mail", func() error { return c.s.cl.Mail("<" + env.From + ">") }); err != nil {
		return res, c.fail(err)
	}
	for _, to := range env.To {
		err := c.s.step(ctx, c.t.opts.CommandTimeout, "rcpt", func() error { return c.s.cl.Rcpt("<" + to + ">") })
		if err == nil {
			res.Accepted = append(res.Accepted, to)
			continue
		}
		var te *transport.Error
		if errors.As(err, &te) && te.Code != 0 {
			te.Message = strings.TrimSpace(te.Message)
			res.Rejected = append(res.Rejected, RecipientError{Address: to, Err: te})
			continue
		}
		return res, c.fail(err)
	}
	if len(res.Accepted) == 0 {
		_ = c.s.step(ctx, c.t.opts.CommandTimeout, "rset", func() error { return c.s.cl.Reset() })
		first := res.Rejected[0].Err
		e := *first
		e.Class = transport.Permanent
		for _, r := range res.Rejected {
			if r.Err.Class != transport.Permanent {
				e.Class = r.Err.Class
				break
			}
		}
		e.Hint = "the server refused every recipient"
		return res, &e
	}
	var w io.WriteCloser
	if err := c.s.step(ctx, c.t.opts.CommandTimeout, "data", func() error {
		var err error
		w, err = c.s.cl.Data()
		return err
	}); err != nil {
		return res, c.fail(err)
	}
	var bodyErr error
	err := c.s.step(ctx, c.t.opts.DataTimeout, "data", func() error {
		bw := &trackWriter{w: w}
		if _, err := body.WriteTo(bw); err != nil {
			if !bw.failed {
				bodyErr = err
			}
			return err
		}
		return w.Close()
	})
	if bodyErr != nil {
		c.broken = true
		return res, fmt.Errorf("smtp: reading the message body: %w", bodyErr)
	}
	if err != nil {
		return res, c.fail(err)
	}
	if dc, ok := w.(*gm.DataCloser); ok {
		res.Response = c.s.red.Redact(dc.ServerResponse())
	}
	return res, nil
}

// fail marks the connection broken unless err is a plain SMTP reply.
func (c *Conn) fail(err error) error {
	var te *transport.Error
	if !errors.As(err, &te) || te.Code == 0 || te.Code == 421 {
		c.broken = true
	}
	return err
}

type trackWriter struct {
	w      io.Writer
	failed bool
}

func (t *trackWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if err != nil {
		t.failed = true
	}
	return n, err
}

// session is one established protocol session.
type session struct {
	raw    net.Conn
	cl     *gm.Client
	server string
	greet  *greetingRecorder
	// implicit is the TLS connection of implicit TLS. The protocol client
	// reads through the greeting recorder above it, so it does not see the
	// *tls.Conn itself.
	implicit *tls.Conn
	// red removes the session's credentials from its errors and replies
	// (a server may quote them in a refusal).
	red *transport.Redactor
}

func (s *session) interrupt() { _ = s.raw.SetDeadline(time.Unix(1, 0)) }

// step runs one command with a deadline and classifies its error, with
// the session's credentials removed from it.
func (s *session) step(ctx context.Context, timeout time.Duration, op string, f func() error) error {
	return s.red.RedactError(s.stepRaw(ctx, timeout, op, f))
}

func (s *session) stepRaw(ctx context.Context, timeout time.Duration, op string, f func() error) error {
	if err := ctx.Err(); err != nil {
		return classify(op, s.server, err)
	}
	d := timeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		d = time.Until(dl)
	}
	if err := s.raw.SetDeadline(time.Now().Add(d)); err != nil {
		return classify(op, s.server, err)
	}
	if err := f(); err != nil {
		if ctx.Err() != nil {
			return classify(op, s.server, ctx.Err())
		}
		return classify(op, s.server, err)
	}
	return nil
}

// quit says QUIT (bounded by timeout, at most 5 s; zero skips it) and
// closes.
func (s *session) quit(timeout time.Duration) {
	timeout = min(timeout, 5*time.Second)
	if timeout > 0 {
		_ = s.raw.SetDeadline(time.Now().Add(timeout))
		_ = s.cl.Quit()
	}
	_ = s.cl.Close()
	_ = s.raw.Close()
}

func serverOf(mb *mailbox.Mailbox) string {
	if mb == nil || mb.Outbound == nil {
		return ""
	}
	return net.JoinHostPort(mb.Outbound.Server.Host, strconv.Itoa(mb.Outbound.Port()))
}

// greetingRecorder keeps the first line the server sends.
type greetingRecorder struct {
	net.Conn
	mu   sync.Mutex
	buf  []byte
	done bool
}

func (g *greetingRecorder) Read(p []byte) (int, error) {
	n, err := g.Conn.Read(p)
	g.mu.Lock()
	if !g.done && n > 0 {
		g.buf = append(g.buf, p[:n]...)
		if i := strings.IndexByte(string(g.buf), '\n'); i >= 0 || len(g.buf) > 1024 {
			if i < 0 {
				i = len(g.buf)
			}
			g.buf = g.buf[:i]
			g.done = true
		}
	}
	g.mu.Unlock()
	return n, err
}

func (g *greetingRecorder) line() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return strings.TrimSpace(string(g.buf))
}

// errRetryAuth asks dial to connect again with a refreshed token.
var errRetryAuth = errors.New("smtp: retry with a refreshed token")

func helo(o *mailbox.OutboundSettings) string {
	if o.HELOName != "" {
		return o.HELOName
	}
	if h, err := os.Hostname(); err == nil && strings.Contains(h, ".") {
		return h
	}
	return "localhost"
}

// dial connects, greets, secures and authenticates a session for mb,
// filling rep (when not nil) as it goes. An XOAUTH2 failure is retried once
// with a refreshed token.
func (t *Transport) dial(ctx context.Context, mb *mailbox.Mailbox, rep *ProbeReport) (*session, *ProbeReport, error) {
	if rep == nil {
		rep = &ProbeReport{}
	}
	s, err := t.dialOnce(ctx, mb, rep, true)
	if errors.Is(err, errRetryAuth) {
		s, err = t.dialOnce(ctx, mb, rep, false)
	}
	if err != nil {
		t.log.LogAttrs(ctx, slog.LevelDebug, "smtp connect failed", slog.String("mailbox", string(mb.ID)), slog.String("error", err.Error()))
		return nil, rep, err
	}
	return s, rep, nil
}

func (t *Transport) dialOnce(ctx context.Context, mb *mailbox.Mailbox, rep *ProbeReport, mayRetry bool) (_ *session, err error) {
	o := mb.Outbound
	host, port := o.Server.Host, o.Port()
	server := net.JoinHostPort(host, strconv.Itoa(port))
	sec := o.Server.Effective(mailbox.DefaultSMTPTLSPort)
	*rep = ProbeReport{Server: server, Security: sec}
	switch sec {
	case mailbox.SecurityTLS, mailbox.SecuritySTARTTLS:
	case mailbox.SecurityPlaintext:
		if !o.Server.AllowPlaintext {
			return nil, &transport.Error{Class: transport.Policy, Protocol: "smtp", Op: "dial", Server: server, Err: errors.New("plaintext without opt-in"), Hint: "plaintext needs the mailbox's explicit opt-in (AllowPlaintext)"}
		}
	default:
		return nil, &transport.Error{Class: transport.Protocol, Protocol: "smtp", Op: "dial", Server: server, Err: fmt.Errorf("unknown security %q", sec)}
	}
	raw, err := t.opts.Net.Dial(ctx, "smtp", host, port)
	if err != nil {
		return nil, err
	}
	s := &session{raw: raw, server: server, red: transport.NewRedactor(o.Credentials.Username, o.Credentials.Password)}
	defer func() {
		if err != nil {
			if s.cl != nil {
				_ = s.cl.Close()
			}
			_ = raw.Close()
		}
	}()
	stop := context.AfterFunc(ctx, s.interrupt)
	defer stop()
	name := o.Server.TLSServerName
	if name == "" {
		name = host
	}
	tlsCfg := &tls.Config{ServerName: name, RootCAs: t.opts.RootCAs, MinVersion: tls.VersionTLS12}
	var conn net.Conn = raw
	if sec == mailbox.SecurityTLS {
		tc := tls.Client(conn, tlsCfg)
		if err := s.step(ctx, t.opts.CommandTimeout, "tls", func() error { return tc.HandshakeContext(ctx) }); err != nil {
			return nil, err
		}
		conn = tc
		s.implicit = tc
	}
	// The greeting is the first line read above TLS (with implicit TLS the
	// raw connection carries the handshake first).
	s.greet = &greetingRecorder{Conn: conn}
	conn = s.greet
	if err := s.step(ctx, t.opts.CommandTimeout, "greeting", func() error {
		var err error
		s.cl, err = gm.NewClient(conn, host)
		return err
	}); err != nil {
		return nil, err
	}
	rep.Greeting = s.greet.line()
	if err := s.step(ctx, t.opts.CommandTimeout, "ehlo", func() error { return s.cl.Hello(helo(o)) }); err != nil {
		return nil, err
	}
	if sec == mailbox.SecuritySTARTTLS {
		if ok, _ := s.cl.Extension("STARTTLS"); !ok {
			return nil, &transport.Error{Class: transport.TLS, Protocol: "smtp", Op: "starttls", Server: server, Err: errors.New("server does not offer STARTTLS"),
				Hint: "the server does not offer STARTTLS: use implicit TLS (port 465), or opt in to plaintext only on a trusted network"}
		}
		if err := s.step(ctx, t.opts.CommandTimeout, "starttls", func() error { return s.cl.StartTLS(tlsCfg) }); err != nil {
			return nil, err
		}
	}
	if s.implicit != nil {
		st := s.implicit.ConnectionState()
		rep.TLSVersion = tls.VersionName(st.Version)
		rep.TLSCipher = tls.CipherSuiteName(st.CipherSuite)
	} else if st, ok := s.cl.TLSConnectionState(); ok {
		rep.TLSVersion = tls.VersionName(st.Version)
		rep.TLSCipher = tls.CipherSuiteName(st.CipherSuite)
	}
	rep.EHLO = s.cl.HelloResponse()
	for _, ext := range knownExtensions {
		if ok, param := s.cl.Extension(ext); ok {
			if param != "" {
				ext += " " + param
			}
			rep.Extensions = append(rep.Extensions, ext)
		}
	}
	if ok, mechs := s.cl.Extension("AUTH"); ok {
		rep.AuthMechanisms = strings.Fields(mechs)
	}
	if err := t.auth(ctx, s, o, rep, mayRetry); err != nil {
		return nil, err
	}
	return s, nil
}

var knownExtensions = []string{"STARTTLS", "AUTH", "SIZE", "8BITMIME", "PIPELINING", "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN", "CHUNKING", "BINARYMIME", "REQUIRETLS"}

func (t *Transport) auth(ctx context.Context, s *session, o *mailbox.OutboundSettings, rep *ProbeReport, mayRetry bool) error {
	cr := o.Credentials
	mech := cr.Mechanism
	if mech == mailbox.AuthNone || (mech == mailbox.AuthAuto && cr.Username == "" && cr.OAuth2 == nil) {
		return nil
	}
	offered := map[string]bool{}
	for _, m := range rep.AuthMechanisms {
		offered[strings.ToUpper(m)] = true
	}
	if mech == mailbox.AuthAuto {
		switch {
		case cr.OAuth2 != nil:
			mech = mailbox.AuthXOAUTH2
		case offered["PLAIN"]:
			mech = mailbox.AuthPlain
		case offered["LOGIN"]:
			mech = mailbox.AuthLogin
		case offered["CRAM-MD5"]:
			mech = mailbox.AuthCRAMMD5
		default:
			return &transport.Error{Class: transport.Auth, Protocol: "smtp", Op: "auth", Server: s.server, Err: errors.New("no common authentication mechanism"),
				Hint: "the server offers none of PLAIN, LOGIN, CRAM-MD5 (offered: " + strings.Join(rep.AuthMechanisms, " ") + ")"}
		}
	}
	wire := strings.ToUpper(string(mech))
	if !offered[wire] {
		return &transport.Error{Class: transport.Auth, Protocol: "smtp", Op: "auth", Server: s.server, Err: fmt.Errorf("server does not offer %s", wire),
			Hint: "choose a mechanism the server offers: " + strings.Join(rep.AuthMechanisms, " ")}
	}
	rep.AuthMechanism = wire
	host := o.Server.Host
	// PLAIN and LOGIN refuse a connection the protocol client does not see
	// as TLS unless told otherwise: implicit TLS is TLS.
	plain := o.Server.AllowPlaintext || s.implicit != nil
	var a gm.Auth
	switch mech {
	case mailbox.AuthPlain:
		a = gm.PlainAuth("", cr.Username, cr.Password.Reveal(), host, plain)
	case mailbox.AuthLogin:
		a = gm.LoginAuth(cr.Username, cr.Password.Reveal(), host, plain)
	case mailbox.AuthCRAMMD5:
		a = gm.CRAMMD5Auth(cr.Username, cr.Password.Reveal())
	case mailbox.AuthXOAUTH2:
		// transport.AccessToken refuses an empty token: nothing is sent
		// without one.
		tok, err := transport.AccessToken(ctx, cr.OAuth2)
		if err != nil {
			var te *transport.Error
			if errors.As(err, &te) && te.Server == "" {
				c := *te
				c.Protocol, c.Server = "smtp", s.server
				return &c
			}
			return err
		}
		s.red.AddToken(cr.Username, tok)
		a = gm.XOAuth2Auth(cr.Username, tok.Reveal())
	default:
		return &transport.Error{Class: transport.Auth, Protocol: "smtp", Op: "auth", Server: s.server, Err: fmt.Errorf("unsupported mechanism %q", mech)}
	}
	err := s.step(ctx, t.opts.CommandTimeout, "auth", func() error { return s.cl.Auth(a) })
	if err == nil {
		rep.Authenticated = true
		return nil
	}
	if mech == mailbox.AuthXOAUTH2 && mayRetry && transport.ClassOf(err) == transport.Auth {
		if r, ok := cr.OAuth2.(mailbox.TokenRefresher); ok {
			r.InvalidateToken()
			return errRetryAuth
		}
	}
	return err
}

// classify turns an error of the protocol client into a *transport.Error.
func classify(op, server string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		return err
	}
	e := &transport.Error{Protocol: "smtp", Op: op, Server: server, Err: err}
	var tpe *textproto.Error
	var cve *tls.CertificateVerificationError
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	var cie x509.CertificateInvalidError
	var rhe tls.RecordHeaderError
	var ae tls.AlertError
	var ne net.Error
	switch {
	case errors.As(err, &tpe):
		e.Code = tpe.Code
		e.Message = tpe.Msg
		if en, rest, ok := strings.Cut(tpe.Msg, " "); ok && isEnhanced(en) {
			e.Enhanced, e.Message = en, rest
		}
		e.Message = strings.ReplaceAll(e.Message, "\n", " ")
		e.Class = transport.SMTPClass(tpe.Code)
		switch {
		case e.Class == transport.Auth || (op == "auth" && tpe.Code >= 500):
			e.Class = transport.Auth
			e.Hint = "the server refused the credentials; check the user name and password (or re-authorise OAuth2)"
		case tpe.Code == 421:
			e.Hint = "the server is not accepting mail now"
		case op == "starttls":
			e.Class = transport.TLS
			e.Hint = "the server refused STARTTLS"
		}
	case errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &hne), errors.As(err, &cie):
		e.Class = transport.TLS
		e.Hint = "the server certificate is not trusted (unknown CA, wrong host name or expired)"
	case errors.As(err, &rhe), errors.As(err, &ae):
		e.Class = transport.TLS
		e.Hint = "the TLS handshake failed; check the port and the security setting"
	case errors.Is(err, gm.ErrUnencrypted), errors.Is(err, gm.ErrWrongHostname):
		e.Class = transport.TLS
		e.Hint = "refusing to send credentials over an unprotected connection"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e.Class = transport.Temporary
		e.Hint = "the operation was cancelled or ran out of time"
	case errors.As(err, &ne) && ne.Timeout():
		e.Class = transport.Temporary
		e.Hint = "the server did not answer in time"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), errors.As(err, &ne):
		e.Class = transport.Temporary
		e.Hint = "the connection was lost"
	default:
		var pe textproto.ProtocolError
		if errors.As(err, &pe) {
			e.Class = transport.Protocol
		} else {
			e.Class = transport.Temporary
		}
	}
	// A failure in the handshake that is not a reply nor a timeout is a
	// TLS refusal (a TLS 1.0/1.1-only server, a protocol-version alert, a
	// connection cut when the handshake started), not a lost connection to
	// retry for a day.
	var te2 net.Error
	timeout := errors.As(err, &te2) && te2.Timeout()
	if handshake := op == "tls" || op == "starttls"; (handshake || isTLSAlert(err)) && e.Class != transport.TLS && e.Code == 0 &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && !timeout {
		e.Class = transport.TLS
		e.Hint = "the TLS handshake failed: the server may offer only TLS versions below 1.2, or the port does not match the security setting"
	}
	return e
}

// isTLSAlert reports whether err is a TLS alert the server sent.
func isTLSAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}

func isEnhanced(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || (parts[0] != "2" && parts[0] != "4" && parts[0] != "5") {
		return false
	}
	for _, p := range parts[1:] {
		if _, err := strconv.Atoi(p); err != nil {
			return false
		}
	}
	return true
}
