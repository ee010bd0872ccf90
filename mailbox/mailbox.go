// Package mailbox defines a mail connection as the host registers it: an
// inbound mailbox read over IMAP (or another transport the host registers),
// or an outbound mailbox the system sends its own mail through over SMTP
// (or another transport), with its settings, credentials and validation.
//
// The package is pure: it does no I/O. Transports (transport/imap,
// transport/smtp) and stores read these types.
package mailbox

import (
	"fmt"
	"time"
)

// ID identifies a mailbox. It is chosen by the host (a UUID, a database key).
type ID string

// Kind says what a mailbox is for.
type Kind int

const (
	// KindUnset is the zero Kind; Validate refuses it.
	KindUnset Kind = iota
	// Inbound mailboxes are read: mail arriving there is processed and
	// handed to the host.
	Inbound
	// Outbound mailboxes are the connections the system sends its own mail
	// through.
	Outbound
)

// String returns "inbound", "outbound" or "unset".
func (k Kind) String() string {
	switch k {
	case Inbound:
		return "inbound"
	case Outbound:
		return "outbound"
	default:
		return "unset"
	}
}

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, error) {
	switch s {
	case "inbound":
		return Inbound, nil
	case "outbound":
		return Outbound, nil
	}
	return KindUnset, fmt.Errorf("mailbox: unknown kind %q", s)
}

// Mailbox is one mail connection.
//
// Exactly one of Inbound and Outbound is set, matching Kind. Values handed out
// by a catalog are snapshots: do not mutate them, save a modified copy.
type Mailbox struct {
	ID ID
	// Description is the name an administrator sees. Required.
	Description string
	Kind        Kind
	// Address is the mailbox's own e-mail address (for inbound mailboxes,
	// where customers write to; for outbound ones, the envelope sender when
	// Outbound.From is empty). Optional, parsed with net/mail when set.
	Address string
	// Enabled mailboxes are polled (inbound) or used to send (outbound).
	// A disabled mailbox is kept but not used; the resolver refuses it.
	Enabled bool

	Inbound  *InboundSettings
	Outbound *OutboundSettings
}

// TransportKind names the transport a mailbox is read or sent through: the
// key under which a host registers the transport with the engines
// (transport.Sources, transport.Senders). The zero value is the default of
// the mailbox's kind, IMAP for inbound and SMTP for outbound, so mailboxes
// saved before the field existed keep working. Kinds other than the
// built-in ones are any lower-case token the host registers ("graph",
// "gmail", "pop3", "myapi").
type TransportKind string

// Transport kinds correio knows by name. TransportIMAP and TransportSMTP
// are built in; the others name the transports that follow (they need a
// registered transport).
const (
	TransportDefault TransportKind = ""
	TransportIMAP    TransportKind = "imap"
	TransportSMTP    TransportKind = "smtp"
	TransportPOP3    TransportKind = "pop3"
	TransportGraph   TransportKind = "graph"
	TransportGmail   TransportKind = "gmail"
	// TransportPush is mail pushed to the library (an MTA pipe, a
	// webhook): nothing is read, so it has no cursor.
	TransportPush TransportKind = "push"
)

// Transport returns the transport kind the mailbox uses: its settings'
// Transport, or the default of its kind (imap, smtp); empty for a mailbox
// without settings.
func (m *Mailbox) Transport() TransportKind {
	switch {
	case m == nil:
		return TransportDefault
	case m.Kind == Inbound && m.Inbound != nil:
		return m.Inbound.TransportOrDefault()
	case m.Kind == Outbound && m.Outbound != nil:
		return m.Outbound.TransportOrDefault()
	}
	return TransportDefault
}

// Security is how a connection is protected.
type Security string

const (
	// SecurityDefault picks implicit TLS on the well-known TLS ports (993 for
	// IMAP, 465 for SMTP) and STARTTLS otherwise.
	SecurityDefault Security = ""
	// SecurityTLS is implicit TLS from the first byte (IMAPS, SMTPS).
	SecurityTLS Security = "tls"
	// SecuritySTARTTLS upgrades a plaintext connection; a server that does
	// not offer STARTTLS is refused.
	SecuritySTARTTLS Security = "starttls"
	// SecurityPlaintext sends everything, credentials included, in the
	// clear. It needs Server.AllowPlaintext.
	SecurityPlaintext Security = "plaintext"
)

