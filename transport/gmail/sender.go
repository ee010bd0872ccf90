package gmail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/internal/rest"
)

// MaxMessage is the largest message users.messages.send takes (36 MB, the
// documented maximum of its media upload).
const MaxMessage = 36 << 20

// ErrRecipients is wrapped by the error of a message whose envelope and
// headers disagree in a way Gmail cannot honour (see Sender).
var ErrRecipients = errors.New("gmail: the message's header recipients are not all in the envelope")

// Sender is the outbound Gmail transport: users.messages.send with the
// raw MIME as a media upload (uploadType=media, message/rfc822), so the
// message goes as correio built it. Gmail has no SMTP envelope: it delivers
// to the recipients of the To, Cc and Bcc headers (and removes Bcc). So
// Send adds a Bcc header line for envelope recipients the headers do not
// name, and refuses (class Permanent, ErrRecipients) a message whose
// headers name a recipient the envelope leaves out, rather than send to
// someone the engine did not ask for (unless
// Config.DeliverHeaderRecipients). Gmail accepts or refuses the message
// as a whole; a recipient it cannot deliver to comes back later as a
// bounce (a DSN in the mailbox). Gmail may rewrite the From header to the
// account's address or a verified send-as alias. Safe for concurrent use.
type Sender struct{ c *client }

// NewSender returns a Sender; cfg may be nil.
func NewSender(cfg *Config) *Sender { return &Sender{c: newClient(cfg)} }

var (
	_ transport.Sender  = (*Sender)(nil)
	_ transport.Checker = (*Sender)(nil)
)

// Validate implements transport.Checker.
func (s *Sender) Validate(m *mailbox.Mailbox) error {
	var cr mailbox.Credentials
	if m != nil && m.Outbound != nil {
		cr = m.Outbound.Credentials
	}
	return s.c.validate(m, "outbound", cr)
}

// Open implements transport.Sender. It gets a token (so a mailbox that
// cannot authenticate fails here) but sends nothing.
func (s *Sender) Open(ctx context.Context, m *mailbox.Mailbox) (transport.Outgoing, error) {
	if m == nil || m.Outbound == nil {
		return nil, s.c.errorf(transport.Permanent, "open", errors.New("not an outbound mailbox"), "")
	}
	k, err := s.c.open(m.Outbound.Credentials, m.Address, []string{ScopeSend})
	if err != nil {
		return nil, err
	}
	if _, err := transport.AccessToken(ctx, k.tokens); err != nil {
		return nil, err
	}
	return &outgoing{k: k}, nil
}

// Check implements transport.Checker: it gets a token and reads the
// mailbox's profile (the token works and may act as the user), and sends
// nothing. A token with gmail.send only cannot read the profile: Check then
// passes with a warning saying so.
func (s *Sender) Check(ctx context.Context, m *mailbox.Mailbox) (transport.Report, error) {
	ck := rest.StartCheck(m.Transport(), s.c.server())
	rep, done := &ck.Report, ck.Done
	if err := s.Validate(m); err != nil {
		return done(err)
	}
	k, err := s.c.open(m.Outbound.Credentials, m.Address, []string{ScopeSend})
	if err != nil {
		return done(err)
	}
	if _, err := transport.AccessToken(ctx, k.tokens); err != nil {
		return done(err)
	}
	p, err := k.profile(ctx)
	var te *transport.Error
	switch {
	case err == nil:
		rep.Facts = append(rep.Facts, transport.Fact{Name: "user", Value: p.Email})
	case errors.As(err, &te) && te.Code == http.StatusForbidden && (te.Enhanced == "insufficientPermissions" || te.Enhanced == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"):
		// A token with gmail.send only cannot read the profile.
		rep.Facts = append(rep.Facts, transport.Fact{Name: "user", Value: k.user})
		rep.Warnings = append(rep.Warnings, "the token may send only (gmail.send): the mailbox could not be verified without sending")
	default:
		return done(err)
	}
	rep.Facts = append(rep.Facts, transport.Fact{Name: "auth", Value: k.auth})
	rep.Warnings = append(rep.Warnings, "Gmail keeps a copy of every message sent (label SENT)")
	return done(nil)
}

type outgoing struct{ k *conn }

func (o *outgoing) Close() error { return nil }

// Send implements transport.Outgoing.
func (o *outgoing) Send(ctx context.Context, env transport.Envelope, msg io.WriterTo) (transport.Result, error) {
	var raw bytes.Buffer
	if _, err := msg.WriteTo(&raw); err != nil {
		return transport.Result{}, o.k.c.errorf(transport.Temporary, "data", err, "")
	}
	body, err := rest.WithEnvelope(raw.Bytes(), env.To, o.k.c.cfg.DeliverHeaderRecipients, "gmail", ErrRecipients)
	if err != nil {
		return rest.RejectAll(env, o.k.c.errorf(transport.Permanent, "send", err,
			"Gmail delivers to the message's header recipients: put every To, Cc and Bcc recipient in the envelope"))
	}
	if len(body) > MaxMessage {
		return rest.RejectAll(env, o.k.c.errorf(transport.Permanent, "send",
			fmt.Errorf("the message is %d bytes: over Gmail's 36 MB limit", len(body)), "send large messages through SMTP relay or as links"))
	}
	var sent struct {
		ID string `json:"id"`
	}
	err = o.k.json(ctx, request{op: "send", method: http.MethodPost, url: o.k.c.cfg.BaseURL + "/upload/gmail/v1/users/" + url.PathEscape(o.k.user) + "/messages/send?uploadType=media",
		body: body, contentType: "message/rfc822"}, &sent)
	if err != nil {
		if transport.ClassOf(err) == transport.Permanent || transport.ClassOf(err) == transport.Auth {
			return rest.RejectAll(env, err)
		}
		return transport.Result{}, err
	}
	return transport.Result{Accepted: append([]string(nil), env.To...), Response: "id " + sent.ID}, nil
}
