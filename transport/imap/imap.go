// Package imap is correio's IMAP transport over github.com/emersion/go-imap/v2
// (imapclient): it connects an inbound mailbox through the transport Dialer
// and address policy, with implicit TLS, STARTTLS or (only with the
// mailbox's opt-in) plaintext, logs in with PLAIN, LOGIN or XOAUTH2, selects
// the folder, lists and streams new messages into spools, waits with IDLE or
// a cheap poll, and applies post-actions in batches, choosing MOVE or
// COPY + \Deleted + UID EXPUNGE from the server's capabilities.
//
// imapclient takes no context, so every operation runs under a deadline set
// on the connection and a context watcher that closes it: a stuck server
// never holds a goroutine for longer than Config.Timeout.
//
// Every error is a *transport.Error (class Temporary, Permanent, Auth, TLS,
// Protocol or Policy) with a hint an administrator can act on.
//
// # Hostile and broken servers
//
// go-imap buffers what it parses, so everything a server sends is bounded
// below it: the client reads through a framer, above TLS (STARTTLS is done
// by this package for that reason), that follows the lines and literals of
// the stream and stops the connection before go-imap buffers anything
// beyond a bound:
//
//   - a line outside literals (greeting, status, FETCH data): Config.MaxLine
//     (default 1 MiB);
//   - a literal that is not a message body (go-imap buffers those): 64 KiB
//     (DefaultMaxLiteral), including an unsolicited BODY[] in a listing;
//   - a BODY[] literal while fetching (streamed into a spool, never
//     buffered): the message's listed RFC822.SIZE plus 64 KiB and a
//     quarter, at most the mailbox's MaxMessageSize plus 64 KiB, checked
//     against the size the literal announces before a byte of it is read
//     (so the spool never holds more);
//   - the listing: at most Config.MaxList messages per List (default
//     10,000; the rest in the next rounds, without waiting for the poll
//     interval, each asking for its own UID window where the first listing
//     came in UID order), and no more FETCH responses than the folder holds
//     plus MaxList;
//   - a LIST of one folder name (before creating a move target): at most
//     1,000 responses.
//
// A server that exceeds one fails the session with class Protocol and a
// *transport.LimitError (errors.Is transport.ErrLimit) saying which bound;
// when the message itself is the cause (a BODY[] literal far above its
// listed size or the mailbox limit), the error's Item names it and the
// inbound engine quarantines it with that reason, so it is never fetched
// again. One hostile mailbox thus holds a few MiB of heap per attempt and
// no spool beyond MaxMessageSize plus 64 KiB, whatever its server sends.
package imap

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// UID is an IMAP unique identifier.
type UID = goimap.UID

// Defaults of Config.
const (
	DefaultTimeout     = time.Minute
	DefaultSpoolMemory = transport.DefaultSpoolMemory
	// DefaultIdleRenew is how long one IDLE command lasts before it is
	// renewed: below the 29 minutes servers may wait before dropping an
	// idle client (RFC 2177).
	DefaultIdleRenew = 25 * time.Minute
)

// Config is how sessions connect. The zero Config dials with transport.Net
// defaults, verifies TLS against the system roots and bounds every command
// by one minute.
type Config struct {
	// Net dials every connection (Dialer, Resolver, address Policy).
	Net transport.Net
	// TLSConfig is cloned for each connection; ServerName is set from the
	// mailbox. Tests put their CA in RootCAs here.
	TLSConfig *tls.Config
	// Timeout bounds each command, the greeting, TLS and login (default 1 min).
	Timeout time.Duration
	// SpoolMemory is the size up to which a fetched message stays in
	// memory; larger ones go to a temporary file in SpoolDir (default 1 MiB).
	SpoolMemory int64
	// SpoolDir holds spool files (default os.TempDir()).
	SpoolDir string
	// Logger receives debug events (never a credential); default discard.
	Logger *slog.Logger
	// Debug receives the raw protocol for troubleshooting, with the
	// credentials of LOGIN and AUTHENTICATE (passwords, also when sent as
	// literals, SASL responses, OAuth2 tokens) replaced by [REDACTED], and
	// the connection's secrets removed from every line of both sides (a
	// server that echoes them back). Message contents pass as they are.
	Debug io.Writer
	// MaxLine bounds one line the server sends outside literals (default
	// DefaultMaxLine). A longer one (a greeting without end) fails the
	// session with class Protocol before it is buffered.
	MaxLine int64
	// MaxList bounds the messages one List returns (default
	// DefaultMaxList); the rest are listed in the next rounds. A server
	// that answers the listing with more FETCH responses than the folder
	// has messages (plus MaxList) fails with class Protocol.
	MaxList int
}