// Server is where a mailbox connects.
type Server struct {
	Host string
	// Port 1-65535; zero picks the default of the protocol and security.
	Port     int
	Security Security
	// AllowPlaintext is the explicit opt-in SecurityPlaintext needs.
	AllowPlaintext bool
	// TLSServerName overrides the name checked in the server certificate
	// (defaults to Host).
	TLSServerName string
}

// Effective returns the security actually used: SecurityDefault resolved by
// port (tlsPort is 993 for IMAP, 465 for SMTP).
func (s Server) Effective(tlsPort int) Security {
	if s.Security != SecurityDefault {
		return s.Security
	}
	if s.Port == 0 || s.Port == tlsPort {
		return SecurityTLS
	}
	return SecuritySTARTTLS
}

// AuthMechanism selects a SASL mechanism.
type AuthMechanism string

const (
	// AuthAuto picks the strongest mechanism both sides support for the
	// credentials given (XOAUTH2 when a TokenSource is set).
	AuthAuto    AuthMechanism = ""
	AuthPlain   AuthMechanism = "plain"
	AuthLogin   AuthMechanism = "login"
	AuthCRAMMD5 AuthMechanism = "cram-md5"
	AuthXOAUTH2 AuthMechanism = "xoauth2"
	// AuthNone connects without authenticating (an internal relay).
	AuthNone AuthMechanism = "none"
)

// Credentials authenticate a mailbox: a username with either a Password or
// an OAuth2 TokenSource.
type Credentials struct {
	Username  string
	Password  Secret
	Mechanism AuthMechanism
	// OAuth2 supplies access tokens for XOAUTH2. It is runtime wiring, not
	// configuration: stores keep a reference the host resolves.
	OAuth2 TokenSource
}

// PostAction is what happens to a message on the server once the host's
// handler accepted it and correio recorded it.
type PostAction string

const (
	// PostSeen marks the message \Seen (the default).
	PostSeen PostAction = ""
	// PostMove moves it to InboundSettings.MoveTo.
	PostMove PostAction = "move"
	// PostDelete deletes and expunges it.
	PostDelete PostAction = "delete"
	// PostKeep leaves it untouched (correio remembers it handled it).
	PostKeep PostAction = "keep"
)

// StartFrom is where a newly added inbound mailbox starts reading.
type StartFrom string

const (
	// StartAll reads every message already in the folder (the default).
	StartAll StartFrom = ""
	// StartUnseen reads only messages without \Seen, now and later.
	StartUnseen StartFrom = "unseen"
	// StartNew reads only mail arriving after the mailbox was first polled.
	StartNew StartFrom = "new"
)

// IdleMode controls IMAP IDLE.
type IdleMode string

const (
	// IdleAuto uses IDLE when the server announces it, polling otherwise.
	IdleAuto IdleMode = ""
	// IdleOn requires IDLE; Probe reports a server without it.
	IdleOn IdleMode = "on"
	// IdleOff always polls on PollInterval.
	IdleOff IdleMode = "off"
)

// Defaults applied where a setting is zero.
const (
	DefaultFolder         = "INBOX"
	DefaultPollInterval   = time.Minute
	DefaultMaxMessageSize = 50 << 20
	DefaultMaxConnections = 2
	DefaultIMAPTLSPort    = 993
	DefaultIMAPPort       = 143
	DefaultSMTPTLSPort    = 465
	DefaultSMTPPort       = 587
)

// InboundSettings are the settings of an inbound mailbox: the transport it
// is read through (IMAP by default) and what correio does with its mail.
type InboundSettings struct {
	// Transport names the inbound transport (default TransportIMAP).
	// Server, Credentials, Folder, MoveTo and Idle are read by the
	// transport; the others by the engine.
	Transport   TransportKind
	Server      Server
	Credentials Credentials
	// Folder to read; default INBOX.
	Folder     string
	PostAction PostAction
	// MoveTo is the target folder of PostMove (created when missing).
	MoveTo string
	// QuarantineFolder, when set, receives messages that could not be read
	// or that the host refused permanently.
	QuarantineFolder string
	StartFrom        StartFrom
	// PollInterval between checks when IDLE is not used; default 1 minute.
	PollInterval time.Duration
	Idle         IdleMode
	// MaxMessageSize in bytes; larger messages are quarantined unread.
	// Default 50 MiB.
	MaxMessageSize int64
	// KeepFor is the retention of leave-on-server: with the keep
	// post-action, a handled message is deleted from the server once this
	// long has passed since correio first handed it off (0: kept for
	// ever). Transports that offer it say so (POP3 does); others refuse
	// it in Validate.
	KeepFor time.Duration
}

