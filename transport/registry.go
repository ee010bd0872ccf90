package transport

import (
	"context"
	"errors"
	"fmt"

	"github.com/correio-dev/correio/mailbox"
)

// Sources chooses an inbound transport per mailbox by its transport kind
// (mailbox.InboundSettings.Transport): the database/sql driver model
// without global state. A host builds one and passes it as the engine's
// Source; it is itself a Source and a Checker. It must not be modified
// while in use.
//
//	inbound.Options{Source: transport.Sources{
//		mailbox.TransportIMAP: imap.NewSource(cfg),
//		"myapi":               myapi.Source{...},
//	}}
type Sources map[mailbox.TransportKind]Source

// Senders chooses an outbound transport per mailbox by its transport kind
// (mailbox.OutboundSettings.Transport), like Sources.
type Senders map[mailbox.TransportKind]Sender

// ErrNoTransport is wrapped by the errors of a mailbox whose transport
// kind has no registered transport.
var ErrNoTransport = errors.New("transport: no transport registered for the mailbox's kind")

func noTransport(op string, k mailbox.TransportKind) error {
	return &Error{Class: Permanent, Protocol: string(k), Op: op, Err: fmt.Errorf("%w %q", ErrNoTransport, k),
		Hint: "register a transport for this kind with the engine, or correct the mailbox's transport"}
}

// Source returns the transport registered for m's kind.
func (s Sources) Source(m *mailbox.Mailbox) (Source, error) {
	k := m.Transport()
	if src, ok := s[k]; ok && src != nil {
		return src, nil
	}
	return nil, noTransport("open", k)
}

// Open implements Source.
func (s Sources) Open(ctx context.Context, m *mailbox.Mailbox) (Session, error) {
	src, err := s.Source(m)
	if err != nil {
		return nil, err
	}
	return src.Open(ctx, m)
}

// PostActions implements Source: the actions every registered transport
// offers (use Source(m).PostActions for one mailbox's).
func (s Sources) PostActions() []mailbox.PostAction {
	var out []mailbox.PostAction
	for _, a := range []mailbox.PostAction{mailbox.PostSeen, mailbox.PostMove, mailbox.PostDelete, mailbox.PostKeep} {
		all := true
		for _, src := range s {
			all = all && Supports(src.PostActions(), a)
		}
		if all {
			out = append(out, a)
		}
	}
	return out
}

// Validate implements Checker through the mailbox's transport (when it is
// a Checker): it refuses a post-action the transport does not offer.
func (s Sources) Validate(m *mailbox.Mailbox) error {
	src, err := s.Source(m)
	if err != nil {
		return err
	}
	return ValidateSource(src, m)
}

// Check implements Checker through the mailbox's transport.
func (s Sources) Check(ctx context.Context, m *mailbox.Mailbox) (Report, error) {
	src, err := s.Source(m)
	if err != nil {
		return Report{Kind: m.Transport()}, err
	}
	return CheckWith(ctx, src, m)
}

// Sender returns the transport registered for m's kind.
func (s Senders) Sender(m *mailbox.Mailbox) (Sender, error) {
	k := m.Transport()
	if snd, ok := s[k]; ok && snd != nil {
		return snd, nil
	}
	return nil, noTransport("open", k)
}

// Open implements Sender.
func (s Senders) Open(ctx context.Context, m *mailbox.Mailbox) (Outgoing, error) {
	snd, err := s.Sender(m)
	if err != nil {
		return nil, err
	}
	return snd.Open(ctx, m)
}

// Validate implements Checker through the mailbox's transport.
func (s Senders) Validate(m *mailbox.Mailbox) error {
	snd, err := s.Sender(m)
	if err != nil {
		return err
	}
	if c, ok := snd.(Checker); ok {
		return c.Validate(m)
	}
	return m.Validate()
}

// Check implements Checker through the mailbox's transport.
func (s Senders) Check(ctx context.Context, m *mailbox.Mailbox) (Report, error) {
	snd, err := s.Sender(m)
	if err != nil {
		return Report{Kind: m.Transport()}, err
	}
	return CheckWith(ctx, snd, m)
}

// ValidateSource validates m for src: src's own Validate when it is a
// Checker (else mailbox.Validate), and a field error when src does not offer
// the mailbox's post-action.
func ValidateSource(src Source, m *mailbox.Mailbox) error {
	if ss, ok := src.(Sources); ok {
		return ss.Validate(m) // the mailbox's own transport decides
	}
	var err error
	if c, ok := src.(Checker); ok {
		err = c.Validate(m)
	} else {
		err = m.Validate()
	}
	var fes []*mailbox.FieldError
	if m != nil && m.Inbound != nil && !Supports(src.PostActions(), m.Inbound.PostAction) {
		fes = append(fes, &mailbox.FieldError{Path: "inbound.post_action", Code: mailbox.CodeUnsupported,
			Message: fmt.Sprintf("the %s transport cannot apply the post-action %q", m.Transport(), postName(m.Inbound.PostAction))})
	}
	if r, ok := src.(Retainer); m != nil && m.Inbound != nil && m.Inbound.KeepFor > 0 && (!ok || !r.Retains()) {
		fes = append(fes, &mailbox.FieldError{Path: "inbound.keep_for", Code: mailbox.CodeUnsupported,
			Message: fmt.Sprintf("the %s transport does not delete kept mail after a retention (POP3 does)", m.Transport())})
	}
	if len(fes) == 0 {
		return err
	}
	var ve *mailbox.ValidationError
	if errors.As(err, &ve) {
		ve.Errors = append(ve.Errors, fes...)
		return ve
	}
	return errors.Join(err, &mailbox.ValidationError{Errors: fes})
}

// Retainer is implemented by a Source that applies
// mailbox.InboundSettings.KeepFor (leave on server, then delete once the
// retention since the hand-off passed). ValidateSource refuses a
// retention on a Source that is not one.
type Retainer interface {
	// Retains reports whether the Source deletes kept mail after KeepFor.
	Retains() bool
}

func postName(a mailbox.PostAction) string {
	if a == mailbox.PostSeen {
		return "seen"
	}
	return string(a)
}

// CheckWith runs t's Check when t is a Checker; otherwise it reports that
// the transport cannot check (an error of class Permanent wrapping
// ErrUnsupported).
func CheckWith(ctx context.Context, t any, m *mailbox.Mailbox) (Report, error) {
	if c, ok := t.(Checker); ok {
		return c.Check(ctx, m)
	}
	return Report{Kind: m.Transport()}, &Error{Class: Permanent, Protocol: string(m.Transport()), Op: "check", Err: ErrUnsupported, Hint: "this transport has no connection test"}
}
