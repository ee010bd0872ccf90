package mailbox

import (
	"errors"
	"net/mail"
	"net/netip"
	"strings"
	"unicode"
)

// Code is a stable, language-neutral reason a field is invalid. Hosts map
// codes to messages in their users' language.
type Code string

// Field error codes.
const (
	CodeRequired     Code = "required"
	CodeOutOfRange   Code = "out_of_range"
	CodeInvalid      Code = "invalid"
	CodeBadAddress   Code = "bad_address"
	CodeNotAllowed   Code = "not_allowed"   // a setting of the other kind
	CodeInsecure     Code = "insecure"      // plaintext without opt-in
	CodeConflict     Code = "conflict"      // two settings that exclude each other
	CodeUnsupported  Code = "unsupported"   // an unknown enumeration value
	CodeControlChars Code = "control_chars" // CR, LF or other control characters
)

// FieldError is one invalid field. Path is stable and dotted, for example
// "outbound.server.port", so a form can show the error beside its field.
type FieldError struct {
	Path    string
	Code    Code
	Message string // English detail for logs and developers
}

func (e *FieldError) Error() string {
	return e.Path + ": " + e.Message + " (" + string(e.Code) + ")"
}

// ValidationError lists every problem found at once.
type ValidationError struct {
	Errors []*FieldError
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("mailbox: invalid: ")
	for i, fe := range e.Errors {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(fe.Error())
	}
	return b.String()
}

// Unwrap returns the field errors, so errors.As finds a *FieldError.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Errors))
	for i, fe := range e.Errors {
		errs[i] = fe
	}
	return errs
}

// Field returns the first error for path, or nil.
func (e *ValidationError) Field(path string) *FieldError {
	for _, fe := range e.Errors {
		if fe.Path == path {
			return fe
		}
	}
	return nil
}

// FieldErrors returns the field errors in err (a *ValidationError or a
// joined error containing field errors), or nil.
func FieldErrors(err error) []*FieldError {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Errors
	}
	return nil
}

type collector struct{ errs []*FieldError }

func (c *collector) add(path string, code Code, msg string) {
	c.errs = append(c.errs, &FieldError{Path: path, Code: code, Message: msg})
}

// Validate checks m and returns nil or a *ValidationError listing every
// problem: description required; kind set; settings of the other kind
// refused; host required; ports 1-65535; addresses parsed with net/mail;
// plaintext refused without the explicit opt-in; credentials consistent.
// Server and credentials are checked for the built-in transports (IMAP,
// SMTP); a mailbox of another transport kind is checked here for what the
// engine reads, and by its transport's Validate for the rest.
func (m *Mailbox) Validate() error {
	c := &collector{}
	if strings.TrimSpace(m.Description) == "" {
		c.add("description", CodeRequired, "description is required")
	} else if hasControl(m.Description) {
		c.add("description", CodeControlChars, "description contains control characters")
	}
	if m.Address != "" {
		checkAddress(c, "address", m.Address)
	}
	switch m.Kind {
	case Inbound:
		if m.Outbound != nil {
			c.add("outbound", CodeNotAllowed, "an inbound mailbox has no outbound settings")
		}
		if m.Inbound == nil {
			c.add("inbound", CodeRequired, "inbound settings are required")
		} else {
			m.Inbound.validate(c)
		}
	case Outbound:
		if m.Inbound != nil {
			c.add("inbound", CodeNotAllowed, "an outbound mailbox has no inbound settings")
		}
		if m.Outbound == nil {
			c.add("outbound", CodeRequired, "outbound settings are required")
		} else {
			m.Outbound.validate(c, m.Address)
		}
	case KindUnset:
		c.add("kind", CodeRequired, "kind is required (inbound or outbound)")
	default:
		c.add("kind", CodeUnsupported, "kind must be inbound or outbound")
	}
	if len(c.errs) == 0 {
		return nil
	}
	return &ValidationError{Errors: c.errs}
}

func (s *InboundSettings) validate(c *collector) {
	switch validateTransport(c, "inbound.transport", s.Transport) {
	case TransportDefault, TransportIMAP, TransportPOP3:
		// POP3 has IMAP's server and credentials; transport/pop3's
		// Validate refuses what POP3 does not have (seen, move, folders).
		validateServer(c, "inbound.server", s.Server)
		validateCredentials(c, "inbound.credentials", s.Credentials, false)
	}
	if hasControl(s.Folder) {
		c.add("inbound.folder", CodeControlChars, "folder contains control characters")
	}
	switch s.PostAction {
	case PostSeen, PostDelete, PostKeep:
		if s.MoveTo != "" {
			c.add("inbound.move_to", CodeConflict, "a target folder is only used with the move post-action")
		}
	case PostMove:
		switch {
		case strings.TrimSpace(s.MoveTo) == "":
			c.add("inbound.move_to", CodeRequired, "the move post-action needs a target folder")
		case hasControl(s.MoveTo):
			c.add("inbound.move_to", CodeControlChars, "target folder contains control characters")
		case s.MoveTo == s.FolderOrDefault():
			c.add("inbound.move_to", CodeConflict, "target folder is the folder being read")
		}
	default:
		c.add("inbound.post_action", CodeUnsupported, "post-action must be seen, move, delete or keep")
	}
	if s.QuarantineFolder != "" && (hasControl(s.QuarantineFolder) || s.QuarantineFolder == s.FolderOrDefault()) {
		c.add("inbound.quarantine_folder", CodeInvalid, "quarantine folder must be another folder without control characters")
	}
	switch s.StartFrom {
	case StartAll, StartUnseen, StartNew:
	default:
		c.add("inbound.start_from", CodeUnsupported, "start must be all, unseen or new")
	}
	switch s.Idle {
	case IdleAuto, IdleOn, IdleOff:
	default:
		c.add("inbound.idle", CodeUnsupported, "idle must be auto, on or off")
	}
	if s.PollInterval < 0 {
		c.add("inbound.poll_interval", CodeOutOfRange, "poll interval cannot be negative")
	}
	if s.MaxMessageSize < 0 {
		c.add("inbound.max_message_size", CodeOutOfRange, "max message size cannot be negative")
	}
	switch {
	case s.KeepFor < 0:
		c.add("inbound.keep_for", CodeOutOfRange, "the retention cannot be negative")
	case s.KeepFor > 0 && s.PostAction != PostKeep:
		c.add("inbound.keep_for", CodeConflict, "a retention (leave on server, then delete) needs the keep post-action")
	}
}

