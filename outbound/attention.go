package outbound

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// holdFor returns the state that needs a person a failed login puts a
// mailbox in: re-authorisation required for a dead OAuth2 grant,
// authentication failed for refused credentials, "" otherwise.
func holdFor(err error) engine.State {
	switch {
	case errors.Is(err, transport.ErrReauthRequired):
		return engine.StateReauthRequired
	case errors.Is(err, transport.ErrAuth):
		return engine.StateAuthFailed
	}
	return ""
}

// hintOf is Health.Hint for state s caused by err.
func hintOf(s engine.State, err error) string {
	h := s.Hint()
	if errors.Is(err, transport.ErrTLS) {
		h = "the TLS connection was refused: check the port and the security setting (STARTTLS or implicit TLS), and the server's certificate"
	}
	var te *transport.Error
	if errors.As(err, &te) && te.Hint != "" {
		h += " (" + te.Hint + ")"
	}
	return h
}

// connFailed records a failed connection (greeting, TLS, login) of st's
// mailbox mb. It returns the hold the failure put the mailbox in
// (auth failed, re-authorisation required), during which the dispatcher
// starts no batch for it: one failed login covers every queued message.
// A state that needs a person (those two, TLS refused, the breaker open)
// emits one EventHealth and one log line when it starts.
func (s *Sender) connFailed(st *boxState, mb *mailbox.Mailbox, err error) engine.State {
	now := s.clk.Now()
	hold := holdFor(err)
	attn := hold
	if hold == "" {
		if st.breaker.Failure() || errors.Is(err, transport.ErrTLS) {
			attn = engine.StateDown
		}
	}
	s.mu.Lock()
	if st.downSince.IsZero() {
		st.downSince = now
	}
	st.lastError, st.lastErrorAt = err.Error(), now
	st.failures++
	st.hold = hold
	switch hold {
	case engine.StateAuthFailed:
		st.holdUntil = now.Add(s.o.AuthRetry.Delay(st.authFails))
		st.authFails++
	case engine.StateReauthRequired:
		st.holdUntil = time.Time{}
	}
	if hold != "" {
		st.heldSrc = mb
	}
	first := attn != "" && st.attn != attn
	st.attn = attn
	if attn != "" {
		st.hint = hintOf(attn, err)
	} else {
		st.hint = ""
	}
	s.mu.Unlock()
	if first {
		h, herr := s.Health(context.Background(), mb.ID)
		if herr != nil {
			h = engine.Health{Mailbox: mb.ID, Kind: mailbox.Outbound, State: attn, Hint: st.hint, LastError: err.Error()}
		}
		s.emit(Event{Kind: EventHealth, Mailbox: mb.ID, Reason: err.Error(), Err: err, Health: h})
	}
	return hold
}

// connOK records a successful connection: holds and the breaker end.
func (s *Sender) connOK(st *boxState) {
	st.breaker.Success()
	s.mu.Lock()
	// More batches may start from the next dispatch on (a finishing
	// batch wakes the dispatcher): the first login was the probe.
	st.connected = true
	st.downSince, st.hold, st.holdUntil, st.heldSrc, st.authFails, st.attn, st.hint, st.failures = time.Time{}, "", time.Time{}, nil, 0, "", "", 0
	s.mu.Unlock()
}

// heldLocked reports whether the dispatcher must skip st's mailbox now
// (callers hold s.mu), and until when (zero: until a person acts). A held
// mailbox whose settings changed in the catalog (new credentials) is tried
// at once.
func (s *Sender) heldLocked(st *boxState, mb *mailbox.Mailbox, now time.Time) (bool, time.Time) {
	if st.paused {
		return true, time.Time{}
	}
	if st.hold == "" {
		return false, time.Time{}
	}
	if st.kicked || (mb != nil && mb != st.heldSrc && !reflect.DeepEqual(mb, st.heldSrc)) {
		return false, time.Time{}
	}
	if st.hold == engine.StateReauthRequired {
		return true, time.Time{}
	}
	if now.Before(st.holdUntil) {
		return true, st.holdUntil
	}
	return false, time.Time{}
}

// CheckNow makes the Sender try mailbox id's queued mail now: a mailbox in
// engine.StateAuthFailed or engine.StateReauthRequired (after a person
// fixed the account at the provider) or down (its breaker open) connects
// at once, with one connection. Messages whose retry is later stay
// scheduled (Reschedule moves one). It returns engine.ErrInactive for a
// paused mailbox. It does not wait for the attempt.
func (s *Sender) CheckNow(_ context.Context, id mailbox.ID) error {
	s.mu.Lock()
	st := s.box(id)
	paused := st.paused
	if !paused {
		st.kicked = true
	}
	s.mu.Unlock()
	if paused {
		return fmt.Errorf("outbound: mailbox %q: %w", id, engine.ErrInactive)
	}
	st.breaker.Force()
	s.signal()
	return nil
}

// HealthEvent returns e as the engines' one health event (engine.Event,
// which inbound.Event is) when e is an EventHealth, so a host feeds one
// stream from both engines; ok is false for delivery events.
func (e Event) HealthEvent() (_ engine.Event, ok bool) {
	if e.Kind != EventHealth {
		return engine.Event{}, false
	}
	return engine.Event{Health: e.Health, Err: e.Reason}, true
}
