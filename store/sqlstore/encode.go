// How a mailbox maps to a row of correio_mailboxes, with its secrets sealed.

package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store/secrets"
)

// mailboxRow is a mailbox as stored.
type mailboxRow struct {
	ID          string
	Kind        string
	Description string
	Address     string
	Enabled     bool
	Settings    string // JSON, no secret in it
	Secret      []byte // sealed password, nil when none
}

// server is the stored form of mailbox.Server.
type server struct {
	Host           string `json:"host,omitempty"`
	Port           int    `json:"port,omitempty"`
	Security       string `json:"security,omitempty"`
	AllowPlaintext bool   `json:"allow_plaintext,omitempty"`
	TLSServerName  string `json:"tls_server_name,omitempty"`
}

// settings is the stored form of the kind's settings. It is explicit (not
// the Go structs marshalled) so the column stays stable when the Go types
// grow, and so no secret can slip into it.
type settings struct {
	// Transport is the mailbox's transport kind (empty: the default of
	// its kind, imap or smtp; rows saved before the field existed).
	Transport string `json:"transport,omitempty"`
	Server    server `json:"server"`
	Username  string `json:"username,omitempty"`
	Mechanism string `json:"mechanism,omitempty"`
	OAuth2    bool   `json:"oauth2,omitempty"`

	Folder           string `json:"folder,omitempty"`
	PostAction       string `json:"post_action,omitempty"`
	MoveTo           string `json:"move_to,omitempty"`
	QuarantineFolder string `json:"quarantine_folder,omitempty"`
	StartFrom        string `json:"start_from,omitempty"`
	PollIntervalMS   int64  `json:"poll_interval_ms,omitempty"`
	Idle             string `json:"idle,omitempty"`
	MaxMessageSize   int64  `json:"max_message_size,omitempty"`
	KeepForMS        int64  `json:"keep_for_ms,omitempty"`

	FromName       string `json:"from_name,omitempty"`
	FromAddress    string `json:"from_address,omitempty"`
	ReplyTo        string `json:"reply_to,omitempty"`
	MaxConnections int    `json:"max_connections,omitempty"`
	RateN          int    `json:"rate_n,omitempty"`
	RatePerMS      int64  `json:"rate_per_ms,omitempty"`
	HELOName       string `json:"helo_name,omitempty"`
}

// Place of a mailbox's password and refresh token, for the codec.
func passwordPlace(id mailbox.ID) secrets.Place {
	return secrets.Place{Mailbox: id, Field: "password"}
}

// refreshPlace is where a mailbox's OAuth2 refresh token is sealed.
func refreshPlace(id mailbox.ID) secrets.Place {
	return secrets.Place{Mailbox: id, Field: "oauth2_refresh_token"}
}

// encodeMailbox turns m into a row, sealing its password with codec.
func encodeMailbox(ctx context.Context, codec secrets.Codec, m *mailbox.Mailbox) (mailboxRow, error) {
	r := mailboxRow{ID: string(m.ID), Kind: m.Kind.String(), Description: m.Description, Address: m.Address, Enabled: m.Enabled}
	var s settings
	var cr *mailbox.Credentials
	var srv mailbox.Server
	switch {
	case m.Kind == mailbox.Inbound && m.Inbound != nil:
		in := m.Inbound
		srv, cr = in.Server, &in.Credentials
		s.Transport = string(in.Transport)
		s.Folder, s.PostAction, s.MoveTo, s.QuarantineFolder = in.Folder, string(in.PostAction), in.MoveTo, in.QuarantineFolder
		s.StartFrom, s.PollIntervalMS, s.Idle, s.MaxMessageSize = string(in.StartFrom), in.PollInterval.Milliseconds(), string(in.Idle), in.MaxMessageSize
		s.KeepForMS = in.KeepFor.Milliseconds()
	case m.Kind == mailbox.Outbound && m.Outbound != nil:
		out := m.Outbound
		srv, cr = out.Server, &out.Credentials
		s.Transport = string(out.Transport)
		s.FromName, s.FromAddress, s.ReplyTo = out.From.Name, out.From.Address, out.ReplyTo
		s.MaxConnections, s.RateN, s.RatePerMS, s.HELOName = out.MaxConnections, out.RateLimit.N, out.RateLimit.Per.Milliseconds(), out.HELOName
	default:
		return r, fmt.Errorf("sqlstore: mailbox %q has no settings for kind %s", m.ID, m.Kind)
	}
	s.Server = server{Host: srv.Host, Port: srv.Port, Security: string(srv.Security), AllowPlaintext: srv.AllowPlaintext, TLSServerName: srv.TLSServerName}
	s.Username, s.Mechanism, s.OAuth2 = cr.Username, string(cr.Mechanism), cr.OAuth2 != nil
	if !cr.Password.IsZero() {
		if codec == nil {
			return r, secrets.ErrNoCodec
		}
		sealed, err := codec.Seal(ctx, passwordPlace(m.ID), cr.Password)
		if err != nil {
			return r, fmt.Errorf("sqlstore: seal password of mailbox %q: %w", m.ID, err)
		}
		r.Secret = sealed
	}
	b, err := json.Marshal(s)
	if err != nil {
		return r, err
	}
	r.Settings = string(b)
	return r, nil
}