func (s *OutboundSettings) validate(c *collector, mailboxAddress string) {
	switch validateTransport(c, "outbound.transport", s.Transport) {
	case TransportDefault, TransportSMTP:
		validateServer(c, "outbound.server", s.Server)
		validateCredentials(c, "outbound.credentials", s.Credentials, true)
	}
	if hasControl(s.From.Name) {
		c.add("outbound.from.name", CodeControlChars, "sender name contains control characters")
	}
	switch {
	case s.From.Address != "":
		checkAddress(c, "outbound.from.address", s.From.Address)
	case mailboxAddress == "":
		c.add("outbound.from.address", CodeRequired, "a sender address is required")
	}
	if s.ReplyTo != "" {
		checkAddress(c, "outbound.reply_to", s.ReplyTo)
	}
	if s.MaxConnections < 0 || s.MaxConnections > 100 {
		c.add("outbound.max_connections", CodeOutOfRange, "max connections must be between 1 and 100 (0 for the default)")
	}
	if s.RateLimit.N < 0 || s.RateLimit.Per < 0 || (s.RateLimit.N > 0) != (s.RateLimit.Per > 0) {
		c.add("outbound.rate_limit", CodeInvalid, "a rate limit needs both a positive count and a positive period")
	}
	if s.HELOName != "" && !validHostname(s.HELOName) {
		c.add("outbound.helo_name", CodeInvalid, "HELO name must be a host name")
	}
}

// validateTransport checks the kind is a token (lower-case letters, digits,
// '-', '_' and '.', at most 32) and returns it. The server and credential
// checks apply to the built-in kinds; other transports validate their own
// settings (transport.Checker).
func validateTransport(c *collector, path string, k TransportKind) TransportKind {
	if len(k) > 32 {
		c.add(path, CodeInvalid, "transport kind is at most 32 characters")
		return "invalid"
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			c.add(path, CodeInvalid, "transport kind must be lower-case letters, digits, '-', '_' or '.'")
			return "invalid"
		}
	}
	return k
}

func validateServer(c *collector, path string, s Server) {
	switch {
	case strings.TrimSpace(s.Host) == "":
		c.add(path+".host", CodeRequired, "server host is required")
	case !validHostname(s.Host):
		c.add(path+".host", CodeInvalid, "server host must be a host name or an IP address")
	}
	if s.Port < 0 || s.Port > 65535 {
		c.add(path+".port", CodeOutOfRange, "port must be between 1 and 65535")
	}
	switch s.Security {
	case SecurityDefault, SecurityTLS, SecuritySTARTTLS:
	case SecurityPlaintext:
		if !s.AllowPlaintext {
			c.add(path+".security", CodeInsecure, "plaintext sends credentials in the clear; it needs the explicit opt-in")
		}
	default:
		c.add(path+".security", CodeUnsupported, "security must be tls, starttls or plaintext")
	}
}

func validateCredentials(c *collector, path string, cr Credentials, outbound bool) {
	switch cr.Mechanism {
	case AuthAuto, AuthPlain, AuthLogin, AuthCRAMMD5:
		if cr.Mechanism == AuthAuto && cr.OAuth2 != nil {
			break
		}
		if strings.TrimSpace(cr.Username) == "" {
			c.add(path+".username", CodeRequired, "username is required")
		}
		if cr.Password.IsZero() && cr.OAuth2 == nil {
			c.add(path+".password", CodeRequired, "password is required")
		}
	case AuthXOAUTH2:
		if strings.TrimSpace(cr.Username) == "" {
			c.add(path+".username", CodeRequired, "XOAUTH2 needs the account's username")
		}
		if cr.OAuth2 == nil {
			c.add(path+".oauth2", CodeRequired, "XOAUTH2 needs a token source")
		}
	case AuthNone:
		if !outbound {
			c.add(path+".mechanism", CodeUnsupported, "reading a mailbox needs authentication")
		}
	default:
		c.add(path+".mechanism", CodeUnsupported, "mechanism must be plain, login, cram-md5, xoauth2 or none")
	}
	if hasControl(cr.Username) {
		c.add(path+".username", CodeControlChars, "username contains control characters")
	}
}

func checkAddress(c *collector, path, addr string) {
	if hasControl(addr) {
		c.add(path, CodeControlChars, "address contains control characters")
		return
	}
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Name != "" || !strings.Contains(a.Address, "@") {
		c.add(path, CodeBadAddress, "not a plain e-mail address (user@example.com)")
	}
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// validHostname accepts DNS names, IPv4 and bracket-less IPv6 literals.
// A colon belongs only in an IPv6 literal: "smtp.acme.example:587" (the
// port typed with the host) is refused.
func validHostname(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	if strings.ContainsRune(h, ':') {
		a, err := netip.ParseAddr(h)
		return err == nil && a.Is6()
	}
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '-' || r == '.' || r == ':' || r == '_':
		default:
			return false
		}
	}
	return true
}
