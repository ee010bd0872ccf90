package gmail

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
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
	start := time.Now()
	rep := transport.Report{Kind: m.Transport(), Server: s.c.server(), Security: mailbox.SecurityTLS}
	done := func(err error) (transport.Report, error) {
		rep.Elapsed = max(time.Since(start), time.Nanosecond)
		return rep, err
	}
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
	body, err := withEnvelope(raw.Bytes(), env.To, o.k.c.cfg.DeliverHeaderRecipients)
	if err != nil {
		return rejectAll(env, o.k.c.errorf(transport.Permanent, "send", err,
			"Gmail delivers to the message's header recipients: put every To, Cc and Bcc recipient in the envelope"))
	}
	if len(body) > MaxMessage {
		return rejectAll(env, o.k.c.errorf(transport.Permanent, "send",
			fmt.Errorf("the message is %d bytes: over Gmail's 36 MB limit", len(body)), "send large messages through SMTP relay or as links"))
	}
	var sent struct {
		ID string `json:"id"`
	}
	err = o.k.json(ctx, request{op: "send", method: http.MethodPost, url: o.k.c.cfg.BaseURL + "/upload/gmail/v1/users/" + url.PathEscape(o.k.user) + "/messages/send?uploadType=media",
		body: body, contentType: "message/rfc822"}, &sent)
	if err != nil {
		if transport.ClassOf(err) == transport.Permanent || transport.ClassOf(err) == transport.Auth {
			return rejectAll(env, err)
		}
		return transport.Result{}, err
	}
	return transport.Result{Accepted: append([]string(nil), env.To...), Response: "id " + sent.ID}, nil
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
// header for the recipients of to that the headers do not name (the rule
// of transport/graph's Sender).
func withEnvelope(raw []byte, to []string, headerOK bool) ([]byte, error) {
	if len(to) == 0 {
		return nil, fmt.Errorf("%w: no recipients", ErrRecipients)
	}
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return nil, fmt.Errorf("gmail: the message has no readable header: %w", err)
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
				return nil, fmt.Errorf("gmail: the %s header cannot be parsed: %w", f, err)
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
