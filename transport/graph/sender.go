package graph

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
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
	start := time.Now()
	rep := transport.Report{Kind: m.Transport(), Server: s.c.server(), Security: mailbox.SecurityTLS}
	done := func(err error) (transport.Report, error) {
		rep.Elapsed = max(time.Since(start), time.Nanosecond)
		return rep, err
	}
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
	body, err := withEnvelope(raw.Bytes(), env.To, o.k.c.cfg.DeliverHeaderRecipients)
	if err != nil {
		return rejectAll(env, &transport.Error{Class: transport.Permanent, Protocol: "graph", Op: "send", Server: o.k.c.server(), Err: err,
			Hint: "Graph delivers to the message's header recipients: put every To, Cc and Bcc recipient in the envelope"})
	}
	enc := make([]byte, base64.StdEncoding.EncodedLen(len(body)))
	base64.StdEncoding.Encode(enc, body)
	if len(enc) > MaxRequestBody {
		return rejectAll(env, &transport.Error{Class: transport.Permanent, Protocol: "graph", Op: "send", Server: o.k.c.server(),
			Err: fmt.Errorf("the message is %d bytes, %d in base64: over Graph's 4 MB request limit", len(body), len(enc)), Hint: "send large messages through SMTP"})
	}
	err = o.k.json(ctx, request{op: "send", method: http.MethodPost, url: o.k.userURL() + "/sendMail", body: enc, contentType: "text/plain"}, nil)
	if err != nil {
		if transport.ClassOf(err) == transport.Permanent {
			return rejectAll(env, err)
		}
		return transport.Result{}, err
	}
	return transport.Result{Accepted: append([]string(nil), env.To...), Response: "202 Accepted"}, nil
}

func rejectAll(env transport.Envelope, err error) (transport.Result, error) {
	var te *transport.Error
	if !errors.As(err, &te) {
		return transport.Result{}, err
	}
	res := transport.Result{}
	for _, a := range env.To {
		res.Rejected = append(res.Rejected, transport.RecipientError{Address: a, Err: te})
	}
	return res, err
}

// withEnvelope checks the header recipients against to and prepends a Bcc
// header for the recipients of to that the headers do not name.
func withEnvelope(raw []byte, to []string, headerOK bool) ([]byte, error) {
	if len(to) == 0 {
		return nil, fmt.Errorf("%w: no recipients", ErrRecipients)
	}
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return nil, fmt.Errorf("graph: the message has no readable header: %w", err)
	}
	inEnv := map[string]bool{}
	for _, a := range to {
		inEnv[strings.ToLower(a)] = true
	}
	named := map[string]bool{}
	for _, f := range []string{"To", "Cc", "Bcc"} {
		for _, v := range h.Values(f) {
			list, err := mail.ParseAddressList(v)
			if err != nil {
				if strings.TrimSpace(v) == "" || strings.HasSuffix(strings.TrimSpace(v), ":;") {
					continue // an empty group ("undisclosed-recipients:;")
				}
				return nil, fmt.Errorf("graph: the %s header cannot be parsed: %w", f, err)
			}
			for _, a := range list {
				l := strings.ToLower(a.Address)
				if !inEnv[l] && !headerOK {
					return nil, fmt.Errorf("%w: %s", ErrRecipients, a.Address)
				}
				named[l] = true
			}
		}
	}
	var extra []string
	for _, a := range to {
		if !named[strings.ToLower(a)] {
			if _, err := mail.ParseAddress(a); err != nil || strings.ContainsAny(a, "\r\n,") {
				return nil, fmt.Errorf("%w: %q is not an address", ErrRecipients, a)
			}
			extra = append(extra, a)
		}
	}
	if len(extra) == 0 {
		return raw, nil
	}
	out := make([]byte, 0, len(raw)+64)
	out = append(out, "Bcc: "+strings.Join(extra, ", ")+"\r\n"...)
	return append(out, raw...), nil
}
