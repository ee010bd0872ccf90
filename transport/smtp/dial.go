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

// session is one established protocol session.
type session struct {
	raw net.Conn
	cl  *gm.Client
	// budget bounds what the server may send per step (Options.MaxReply).
	budget   *transport.BudgetConn
	maxReply int64
	server   string
	greet    *greetingRecorder
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

// quit says QUIT (bounded by timeout, at most 5 s; zero skips it) and
// closes.
func (s *session) quit(timeout time.Duration) {
	timeout = min(timeout, 5*time.Second)
	if timeout > 0 {
		_ = s.raw.SetDeadline(time.Now().Add(timeout))
		if s.budget != nil {
			s.budget.Arm(s.maxReply)
		}
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
	s := &session{raw: raw, server: server, red: transport.NewRedactor(o.Credentials.Username, o.Credentials.Password),
		budget: transport.NewBudgetConn(raw, "reply", t.opts.MaxReply), maxReply: t.opts.MaxReply}
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
	// Everything the server sends is read through the budget, under TLS.
	var conn net.Conn = s.budget
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
