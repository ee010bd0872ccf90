package smtp

import (
	"context"

	"github.com/correio-dev/correio/mailbox"
)

// ProbeReport is what Probe learned about a server, filled as far as the
// probe got (also when it failed).
type ProbeReport struct {
	// Server is host:port.
	Server   string
	Security mailbox.Security
	// Greeting is the server's first line ("220 mx.example.com ESMTP").
	Greeting string
	// EHLO is the first line of the EHLO reply.
	EHLO string
	// TLSVersion ("TLS 1.3") and TLSCipher are empty without TLS.
	TLSVersion string
	TLSCipher  string
	// Extensions the server announced (after STARTTLS), with parameters.
	Extensions []string
	// AuthMechanisms the server offers.
	AuthMechanisms []string
	// AuthMechanism is the one used; Authenticated says it succeeded.
	AuthMechanism string
	Authenticated bool
}

// Probe is the "test connection" an administrator runs before saving a
// mailbox: it connects through the transport's Net (address policy
// included), reads the greeting, says EHLO, upgrades with STARTTLS or
// speaks implicit TLS, authenticates, and quits without sending. It
// returns the report and, when a step failed, a *transport.Error whose
// Op names the step and whose Hint says what to fix. Probe does not use or
// disturb the mailbox's pool.
func (t *Transport) Probe(ctx context.Context, mb *mailbox.Mailbox) (ProbeReport, error) {
	if mb == nil || mb.Outbound == nil {
		return ProbeReport{}, ErrNotOutbound
	}
	s, rep, err := t.dial(ctx, mb, &ProbeReport{})
	if err != nil {
		return *rep, err
	}
	s.quit(t.opts.CommandTimeout)
	return *rep, nil
}
