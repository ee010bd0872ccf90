package rest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"net/textproto"
	"strings"

	"github.com/correio-dev/correio/transport"
)

// WithEnvelope fits a raw message to an API that has no SMTP envelope and
// delivers to the recipients of the To, Cc and Bcc headers (removing Bcc):
// it prepends a Bcc header for the recipients of to that the headers do
// not name, and refuses, with an error wrapping errRecipients, a message
// whose headers name a recipient to leaves out (unless headerOK), or an
// envelope recipient that is not one plain address (a header injected
// through it). protocol starts the other errors' text.
func WithEnvelope(raw []byte, to []string, headerOK bool, protocol string, errRecipients error) ([]byte, error) {
	if len(to) == 0 {
		return nil, fmt.Errorf("%w: no recipients", errRecipients)
	}
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return nil, fmt.Errorf("%s: the message has no readable header: %w", protocol, err)
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
				return nil, fmt.Errorf("%s: the %s header cannot be parsed: %w", protocol, f, err)
			}
			for _, a := range list {
				l := strings.ToLower(a.Address)
				if !inEnv[l] && !headerOK {
					return nil, fmt.Errorf("%w: %s", errRecipients, a.Address)
				}
				named[l] = true
			}
		}
	}
	var extra []string
	for _, a := range to {
		if !named[strings.ToLower(a)] {
			if _, err := mail.ParseAddress(a); err != nil || strings.ContainsAny(a, "\r\n,") {
				return nil, fmt.Errorf("%w: %q is not an address", errRecipients, a)
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

// RejectAll is the result of a message refused as a whole: every
// envelope recipient rejected with err (when err is a *transport.Error).
func RejectAll(env transport.Envelope, err error) (transport.Result, error) {
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