// TransportOrDefault returns Transport, or TransportIMAP.
func (s *InboundSettings) TransportOrDefault() TransportKind {
	if s.Transport == TransportDefault {
		return TransportIMAP
	}
	return s.Transport
}

// FolderOrDefault returns Folder, or INBOX.
func (s *InboundSettings) FolderOrDefault() string {
	if s.Folder == "" {
		return DefaultFolder
	}
	return s.Folder
}

// PollIntervalOrDefault returns PollInterval, or one minute.
func (s *InboundSettings) PollIntervalOrDefault() time.Duration {
	if s.PollInterval <= 0 {
		return DefaultPollInterval
	}
	return s.PollInterval
}

// MaxMessageSizeOrDefault returns MaxMessageSize, or 50 MiB.
func (s *InboundSettings) MaxMessageSizeOrDefault() int64 {
	if s.MaxMessageSize <= 0 {
		return DefaultMaxMessageSize
	}
	return s.MaxMessageSize
}

// Port returns the configured port, or the default for its security.
func (s *InboundSettings) Port() int {
	if s.Server.Port != 0 {
		return s.Server.Port
	}
	if s.Server.Effective(DefaultIMAPTLSPort) == SecurityTLS {
		return DefaultIMAPTLSPort
	}
	return DefaultIMAPPort
}

// Identity is a display name and an address.
type Identity struct {
	Name    string
	Address string
}

// Rate is a sending limit: at most N messages per Per. The zero Rate is
// unlimited.
type Rate struct {
	N   int
	Per time.Duration
}

// Unlimited reports whether r sets no limit.
func (r Rate) Unlimited() bool { return r.N <= 0 || r.Per <= 0 }

// OutboundSettings are the settings of an outbound mailbox: the transport
// it sends through (SMTP by default), the sender identity and the limits.
type OutboundSettings struct {
	// Transport names the outbound transport (default TransportSMTP).
	Transport   TransportKind
	Server      Server
	Credentials Credentials
	// From is the sender identity of every message. Its address is
	// required; its domain also names Message-IDs.
	From    Identity
	ReplyTo string
	// MaxConnections is the cap of live SMTP connections; default 2.
	MaxConnections int
	// RateLimit is the provider's sending limit (zero: unlimited), kept as
	// providers count it: at most N sends in any window of length Per (a
	// queue may go out in a burst of N, then waits for the oldest send to
	// leave the window). Limits above 10,000 per window keep the same bound
	// with a token bucket at half the sustained rate.
	RateLimit Rate
	// HELOName is sent in EHLO/HELO; default the local host name.
	HELOName string
}

// TransportOrDefault returns Transport, or TransportSMTP.
func (s *OutboundSettings) TransportOrDefault() TransportKind {
	if s.Transport == TransportDefault {
		return TransportSMTP
	}
	return s.Transport
}

// MaxConnectionsOrDefault returns MaxConnections, or 2.
func (s *OutboundSettings) MaxConnectionsOrDefault() int {
	if s.MaxConnections <= 0 {
		return DefaultMaxConnections
	}
	return s.MaxConnections
}

// Port returns the configured port, or the default for its security.
func (s *OutboundSettings) Port() int {
	if s.Server.Port != 0 {
		return s.Server.Port
	}
	if s.Server.Effective(DefaultSMTPTLSPort) == SecurityTLS {
		return DefaultSMTPTLSPort
	}
	return DefaultSMTPPort
}

// Clone returns a deep copy of m, so a modified copy can be saved without
// touching a snapshot others hold.
func (m *Mailbox) Clone() *Mailbox {
	if m == nil {
		return nil
	}
	c := *m
	if m.Inbound != nil {
		in := *m.Inbound
		c.Inbound = &in
	}
	if m.Outbound != nil {
		out := *m.Outbound
		c.Outbound = &out
	}
	return &c
}

// String describes the mailbox without any secret.
func (m *Mailbox) String() string {
	return fmt.Sprintf("%s mailbox %q (%s)", m.Kind, m.ID, m.Description)
}