// TokenSources builds the runtime OAuth2 token source of a mailbox saved
// with one, from its stored refresh token (zero when none was saved).
type TokenSources func(m *mailbox.Mailbox, refreshToken mailbox.Secret) mailbox.TokenSource

// ErrNoTokenSource is returned by the placeholder token source of a mailbox
// saved with OAuth2 when the store was opened without a TokenSources hook.
var ErrNoTokenSource = errors.New("store: mailbox uses OAuth2 but the store has no TokenSources hook to build its token source")

type missingTokens struct{}

func (missingTokens) Token(context.Context) (mailbox.Secret, error) {
	return mailbox.Secret{}, ErrNoTokenSource
}

// decodeMailbox turns a row back into a mailbox. refresh is the sealed refresh
// token column (nil when none).
func decodeMailbox(ctx context.Context, codec secrets.Codec, tokens TokenSources, r mailboxRow, refresh []byte) (*mailbox.Mailbox, error) {
	kind, err := mailbox.ParseKind(r.Kind)
	if err != nil {
		return nil, err
	}
	m := &mailbox.Mailbox{ID: mailbox.ID(r.ID), Kind: kind, Description: r.Description, Address: r.Address, Enabled: r.Enabled}
	var s settings
	if err := json.Unmarshal([]byte(r.Settings), &s); err != nil {
		return nil, fmt.Errorf("sqlstore: settings of mailbox %q: %w", r.ID, err)
	}
	srv := mailbox.Server{Host: s.Server.Host, Port: s.Server.Port, Security: mailbox.Security(s.Server.Security), AllowPlaintext: s.Server.AllowPlaintext, TLSServerName: s.Server.TLSServerName}
	cr := mailbox.Credentials{Username: s.Username, Mechanism: mailbox.AuthMechanism(s.Mechanism)}
	if len(r.Secret) > 0 {
		if codec == nil {
			return nil, secrets.ErrNoCodec
		}
		pw, err := codec.Open(ctx, passwordPlace(m.ID), r.Secret)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: open password of mailbox %q: %w", r.ID, err)
		}
		cr.Password = pw
	}
	switch kind {
	case mailbox.Inbound:
		m.Inbound = &mailbox.InboundSettings{Transport: mailbox.TransportKind(s.Transport), Server: srv, Credentials: cr, Folder: s.Folder, PostAction: mailbox.PostAction(s.PostAction),
			MoveTo: s.MoveTo, QuarantineFolder: s.QuarantineFolder, StartFrom: mailbox.StartFrom(s.StartFrom),
			PollInterval: time.Duration(s.PollIntervalMS) * time.Millisecond, Idle: mailbox.IdleMode(s.Idle), MaxMessageSize: s.MaxMessageSize,
			KeepFor: time.Duration(s.KeepForMS) * time.Millisecond}
	case mailbox.Outbound:
		m.Outbound = &mailbox.OutboundSettings{Transport: mailbox.TransportKind(s.Transport), Server: srv, Credentials: cr, From: mailbox.Identity{Name: s.FromName, Address: s.FromAddress},
			ReplyTo: s.ReplyTo, MaxConnections: s.MaxConnections, RateLimit: mailbox.Rate{N: s.RateN, Per: time.Duration(s.RatePerMS) * time.Millisecond}, HELOName: s.HELOName}
	}
	if s.OAuth2 {
		var rt mailbox.Secret
		if len(refresh) > 0 {
			if codec == nil {
				return nil, secrets.ErrNoCodec
			}
			if rt, err = codec.Open(ctx, refreshPlace(m.ID), refresh); err != nil {
				return nil, fmt.Errorf("sqlstore: open refresh token of mailbox %q: %w", r.ID, err)
			}
		}
		var ts mailbox.TokenSource = missingTokens{}
		if tokens != nil {
			if t := tokens(m, rt); t != nil {
				ts = t
			}
		}
		if m.Inbound != nil {
			m.Inbound.Credentials.OAuth2 = ts
		} else {
			m.Outbound.Credentials.OAuth2 = ts
		}
	}
	return m, nil
}
