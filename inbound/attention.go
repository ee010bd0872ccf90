package inbound

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// holdFor returns the state that needs a person err puts a mailbox in:
// re-authorisation required for a dead OAuth2 grant, authentication
// failed for refused credentials, "" for the others (TLS refusals and an
// open breaker are StateDown, decided by the caller).
func holdFor(err error) engine.State {
	switch {
	case errors.Is(err, transport.ErrReauthRequired):
		return engine.StateReauthRequired
	case errors.Is(err, transport.ErrAuth):
		return engine.StateAuthFailed
	}
	return ""
}

// hintOf is Health.Hint for state s caused by err: the state's advice and
// the transport's own hint (redacted), when it gave one.
func hintOf(s engine.State, err error, m *mailbox.Mailbox) string {
	h := s.Hint()
	if errors.Is(err, transport.ErrTLS) {
		h = "the TLS connection was refused: check the port and the security setting (STARTTLS or implicit TLS), and the server's certificate"
	}
	var te *transport.Error
	if errors.As(err, &te) && te.Hint != "" {
		h += " (" + redact(m, errors.New(te.Hint)) + ")"
	}
	return h
}

// enterHold puts the mailbox in hold, a state that needs a person: the
// first time with one event and one log line; while it stays there (the
// retries), only LastError and the failure count change.
func (w *worker) enterHold(hold engine.State, msg, hint string) {
	p := w.p
	first := w.hold != hold
	w.hold = hold
	if first {
		p.log.Warn("inbound: mailbox needs a person", "mailbox", string(w.mb.ID), "state", string(hold), "err", msg, "hint", hint)
	}
	now := p.clk.Now()
	p.update(w.mb.ID, func(h *engine.Health) (engine.State, string) {
		h.LastError, h.LastErrorAt, h.Hint = msg, now, hint
		h.ConsecutiveFailures++
		if h.DownSince.IsZero() {
			h.DownSince = now
		}
		if first {
			return hold, msg
		}
		return hold, ""
	})
}

// nap waits d, or until ctx ends (false), or until CheckNow (true at once;
// the breaker lets the next attempt through).
func (w *worker) nap(ctx context.Context, d time.Duration) bool {
	t := w.p.clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	case <-w.kick:
		w.br.Force()
		return true
	}
}

// waitKick waits for CheckNow (true) or the end of ctx (false).
func (w *worker) waitKick(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-w.kick:
		w.br.Force()
		return true
	}
}

// armWait records t, the timer of a kept session's wait (nil once the
// wait ended), for CheckNow to fire; a CheckNow that came before the wait
// fires it at once. No goroutine per waiting mailbox: CheckNow resets the
// timer the wait already selects on.
func (w *worker) armWait(t clock.Timer) {
	w.waitMu.Lock()
	defer w.waitMu.Unlock()
	w.waitTimer = t
	if t == nil {
		return
	}
	select {
	case <-w.kick:
		t.Reset(0)
	default:
	}
}

// CheckNow makes the Poller check mailbox id now: a mailbox waiting for
// its next poll or turn, retrying after a failure, down, or in
// engine.StateAuthFailed or engine.StateReauthRequired (after a person
// fixed the account at the provider) connects at once; a kept session
// (IDLE) checks the folder at once. It returns engine.ErrUnknownMailbox
// for a mailbox the Poller does not run and engine.ErrInactive for a
// disabled or paused one. It does not wait for the check.
func (p *Poller) CheckNow(_ context.Context, id mailbox.ID) error {
	p.mu.Lock()
	w := p.workers[id]
	var inactive bool
	if w != nil {
		inactive = w.closed && !w.started
	}
	p.mu.Unlock()
	switch {
	case w == nil:
		return fmt.Errorf("inbound: mailbox %q: %w", id, engine.ErrUnknownMailbox)
	case inactive:
		return fmt.Errorf("inbound: mailbox %q: %w", id, engine.ErrInactive)
	}
	w.waitMu.Lock()
	defer w.waitMu.Unlock()
	if w.waitTimer != nil { // a kept session waits: wake it now
		w.waitTimer.Reset(0)
		return nil
	}
	select {
	case w.kick <- struct{}{}:
	default: // one check is already asked for
	}
	return nil
}