func (c *Config) maxLine() int64 {
	if c.MaxLine <= 0 {
		return DefaultMaxLine
	}
	return c.MaxLine
}

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

// Caps are the capabilities that matter to correio.
type Caps struct {
	Idle, Move, UIDPlus, CondStore bool
}

// Session is one logged-in IMAP connection of one mailbox. It is not safe
// for concurrent use: one goroutine drives it.
type Session struct {
	cfg    *Config
	mb     *mailbox.Mailbox
	server string
	conn   net.Conn
	c      *imapclient.Client
	caps   Caps
	log    *slog.Logger
	// red removes this connection's credentials from errors and the
	// Debug trace.
	red *transport.Redactor
	// fr bounds what the server sends (lines, literals).
	fr *framer

	mu       sync.Mutex
	exists   chan struct{} // signalled on EXISTS
	selected string
	num      uint32
	inFetch  goimap.UIDSet // the UIDs of the fetch under way
	// more is set by a List that left messages out (Config.MaxList);
	// bounds are the UIDs that end the next listing windows.
	more   bool
	bounds []UID
}

// Dial connects m's IMAP server, protects the connection as m's settings
// require and logs in.
func Dial(ctx context.Context, cfg *Config, m *mailbox.Mailbox) (*Session, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	if m == nil || m.Inbound == nil {
		return nil, &transport.Error{Class: transport.Permanent, Protocol: "imap", Op: "dial", Err: errors.New("not an inbound mailbox"), Hint: "the mailbox has no IMAP settings"}
	}
	in := m.Inbound
	host, port := in.Server.Host, in.Port()
	server := net.JoinHostPort(host, fmt.Sprint(port))
	sec := in.Server.Effective(mailbox.DefaultIMAPTLSPort)
	if sec == mailbox.SecurityPlaintext && !in.Server.AllowPlaintext {
		return nil, &transport.Error{Class: transport.Policy, Protocol: "imap", Op: "dial", Server: server, Err: errors.New("plaintext not allowed"), Hint: "plaintext IMAP needs the mailbox's explicit AllowPlaintext opt-in"}
	}
	raw, err := cfg.Net.Dial(ctx, "imap", host, port)
	if err != nil {
		return nil, err
	}
	s := &Session{cfg: cfg, mb: m, server: server, log: cfg.logger().With("mailbox", string(m.ID)), exists: make(chan struct{}, 1),
		red: transport.NewRedactor(in.Credentials.Username, in.Credentials.Password)}
	s.conn = raw
	w := watch(ctx, raw, cfg.timeout())
	defer w.stop()
	fail := func(op string, err error) (*Session, error) {
		_ = raw.Close()
		if ctx.Err() != nil {
			err = errors.Join(ctx.Err(), err)
		} else if w.stop() {
			err = errors.Join(ErrTimeout, err)
		}
		return nil, s.classify(op, err)
	}
	tcfg := &tls.Config{}
	if cfg.TLSConfig != nil {
		tcfg = cfg.TLSConfig.Clone()
	}
	if tcfg.ServerName == "" {
		tcfg.ServerName = host
		if in.Server.TLSServerName != "" {
			tcfg.ServerName = in.Server.TLSServerName
		}
	}
	opts := &imapclient.Options{
		TLSConfig:   tcfg,
		DebugWriter: newRedactingWriter(cfg.Debug, s.red),
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				// Any EXISTS wakes the waiter: counting is unreliable
				// once other clients expunge, and a spurious wake costs
				// one cheap UID FETCH.
				if d.NumMessages != nil {
					s.mu.Lock()
					s.num = *d.NumMessages
					s.mu.Unlock()
					select {
					case s.exists <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	// The client reads through a framer above TLS: every line and literal
	// the server sends is bounded before go-imap buffers it. STARTTLS is
	// therefore done here (go-imap would put TLS above the framer).
	var plain net.Conn = raw
	switch sec {
	case mailbox.SecurityTLS:
		tc := tls.Client(raw, tcfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail("tls", err)
		}
		s.conn, plain = tc, tc
	case mailbox.SecuritySTARTTLS:
		tc, err := s.startTLS(raw, tcfg, opts.DebugWriter)
		if err != nil {
			return fail("starttls", err)
		}
		s.conn = tc
		// go-imap waits for a greeting: the server's came before TLS.
		plain = &prefixConn{Conn: tc, prefix: []byte("* OK [correio] TLS established\r\n")}
	}
	s.fr = newFramer(plain, cfg.maxLine(), DefaultMaxLiteral)
	s.c = imapclient.New(s.fr, opts)
	if err := s.c.WaitGreeting(); err != nil {
		return fail("greeting", err)
	}
	if err := s.login(ctx); err != nil {
		_ = s.c.Close()
		return fail("login", err)
	}
	caps := s.c.Caps()
	s.caps = Caps{Idle: caps.Has(goimap.CapIdle) || caps.Has(goimap.CapIMAP4rev2), Move: caps.Has(goimap.CapMove) || caps.Has(goimap.CapIMAP4rev2),
		UIDPlus: caps.Has(goimap.CapUIDPlus) || caps.Has(goimap.CapIMAP4rev2), CondStore: caps.Has(goimap.CapCondStore)}
	return s, nil
}

func (s *Session) login(ctx context.Context) error {
	cr := s.mb.Inbound.Credentials
	mech := cr.Mechanism
	if mech == mailbox.AuthAuto {
		switch {
		case cr.OAuth2 != nil:
			mech = mailbox.AuthXOAUTH2
		case s.c.Caps().Has(goimap.Cap("AUTH=PLAIN")):
			mech = mailbox.AuthPlain
		default:
			mech = mailbox.AuthLogin
		}
	}
	switch mech {
	case mailbox.AuthNone:
		return nil
	case mailbox.AuthPlain:
		return s.c.Authenticate(sasl.NewPlainClient("", cr.Username, cr.Password.Reveal()))
	case mailbox.AuthLogin:
		return s.c.Login(cr.Username, cr.Password.Reveal()).Wait()
	case mailbox.AuthXOAUTH2:
		// transport.AccessToken refuses an empty token: nothing is sent
		// without one.
		tok, err := transport.AccessToken(ctx, cr.OAuth2)
		if err != nil {
			return err
		}
		s.red.AddToken(cr.Username, tok)
		x := &xoauth2{user: cr.Username, token: tok}
		err = x.authenticate(s.c)
		if err == nil || !isAuthFailure(err) {
			return err
		}
		r, ok := cr.OAuth2.(mailbox.TokenRefresher)
		if !ok {
			return err
		}
		r.InvalidateToken()
		s.log.Debug("imap: token refused, refreshing once")
		if tok, err = transport.AccessToken(ctx, cr.OAuth2); err != nil {
			return err
		}
		s.red.AddToken(cr.Username, tok)
		return (&xoauth2{user: cr.Username, token: tok}).authenticate(s.c)
	}
	return &transport.Error{Class: transport.Auth, Err: fmt.Errorf("mechanism %q not supported over IMAP", mech), Hint: "use plain, login or xoauth2"}
}

// xoauth2 is the client side of the XOAUTH2 SASL mechanism.
type xoauth2 struct {
	user    string
	token   mailbox.Secret
	refused bool
}

func (x *xoauth2) Start() (string, []byte, error) {
	return "XOAUTH2", transport.XOAUTH2(x.user, x.token), nil
}

// Next answers the server's error challenge with an empty response, after
// which the server fails the command. It records that the server refused
// the token.
func (x *xoauth2) Next([]byte) ([]byte, error) {
	x.refused = true
	return []byte{}, nil
}

// authenticate runs AUTHENTICATE XOAUTH2. A server that refused the token
// (it sent the error challenge) fails the command with NO, or, like Dovecot,
// with BAD because imapclient encodes the empty answer as "=": either way
// the token was refused, so the error is returned as the Auth class.
func (x *xoauth2) authenticate(c *imapclient.Client) error {
	err := c.Authenticate(x)
	if err == nil || !x.refused {
		return err
	}
	var ie *goimap.Error
	if errors.As(err, &ie) && ie.Type == goimap.StatusResponseTypeBad {
		return &transport.Error{Class: transport.Auth, Op: "login", Message: "token refused: " + ie.Text, Err: errTokenRefused,
			Hint: "the server refused the OAuth2 access token; re-authorise the mailbox if refreshing does not help"}
	}
	return err
}

// errTokenRefused is the cause of a refused XOAUTH2 token.
var errTokenRefused = errors.New("imap: XOAUTH2 token refused")

func isAuthFailure(err error) bool {
	if errors.Is(err, errTokenRefused) {
		return true
	}
	var ie *goimap.Error
	if !errors.As(err, &ie) {
		return false
	}
	return ie.Type == goimap.StatusResponseTypeNo
}

// Caps returns the capabilities that matter to correio.
func (s *Session) Caps() Caps { return s.caps }

// Server returns host:port.
func (s *Session) Server() string { return s.server }

// do runs f under the command deadline: the connection is closed when ctx
// ends or the deadline passes, which fails f.
func (s *Session) do(ctx context.Context, op string, d time.Duration, f func() error) error {
	if err := ctx.Err(); err != nil {
		return s.classify(op, err)
	}
	w := watch(ctx, s.conn, d)
	err := f()
	timedOut := w.stop()
	if err != nil {
		if ctx.Err() != nil {
			err = errors.Join(ctx.Err(), err)
		} else if timedOut {
			err = errors.Join(ErrTimeout, err)
		}
		return s.classify(op, err)
	}
	return nil
}

// ErrTimeout is joined to errors of operations cut by their deadline.
var ErrTimeout = errors.New("imap: operation timed out")

// watchdog closes a connection when a deadline passes or a context ends:
// imapclient manages the connection's own deadlines and takes no context.
type watchdog struct {
	timer *time.Timer
	stopC func() bool
	mu    sync.Mutex
	fired bool
}

func watch(ctx context.Context, c net.Conn, d time.Duration) *watchdog {
	w := &watchdog{}
	w.timer = time.AfterFunc(d, func() {
		w.mu.Lock()
		w.fired = true
		w.mu.Unlock()
		_ = c.Close()
	})
	w.stopC = context.AfterFunc(ctx, func() { _ = c.Close() })
	return w
}

// reset pushes the deadline d from now.
func (w *watchdog) reset(d time.Duration) { w.timer.Reset(d) }

// stop disarms the watchdog and reports whether the deadline fired.
func (w *watchdog) stop() bool {
	w.timer.Stop()
	w.stopC()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fired
}

// Folder is the state of the selected folder.
type Folder struct {
	Name        string
	UIDValidity uint32
	UIDNext     UID
	Messages    uint32
}

// Select opens folder read-write.
func (s *Session) Select(ctx context.Context, folder string) (Folder, error) {
	var f Folder
	err := s.do(ctx, "select", s.cfg.timeout(), func() error {
		d, err := s.c.Select(folder, nil).Wait()
		if err != nil {
			return err
		}
		f = Folder{Name: folder, UIDValidity: d.UIDValidity, UIDNext: d.UIDNext, Messages: d.NumMessages}
		return nil
	})
	if err == nil {
		s.mu.Lock()
		s.selected, s.num = folder, f.Messages
		s.mu.Unlock()
	}
	return f, err
}

// Info is what List returns for one message.
type Info struct {
	UID  UID
	Size int64
	Seen bool
	// Date is the server's INTERNALDATE (when the message arrived).
	Date  time.Time
	Flags []goimap.Flag
}

// List returns the messages with a UID above after, in UID order, with
// their size and flags: one UID FETCH on the open session. It returns at
// most Config.MaxList messages, the oldest (More then reports true). A
// server that sends more FETCH responses than the folder holds (plus
// MaxList) fails with class Protocol; body literals in the answer are
// discarded (bounded by the framer).
func (s *Session) List(ctx context.Context, after UID) ([]Info, error) {
	var out []Info
	limit := s.cfg.maxList()
	s.more = false
	// A folder larger than MaxList is listed in UID windows found by the
	// first, open-ended listing (when the server answered in UID order),
	// so that each round asks only for its own messages.
	for len(s.bounds) > 0 && s.bounds[0] <= after {
		s.bounds = s.bounds[1:]
	}
	var hi UID // 0: up to the last message
	if len(s.bounds) > 0 {
		hi = s.bounds[0]
	}
	var bounds []UID
	ascending, last, inOrder := true, after, 0
	err := s.do(ctx, "list", s.cfg.timeout(), func() error {
		s.fr.allow(DefaultMaxLiteral)
		var set goimap.UIDSet
		set.AddRange(after+1, hi)
		cmd := s.c.Fetch(set, &goimap.FetchOptions{UID: true, RFC822Size: true, Flags: true, InternalDate: true})
		responses := 0
		for {
			msg := cmd.Next()
			if msg == nil {
				break
			}
			responses++
			s.mu.Lock()
			bound := int(s.num) + limit
			s.mu.Unlock()
			if responses > bound {
				// go-imap's reader may be blocked handing this command its
				// next message: drain the command so the reader can see the
				// closed connection and Close can return.
				go func() { _ = cmd.Close() }()
				_ = s.c.Close()
				return &transport.Error{Class: transport.Protocol, Op: "list", Err: &transport.LimitError{What: "responses", Limit: int64(bound), Got: int64(responses)},
					Hint: "the server answered the listing with more messages than the folder holds; it is broken or hostile"}
			}
			var in Info
			for {
				item := msg.Next()
				if item == nil {
					break
				}
				switch it := item.(type) {
				case imapclient.FetchItemDataUID:
					in.UID = it.UID
				case imapclient.FetchItemDataRFC822Size:
					in.Size = it.Size
				case imapclient.FetchItemDataFlags:
					in.Flags = it.Flags
				case imapclient.FetchItemDataInternalDate:
					in.Date = it.Time
				case imapclient.FetchItemDataBodySection:
					if it.Literal != nil { // not asked for: dropped
						if _, err := io.Copy(io.Discard, it.Literal); err != nil {
							_ = s.c.Close()
							return err
						}
					}
				}
			}
			if in.UID <= after {
				continue // "n:*" always matches the last message
			}
			if in.UID <= last {
				ascending = false
			}
			last = in.UID
			if inOrder++; hi == 0 && ascending && inOrder%limit == 0 {
				bounds = append(bounds, in.UID)
			}
			for _, f := range in.Flags {
				if f == goimap.FlagSeen {
					in.Seen = true
				}
			}
			out = append(out, in)
			if len(out) >= 2*limit { // keep the oldest limit
				sortInfos(out)
				clear(out[limit:])
				out, s.more = out[:limit], true
			}
		}
		return cmd.Close()
	})
	sortInfos(out)
	if len(out) > limit {
		out, s.more = out[:limit], true
	}
	switch {
	case err != nil:
		s.bounds = nil
	case hi != 0:
		s.more = true // the windows end with an open-ended listing
	case s.more && ascending:
		s.bounds = bounds
	}
	return out, err
}

// More reports whether the last List left messages out (Config.MaxList).
func (s *Session) More() bool { return s.more }

func sortInfos(in []Info) {
	slices.SortFunc(in, func(a, b Info) int { return cmp.Compare(a.UID, b.UID) })
}

// Fetch streams BODY.PEEK[] of uids into spools (memory up to
// Config.SpoolMemory, a temporary file above) and returns them in UID
// order. Messages the server no longer has are missing from the result.
// The caller closes every Spool. The command deadline grows with the
// announced sizes (one extra Timeout per 16 MiB).
func (s *Session) Fetch(ctx context.Context, uids []UID, sizes int64) ([]*Spool, error) {
	var out []*Spool
	err := s.FetchEach(ctx, uids, sizes, func(sp *Spool) { out = append(out, sp) })
	if err != nil {
		closeSpools(out)
		return nil, err
	}
	slices.SortFunc(out, func(a, b *Spool) int { return cmp.Compare(SpoolUID(a), SpoolUID(b)) })
	return out, nil
}

// FetchEach is Fetch handing each spool to fn as soon as it is complete,
// in the server's order, so the caller can process a message while the
// next ones arrive. fn owns the spool and must not block for long: the
// command deadline runs. A spool handed to fn is a complete message even
// when FetchEach later fails. A message whose literal announces more than
// the mailbox's MaxMessageSize plus 64 KiB stops the fetch (class
// Protocol, Item naming the message) before it is read.
func (s *Session) FetchEach(ctx context.Context, uids []UID, sizes int64, fn func(*Spool)) error {
	return s.fetchEach(ctx, uids, nil, sizes, fn)
}

// fetchEach fetches uids; listed holds their listed sizes (a literal may
// exceed one by bodyMargin), nil when unknown.
func (s *Session) fetchEach(ctx context.Context, uids []UID, listed map[UID]int64, sizes int64, fn func(*Spool)) error {
	d := s.cfg.timeout() * time.Duration(1+sizes/(16<<20))
	maxMsg := s.mb.Inbound.MaxMessageSizeOrDefault()
	bound := func(u UID) int64 { return allowedBody(listed[u], maxMsg) }
	var most int64
	for _, u := range uids {
		most = max(most, bound(u))
	}
	s.mu.Lock()
	s.inFetch = goimap.UIDSetNum(uids...)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFetch = nil
		s.mu.Unlock()
		s.fr.allow(DefaultMaxLiteral)
	}()
	s.fr.allow(most)
	return s.do(ctx, "fetch", d, func() error {
		set := goimap.UIDSetNum(uids...)
		section := &goimap.FetchItemBodySection{Peek: true}
		cmd := s.c.Fetch(set, &goimap.FetchOptions{UID: true, BodySection: []*goimap.FetchItemBodySection{section}})
		for {
			msg := cmd.Next()
			if msg == nil {
				break
			}
			var sp *Spool
			var uid UID
			for {
				item := msg.Next()
				if item == nil {
					break
				}
				switch it := item.(type) {
				case imapclient.FetchItemDataUID:
					uid = it.UID
				case imapclient.FetchItemDataBodySection:
					if it.Literal == nil {
						continue
					}
					if sp != nil { // a second body for the same message
						_ = sp.Close()
						sp = nil
					}
					if lim := bound(uid); it.Literal.Size() > lim {
						// Refused before a byte of it is read: the
						// connection cannot go on past the literal.
						_ = s.c.Close()
						e := &transport.Error{Class: transport.Protocol, Op: "fetch",
							Err:  &transport.LimitError{What: "message", Limit: lim, Got: it.Literal.Size()},
							Hint: fmt.Sprintf("the server announced %d bytes for a message it listed at %d (mailbox limit %d); the message is quarantined", it.Literal.Size(), listed[uid], maxMsg)}
						if uid != 0 {
							e.Item = uidString(uid)
						}
						return e
					}
					var err error
					sp, err = transport.NewSpool(it.Literal, it.Literal.Size(), s.cfg.SpoolMemory, s.cfg.SpoolDir)
					if err != nil {
						// The literal broke off: the session is unusable.
						// Close it without touching the command again
						// (its decoder belongs to the reader goroutine).
						_ = s.c.Close()
						return err
					}
				}
			}
			if sp != nil {
				if uid == 0 {
					_ = sp.Close()
					continue
				}
				sp.ID = uidString(uid)
				fn(sp)
			}
		}
		return cmd.Close()
	})
}

// fetching reports whether uid is among those of the fetch under way.
func (s *Session) fetching(uid UID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFetch != nil && s.inFetch.Contains(uid)
}

func closeSpools(sp []*Spool) {
	for _, s := range sp {
		_ = s.Close()
	}
}

// MarkSeen adds \Seen to uids.
func (s *Session) MarkSeen(ctx context.Context, uids []UID) error {
	if len(uids) == 0 {
		return nil
	}
	return s.do(ctx, "store", s.cfg.timeout(), func() error {
		return s.c.Store(goimap.UIDSetNum(uids...), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true, Flags: []goimap.Flag{goimap.FlagSeen}}, nil).Close()
	})
}

// maxListResponses bounds the answer to a LIST of one folder name.
const maxListResponses = 1000

// EnsureFolder creates folder unless it exists.
func (s *Session) EnsureFolder(ctx context.Context, folder string) error {
	return s.do(ctx, "create", s.cfg.timeout(), func() error {
		// LIST of one name: a server that answers with more is not
		// followed (the responses are not collected).
		cmd := s.c.List("", folder, nil)
		found := false
		for n := 0; ; n++ {
			l := cmd.Next()
			if l == nil {
				break
			}
			if n >= maxListResponses {
				go func() { _ = cmd.Close() }() // unblock go-imap's reader (see List)
				_ = s.c.Close()
				return &transport.Error{Class: transport.Protocol, Op: "create", Err: &transport.LimitError{What: "responses", Limit: maxListResponses, Got: int64(n + 1)},
					Hint: "the server answered a LIST of one folder with many; it is broken or hostile"}
			}
			found = found || l.Mailbox == folder
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		if found {
			return nil
		}
		err := s.c.Create(folder, nil).Wait()
		var ie *goimap.Error
		if errors.As(err, &ie) && ie.Code == goimap.ResponseCodeAlreadyExists {
			return nil
		}
		return err
	})
}

// Move moves uids to folder (created when missing): MOVE where announced,
// else COPY, \Deleted and UID EXPUNGE (UIDPLUS). Without UIDPLUS the
// originals are only flagged \Deleted: a plain EXPUNGE would also remove
// messages other clients flagged.
func (s *Session) Move(ctx context.Context, uids []UID, folder string) error {
	if len(uids) == 0 {
		return nil
	}
	err := s.move(ctx, uids, folder)
	if isTryCreate(err) {
		if err := s.EnsureFolder(ctx, folder); err != nil {
			return err
		}
		err = s.move(ctx, uids, folder)
	}
	return err
}

func isTryCreate(err error) bool {
	var ie *goimap.Error
	return errors.As(err, &ie) && (ie.Code == goimap.ResponseCodeTryCreate || ie.Code == goimap.ResponseCodeNonExistent)
}

func (s *Session) move(ctx context.Context, uids []UID, folder string) error {
	set := goimap.UIDSetNum(uids...)
	if s.caps.Move {
		return s.do(ctx, "move", s.cfg.timeout(), func() error {
			_, err := s.c.Move(set, folder).Wait()
			return err
		})
	}
	if err := s.do(ctx, "copy", s.cfg.timeout(), func() error {
		_, err := s.c.Copy(set, folder).Wait()
		return err
	}); err != nil {
		return err
	}
	return s.Delete(ctx, uids)
}

// Delete flags uids \Deleted and, with UIDPLUS, expunges exactly them.
func (s *Session) Delete(ctx context.Context, uids []UID) error {
	if len(uids) == 0 {
		return nil
	}
	set := goimap.UIDSetNum(uids...)
	return s.do(ctx, "delete", s.cfg.timeout(), func() error {
		if err := s.c.Store(set, &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true, Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Close(); err != nil {
			return err
		}
		if !s.caps.UIDPlus {
			return nil
		}
		return s.c.UIDExpunge(set).Close()
	})
}

// Noop sends NOOP on the open session (the cheap poll): the server reports
// new messages, and the connection is proven alive. It returns whether the
// folder grew since the last check.
func (s *Session) Noop(ctx context.Context) (bool, error) {
	err := s.do(ctx, "noop", s.cfg.timeout(), func() error { return s.c.Noop().Wait() })
	return s.takeExists(), err
}

func (s *Session) takeExists() bool {
	select {
	case <-s.exists:
		return true
	default:
		return false
	}
}

// Idle runs IDLE until the server announces new mail (true), renew fires,
// or ctx ends (false, nil). The connection deadline covers the whole wait
// plus Timeout, so a server that vanished while idle is noticed.
func (s *Session) Idle(ctx context.Context, renew <-chan time.Time, max time.Duration) (bool, error) {
	// A NOOP first flushes updates the server queued since the last
	// command (not every server sends them when IDLE starts).
	if grew, err := s.Noop(ctx); err != nil || grew {
		return grew, err
	}
	if max <= 0 {
		max = DefaultIdleRenew
	}
	var woke, closed bool
	w := watch(context.Background(), s.conn, max+s.cfg.timeout())
	err := func() error {
		cmd, err := s.c.Idle()
		if err != nil {
			return err
		}
		timer := time.NewTimer(max)
		defer timer.Stop()
		select {
		case <-s.exists:
			woke = true
		case <-renew:
		case <-timer.C:
		case <-ctx.Done():
		case <-s.c.Closed():
			closed = true
		}
		w.reset(s.cfg.timeout())
		if err := cmd.Close(); err != nil {
			return err
		}
		return cmd.Wait()
	}()
	if timedOut := w.stop(); err != nil {
		if timedOut {
			err = errors.Join(ErrTimeout, err)
		} else if rerr := s.readErr(); closed && rerr != nil {
			// go-imap's reader ended and closed the connection, so the
			// DONE could not be written: the reader's error is the cause.
			err = fmt.Errorf("connection closed while idle: %w", rerr)
		}
		return woke, s.classify("idle", err)
	}
	return woke, nil
}

// readErr is the first error the connection's reads returned, if any.
func (s *Session) readErr() error {
	if s.fr == nil {
		return nil
	}
	return s.fr.ReadErr()
}

// Close logs out (bounded by a short deadline) and closes the connection.
func (s *Session) Close() error {
	w := watch(context.Background(), s.conn, min(s.cfg.timeout(), 5*time.Second))
	_ = s.c.Logout().Wait()
	w.stop()
	return s.c.Close()
}

// Abort closes the connection without logging out.
func (s *Session) Abort() { _ = s.c.Close() }

// classify turns any error into a *transport.Error, with the connection's
// credentials removed from it (a server may quote them in its refusal).
func (s *Session) classify(op string, err error) error {
	if err == nil {
		return nil
	}
	return s.red.RedactError(s.classifyRaw(op, err))
}

func (s *Session) classifyRaw(op string, err error) error {
	if s.fr != nil {
		if uid, lerr := s.fr.Err(); lerr != nil {
			// go-imap flattens the read error into text: the framer
			// keeps the cause.
			e := &transport.Error{Class: transport.Protocol, Protocol: "imap", Op: op, Server: s.server, Err: lerr,
				Hint: "the server sent more than IMAP allows here; it is broken or hostile"}
			if uid != 0 && op == "fetch" && s.fetching(uid) {
				e.Item = uidString(uid)
				e.Hint = "the server's answer for this message exceeds its bounds (a body far larger than listed or than the mailbox allows, or a response without end); the message is quarantined"
			}
			return e
		}
	}
	var te *transport.Error
	if errors.As(err, &te) {
		if te.Server == "" {
			c := *te
			c.Server, c.Protocol = s.server, "imap"
			if c.Op == "" {
				c.Op = op
			}
			return &c
		}
		return err
	}
	e := &transport.Error{Class: transport.Temporary, Protocol: "imap", Op: op, Server: s.server, Err: err}
	var ie *goimap.Error
	var tlsRec tls.RecordHeaderError
	var certErr *tls.CertificateVerificationError
	switch {
	case (op == "tls" || op == "starttls") && !errors.Is(err, ErrTimeout) && !errors.Is(err, context.Canceled):
		e.Class, e.Hint = transport.TLS, "the TLS handshake failed or the server offers no STARTTLS; check the security setting, port and certificate"
		if errors.As(err, &certErr) {
			e.Hint = "the server certificate is not trusted for this host name"
		}
	case errors.As(err, &ie):
		e.Message = string(ie.Type)
		if ie.Code != "" {
			e.Message += " [" + string(ie.Code) + "]"
		}
		e.Message += " " + ie.Text
		switch {
		case ie.Type == goimap.StatusResponseTypeBad:
			e.Class = transport.Protocol
		case op == "login" || ie.Code == goimap.ResponseCodeAuthenticationFailed || ie.Code == goimap.ResponseCodeAuthorizationFailed || ie.Code == goimap.ResponseCodeExpired:
			e.Class = transport.Auth
			e.Hint = "the server refused the credentials; check the user name and password or re-authorise OAuth2"
		case ie.Code == goimap.ResponseCodeUnavailable || ie.Code == goimap.ResponseCodeInUse || ie.Code == goimap.ResponseCodeLimit || ie.Code == goimap.ResponseCodeServerBug || ie.Code == goimap.ResponseCodeOverQuota:
			e.Class = transport.Temporary
		case ie.Code == goimap.ResponseCodeNonExistent || ie.Code == goimap.ResponseCodeTryCreate || op == "select":
			e.Class = transport.Permanent
			e.Hint = "the folder does not exist; check the folder name"
		default:
			e.Class = transport.Permanent
		}
	case errors.As(err, &certErr):
		e.Class, e.Hint = transport.TLS, "the server certificate is not trusted for this host name"
	case errors.As(err, &tlsRec):
		e.Class, e.Hint = transport.TLS, "the TLS handshake failed; check the security setting and port"
	case errors.Is(err, ErrTimeout):
		e.Class, e.Hint = transport.Temporary, "the server did not answer in time"
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		e.Class, e.Hint = transport.Temporary, "the operation was cancelled or took too long"
	case isNetErr(err):
		e.Class, e.Hint = transport.Temporary, "the connection failed or timed out"
	}
	if op == "greeting" && e.Hint == "" {
		e.Hint = "the server did not greet; check the port and security setting"
	}
	return e
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}
