// Package pop3 is correio's POP3 inbound transport (a transport.Source and
// transport.Checker): implicit TLS (POP3S, port 995) or STLS (RFC 2595) with
// verified certificates, USER/PASS (RFC 1939), SASL PLAIN and XOAUTH2 where
// CAPA offers them (RFC 2449, RFC 5034), UIDL as the cursor and the
// post-actions delete and keep.
//
// The client is this package's own: the Go POP3 clients available parse
// every message into a structure, do not offer STLS or SASL, or leave
// reads unbounded; POP3 is small enough (a dozen commands) to speak here,
// with every line bounded and every command under a deadline.
//
// A POP3 maildrop is a snapshot taken at login and deletions take effect at
// QUIT, so a session connects when it lists and disconnects (QUIT) after a
// delete and before it waits: new mail is seen on the next poll, and the
// maildrop is not kept locked between polls. POP3 has no push.
//
// # The cursor
//
// pop3/1:u:<uidl> <uidl> ... names the messages handled that are still on
// the server (a message deleted from the server leaves the cursor at the
// next listing). A server without UIDL gets a content-hash cursor,
// pop3/1:h:<id> ..., whose ids are the SHA-256 of a message's size and
// header section (read with TOP n 0, or RETR when TOP is missing): two
// messages with the same headers and size are one message to it, which
// real mail (a Message-ID, Received lines) does not produce. Without TOP
// every poll reads each message on the server whole to name it: prefer a
// server with UIDL, or the delete post-action. A cursor of
// the other mode resets (the mailbox is read again; the keys of handled
// messages keep anything from being handed twice). With the keep
// post-action the cursor grows with the maildrop (some 20 bytes a
// message).
//
// # Leave on server with a retention
//
// With the keep post-action and InboundSettings.KeepFor, a handled
// message is deleted at the first poll once KeepFor has passed since its
// hand-off. POP3 has no reliable date, so the cursor keeps each id's
// hand-off time (pop3/1:ut:<unix>,<uidl> ..., or ht for content hashes;
// the time is the List's, committed with the hand-off). A deletion takes
// effect at the QUIT that ends the connection; the cursor names the
// message until the server no longer lists it, so a deletion lost with a
// broken connection is redone and the message never reads as new. An id
// without a time (on the server before a start-from-new mailbox's first
// poll, or handled before the retention was set) is never deleted.
package pop3

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// Default ports and timeout.
const (
	DefaultPort    = 110
	DefaultTLSPort = 995
	DefaultTimeout = time.Minute
)

// Config configures the POP3 source. The zero Config is usable.
type Config struct {
	// Net dials every connection (Dialer, Resolver, address Policy).
	Net transport.Net
	// TLSConfig is cloned for each connection; ServerName is set from the
	// mailbox. Tests put their CA in RootCAs here.
	TLSConfig *tls.Config
	// Timeout bounds the greeting, TLS, login, each command and each read
	// of a message (default 1 min).
	Timeout time.Duration
	// SpoolMemory is the size up to which a fetched message stays in
	// memory; larger ones go to a temporary file in SpoolDir (default 1 MiB).
	SpoolMemory int64
	// SpoolDir holds spool files (default os.TempDir()).
	SpoolDir string
	// Logger receives debug events (never a credential); default discard.
	Logger *slog.Logger
	// MaxList caps the messages one List returns (default
	// DefaultMaxList): a cursor names every handled message still on the
	// server, so a large maildrop is read in slices of this many, the rest
	// on the next poll.
	MaxList int
	// Clock tells the time of hand-offs and of the retention
	// (InboundSettings.KeepFor); default the real clock.
	Clock clock.Clock
}

// DefaultMaxList is Config.MaxList's default.
const DefaultMaxList = 1000

func (c *Config) maxList() int {
	if c.MaxList <= 0 {
		return DefaultMaxList
	}
	return c.MaxList
}

