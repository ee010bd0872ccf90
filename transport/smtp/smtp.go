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
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// Defaults of Options.
const (
	DefaultCommandTimeout = time.Minute
	DefaultDataTimeout    = 5 * time.Minute
	DefaultIdleTimeout    = time.Minute
	// DefaultMaxReply bounds what a server may send in answer to one
	// command (every line of a multi-line reply, and the TLS handshake of
	// the step that runs one): 1 MiB, far above any real reply.
	DefaultMaxReply = 1 << 20
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
	// MaxReply bounds the bytes a server may send in answer to one command
	// (default DefaultMaxReply): a reply line or a multi-line reply without
	// end fails the connection with a *transport.Error of class Protocol
	// wrapping a *transport.LimitError before it is buffered further.
	MaxReply int64
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
	if opts.MaxReply <= 0 {
		opts.MaxReply = DefaultMaxReply
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
	if s.budget != nil {
		s.budget.Arm(s.maxReply)
	}
	if ctx.Err() != nil {
		// ctx ended after the check above: its interrupt may have run
		// before SetDeadline replaced it.
		s.interrupt()
	}
	if err := f(); err != nil {
		if s.budget != nil {
			if lerr := s.budget.Err(); lerr != nil {
				return &transport.Error{Class: transport.Protocol, Protocol: "smtp", Op: op, Server: s.server, Err: lerr,
					Hint: "the server sent more than any reply holds; it is broken or hostile"}
			}
		}
		if ctx.Err() != nil {
			return classify(op, s.server, ctx.Err())
		}
		return classify(op, s.server, err)
	}
	return nil
}

// isTLSAlert reports whether err is a TLS alert the server sent.
func isTLSAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}
