package graph

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/internal/rest"
)

// MaxRequestBody is the largest request Graph takes (4 MB): a message
// whose base64 form is larger cannot go through MIME sendMail.
const MaxRequestBody = 4 << 20

// ErrRecipients is wrapped by the error of a message whose envelope and
// headers disagree in a way Graph cannot honour (see Sender).
var ErrRecipients = errors.New("graph: the message's header recipients are not all in the envelope")

// Sender is the outbound Graph transport: sendMail with the raw MIME,
// base64-encoded, as Content-Type text/plain. Graph has no SMTP envelope:
// Exchange delivers to the recipients in the message's To, Cc and Bcc
// headers. So Send adds a Bcc header line for envelope recipients the
// headers do not name (Exchange removes Bcc before delivery), and refuses
// (class Permanent, ErrRecipients) a message whose headers name a
// recipient the envelope leaves out, rather than send to someone the
// engine did not ask for (unless Config.DeliverHeaderRecipients). Graph accepts or refuses the message as a
// whole, never per recipient; the copy is always saved in Sent Items (the
// saveToSentItems parameter exists for JSON messages only). Safe for
// concurrent use.
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
		return nil, &transport.Error{Class: transport.Permanent, Protocol: "graph", Op: "open", Err: errors.New("not an outbound mailbox")}
	}
	k, err := s.c.open(m.Outbound.Credentials, m.Address)
	if err != nil {
		return nil, err
	}
	if _, err := transport.AccessToken(ctx, k.tokens); err != nil {
		return nil, err
	}
	return &outgoing{k: k}, nil
}

// Check implements transport.Checker: it reads the mailbox's Sent Items
// folder (the token works, the user exists, the app may use the mailbox)
// and sends nothing.
func (s *Sender) Check(ctx context.Context, m *mailbox.Mailbox) (transport.Report, error) {
	ck := rest.StartCheck(m.Transport(), s.c.server())
	rep, done := &ck.Report, ck.Done
	if err := s.Validate(m); err != nil {
		return done(err)
	}
	k, err := s.c.open(m.Outbound.Credentials, m.Address)
	if err != nil {
		return done(err)
	}
	var info folderInfo
	if err := k.json(ctx, request{op: "check", method: http.MethodGet, url: k.userURL() + "/mailFolders/sentitems"}, &info); err != nil {
		return done(err)
	}
	rep.Facts = append(rep.Facts, transport.Fact{Name: "user", Value: k.user}, transport.Fact{Name: "auth", Value: k.auth},
		transport.Fact{Name: "sent items", Value: info.DisplayName})
	rep.Warnings = append(rep.Warnings, "a copy of every message is saved in Sent Items (MIME sendMail cannot skip it)")
	return done(nil)
}

type outgoing struct{ k *conn }

func (o *outgoing) Close() error { return nil }

// Send implements transport.Outgoing.
func (o *outgoing) Send(ctx context.Context, env transport.Envelope, msg io.WriterTo) (transport.Result, error) {
	var raw bytes.Buffer
	if _, err := msg.WriteTo(&raw); err != nil {
		return transport.Result{}, &transport.Error{Class: transport.Temporary, Protocol: "graph", Op: "data", Err: err}
	}
	body, err := rest.WithEnvelope(raw.Bytes(), env.To, o.k.c.cfg.DeliverHeaderRecipients, "graph", ErrRecipients)
	if err != nil {
		return rest.RejectAll(env, &transport.Error{Class: transport.Permanent, Protocol: "graph", Op: "send", Server: o.k.c.server(), Err: err,
			Hint: "Graph delivers to the message's header recipients: put every To, Cc and Bcc recipient in the envelope"})
	}
	enc := make([]byte, base64.StdEncoding.EncodedLen(len(body)))
	base64.StdEncoding.Encode(enc, body)
	if len(enc) > MaxRequestBody {
		return rest.RejectAll(env, &transport.Error{Class: transport.Permanent, Protocol: "graph", Op: "send", Server: o.k.c.server(),
			Err: fmt.Errorf("the message is %d bytes, %d in base64: over Graph's 4 MB request limit", len(body), len(enc)), Hint: "send large messages through SMTP"})
	}
	err = o.k.json(ctx, request{op: "send", method: http.MethodPost, url: o.k.userURL() + "/sendMail", body: enc, contentType: "text/plain"}, nil)
	if err != nil {
		if transport.ClassOf(err) == transport.Permanent {
			return rest.RejectAll(env, err)
		}
		return transport.Result{}, err
	}
	return transport.Result{Accepted: append([]string(nil), env.To...), Response: "202 Accepted"}, nil
}