func (c *Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

func (c *Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// Port returns the port m's POP3 server is reached on: the configured one,
// or 995 for implicit TLS and 110 otherwise.
func Port(m *mailbox.Mailbox) int {
	s := m.Inbound.Server
	if s.Port != 0 {
		return s.Port
	}
	if s.Effective(DefaultTLSPort) == mailbox.SecurityTLS {
		return DefaultTLSPort
	}
	return DefaultPort
}

// dial connects, secures and authenticates a connection for m.
func dial(ctx context.Context, cfg *Config, m *mailbox.Mailbox) (*conn, error) {
	in := m.Inbound
	host, port := in.Server.Host, Port(m)
	server := net.JoinHostPort(host, strconv.Itoa(port))
	sec := in.Server.Effective(DefaultTLSPort)
	red := transport.NewRedactor(in.Credentials.Username, in.Credentials.Password)
	if sec == mailbox.SecurityPlaintext && !in.Server.AllowPlaintext {
		return nil, &transport.Error{Class: transport.Policy, Protocol: "pop3", Op: "dial", Server: server, Err: errors.New("plaintext not allowed"), Hint: "plaintext POP3 needs the mailbox's explicit AllowPlaintext opt-in"}
	}
	raw, err := cfg.Net.Dial(ctx, "pop3", host, port)
	if err != nil {
		return nil, err
	}
	tcfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSConfig != nil {
		tcfg = cfg.TLSConfig.Clone()
	}
	if tcfg.ServerName == "" {
		tcfg.ServerName = host
		if in.Server.TLSServerName != "" {
			tcfg.ServerName = in.Server.TLSServerName
		}
	}
	c := newConn(raw, server, cfg.timeout(), red)
	fail := func(op string, err error) (*conn, error) {
		c.abort()
		return nil, classify(op, server, red, ctx, err)
	}
	if sec == mailbox.SecurityTLS {
		tc := tls.Client(raw, tcfg)
		stop := c.guard(ctx)
		err := tc.HandshakeContext(ctx)
		stop()
		if err != nil {
			return fail("tls", err)
		}
		c.nc, c.r = tc, newConn(tc, server, c.timeout, red).r
	}
	stop := c.guard(ctx)
	_, err = c.status("greeting")
	stop()
	if err != nil {
		return fail("greeting", err)
	}
	if err := c.capa(ctx); err != nil {
		return fail("capa", err)
	}
	if sec == mailbox.SecuritySTARTTLS {
		if !c.caps.STLS {
			return fail("starttls", errNoSTLS)
		}
		if err := c.stls(ctx, tcfg); err != nil {
			return fail("starttls", err)
		}
		if err := c.capa(ctx); err != nil { // RFC 2595: capabilities may change
			return fail("capa", err)
		}
	}
	if err := c.authenticate(ctx, in.Credentials); err != nil {
		return fail("auth", err)
	}
	return c, nil
}

var errNoSTLS = errors.New("pop3: the server does not offer STLS")

// classify turns err into a *transport.Error with the secrets of red
// removed.
func classify(op, server string, red *transport.Redactor, ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var te *transport.Error
	if errors.As(err, &te) {
		c := *te
		if c.Server == "" {
			c.Server = server
		}
		if c.Protocol == "" {
			c.Protocol = "pop3"
		}
		if c.Op == "" {
			c.Op = op
		}
		return red.RedactError(&c)
	}
	e := &transport.Error{Class: transport.Temporary, Protocol: "pop3", Op: op, Server: server, Err: err}
	var re *replyError
	var certErr *tls.CertificateVerificationError
	var unk x509.UnknownAuthorityError
	var host x509.HostnameError
	var nerr net.Error
	switch {
	case ctx.Err() != nil:
		e.Err = errors.Join(ctx.Err(), err)
	case errors.Is(err, errNoSTLS):
		e.Class, e.Hint = transport.TLS, "the server does not offer STLS; use implicit TLS (port 995) or check the server"
	case errors.As(err, &certErr) || errors.As(err, &unk) || errors.As(err, &host):
		e.Class, e.Hint = transport.TLS, "the server certificate is not trusted for this host name"
	case errors.As(err, &re):
		e.Message = "-ERR " + re.text
		switch {
		case re.code == "SYS/TEMP" || re.code == "IN-USE" || re.code == "LOGIN-DELAY":
			e.Class, e.Hint = transport.Temporary, "the server is busy or the maildrop is in use; it is tried again"
		case re.code == "AUTH" || op == "auth":
			e.Class, e.Hint = transport.Auth, "the server refused the credentials; check the user name and password or re-authorise OAuth2"
		case op == "starttls":
			e.Class, e.Hint = transport.TLS, "the server refused STLS"
		default:
			e.Class = transport.Permanent
		}
	case (op == "tls" || op == "starttls") && !errors.As(err, &nerr):
		e.Class, e.Hint = transport.TLS, "the TLS handshake failed; check the security setting, port and certificate"
	case errors.Is(err, errProtocol):
		e.Class = transport.Protocol
	case errors.As(err, &nerr) && nerr.Timeout():
		e.Err = errors.Join(ErrTimeout, err)
		e.Hint = "the server did not answer in time"
	}
	return red.RedactError(e)
}

func errf(class transport.Class, op string, format string, a ...any) error {
	return &transport.Error{Class: class, Protocol: "pop3", Op: op, Err: fmt.Errorf(format, a...)}
}
