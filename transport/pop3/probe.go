package pop3

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// ProbeReport is what Probe found: the Detail of the transport.Report.
type ProbeReport struct {
	Server   string
	Security mailbox.Security
	// Caps as announced after login (servers announce more then), with
	// STLS and SASL as announced before it.
	Caps Caps
	// Cursor is "uidl", or "content-hash" for a server without UIDL.
	Cursor string
	// Messages and Bytes in the maildrop (STAT).
	Messages int
	Bytes    int64
	Warnings []string
	Elapsed  time.Duration
}

// Probe connects as the engine would, authenticates, reads STAT and
// disconnects without changing the maildrop. The report is filled as far
// as the probe got.
func Probe(ctx context.Context, cfg *Config, m *mailbox.Mailbox) (ProbeReport, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	start := time.Now()
	r := ProbeReport{}
	if m == nil || m.Inbound == nil {
		return r, errf(transport.Permanent, "probe", "the mailbox has no inbound settings")
	}
	r.Server = fmt.Sprintf("%s:%d", m.Inbound.Server.Host, Port(m))
	r.Security = m.Inbound.Server.Effective(DefaultTLSPort)
	defer func() { r.Elapsed = max(time.Since(start), time.Nanosecond) }()
	c, err := dial(ctx, cfg, m)
	if err != nil {
		r.Elapsed = max(time.Since(start), time.Nanosecond)
		return r, err
	}
	defer func() { _ = c.quit(ctx) }()
	pre := c.caps
	_ = c.capa(ctx) // after login the capabilities are complete
	r.Caps = c.caps
	// What is offered before login only: STLS, SASL.
	r.Caps.STLS = pre.STLS || c.upgraded
	if len(r.Caps.SASL) == 0 {
		r.Caps.SASL = pre.SASL
	}
	r.Cursor = "uidl"
	if c.caps.CAPA && !c.caps.UIDL {
		r.Cursor = "content-hash"
		r.Warnings = append(r.Warnings, "the server does not offer UIDL: messages are recognised by a hash of their headers")
	}
	if r.Security == mailbox.SecurityPlaintext {
		r.Warnings = append(r.Warnings, "the connection is not encrypted")
	}
	if m.Inbound.PostAction == mailbox.PostKeep {
		r.Warnings = append(r.Warnings, "mail is kept on the server: the maildrop and the cursor grow until it is deleted")
	}
	st, err := c.cmd(ctx, "STAT", "STAT")
	if err != nil {
		err = classify("stat", c.server, c.red, ctx, err)
		r.Elapsed = max(time.Since(start), time.Nanosecond)
		return r, err
	}
	if _, err := fmt.Sscanf(st, "%d %d", &r.Messages, &r.Bytes); err != nil {
		r.Elapsed = max(time.Since(start), time.Nanosecond)
		return r, classify("stat", c.server, c.red, ctx, c.violation("STAT", st))
	}
	r.Elapsed = max(time.Since(start), time.Nanosecond)
	return r, nil
}

// Check implements transport.Checker with Probe.
func (s *Source) Check(ctx context.Context, m *mailbox.Mailbox) (transport.Report, error) {
	r, err := Probe(ctx, s.cfg, m)
	rep := transport.Report{Kind: mailbox.TransportPOP3, Server: r.Server, Security: r.Security, Warnings: r.Warnings, Elapsed: r.Elapsed, Detail: r}
	if err != nil {
		return rep, err
	}
	var caps []string
	for _, c := range []struct {
		on   bool
		name string
	}{{r.Caps.UIDL, "UIDL"}, {r.Caps.TOP, "TOP"}, {r.Caps.USER, "USER"}, {r.Caps.STLS, "STLS"}} {
		if c.on {
			caps = append(caps, c.name)
		}
	}
	if len(r.Caps.SASL) > 0 {
		caps = append(caps, "SASL "+strings.Join(r.Caps.SASL, " "))
	}
	rep.Facts = append(rep.Facts,
		transport.Fact{Name: "messages", Value: fmt.Sprint(r.Messages)},
		transport.Fact{Name: "bytes", Value: fmt.Sprint(r.Bytes)},
		transport.Fact{Name: "cursor", Value: r.Cursor},
		transport.Fact{Name: "capabilities", Value: strings.Join(caps, " ")})
	return rep, nil
}
