package imap

import (
	"context"
	"errors"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// ProbeReport is what Probe found: the "test connection" an administrator
// runs before saving a mailbox.
type ProbeReport struct {
	Server   string
	Security mailbox.Security
	// Folder checked, its message and unseen counts, and UIDVALIDITY.
	Folder      string
	Messages    uint32
	Unseen      uint32
	UIDValidity uint32
	Caps        Caps
	// Warnings are settings that will work worse than expected (IDLE
	// required but not offered, no MOVE so moves are COPY + delete, ...).
	Warnings []string
	// Elapsed is the wall time the probe took.
	Elapsed time.Duration
}

// Probe connects m's server through cfg (so the address policy applies),
// negotiates TLS, logs in, checks the folder exists and counts its messages,
// lists the capabilities that matter, and logs out. The error is a
// *transport.Error whose Hint says what to fix.
func Probe(ctx context.Context, cfg *Config, m *mailbox.Mailbox) (ProbeReport, error) {
	start := time.Now()
	var r ProbeReport
	if m == nil || m.Inbound == nil {
		return r, &transport.Error{Class: transport.Permanent, Protocol: "imap", Op: "probe", Err: errors.New("not an inbound mailbox")}
	}
	r.Security = m.Inbound.Server.Effective(mailbox.DefaultIMAPTLSPort)
	r.Folder = m.Inbound.FolderOrDefault()
	s, err := Dial(ctx, cfg, m)
	if err != nil {
		return r, err
	}
	defer s.Close()
	r.Server, r.Caps = s.server, s.caps
	err = s.do(ctx, "status", s.cfg.timeout(), func() error {
		st, err := s.c.Status(r.Folder, &goimap.StatusOptions{NumMessages: true, NumUnseen: true, UIDValidity: true}).Wait()
		if err != nil {
			return err
		}
		if st.NumMessages != nil {
			r.Messages = *st.NumMessages
		}
		if st.NumUnseen != nil {
			r.Unseen = *st.NumUnseen
		}
		r.UIDValidity = st.UIDValidity
		return nil
	})
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.Class == transport.Permanent {
			te.Hint = "the folder " + r.Folder + " does not exist on the server"
		}
		return r, err
	}
	in := m.Inbound
	if in.Idle == mailbox.IdleOn && !r.Caps.Idle {
		r.Warnings = append(r.Warnings, "IDLE is required but the server does not offer it")
	}
	if in.PostAction == mailbox.PostMove && !r.Caps.Move {
		r.Warnings = append(r.Warnings, "the server has no MOVE: moves are done with COPY and delete")
	}
	if (in.PostAction == mailbox.PostMove || in.PostAction == mailbox.PostDelete) && !r.Caps.UIDPlus {
		r.Warnings = append(r.Warnings, "the server has no UIDPLUS: originals are only flagged \\Deleted, not expunged")
	}
	r.Elapsed = time.Since(start)
	return r, nil
}
