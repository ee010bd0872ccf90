package engine

import (
	"errors"
	"time"
)

// Defaults of AuthRetry.
const (
	DefaultAuthRetries     = 3
	DefaultAuthRetryWindow = time.Hour
	DefaultAuthRetryEvery  = time.Hour
)

// AuthRetry is how an engine retries a mailbox whose server refused its
// credentials (StateAuthFailed): Retries times, evenly spread, within
// Window after the refusal, then once every Every, until a retry succeeds,
// the mailbox changes (Reload with new credentials) or an administrator
// asks to check it now. Providers lock an account after about ten failed
// logins (Microsoft Entra smart lockout, Google), so the engines never
// hammer a refused password. The zero value means 3 retries in the first
// hour, then one an hour.
type AuthRetry struct {
	Retries int
	Window  time.Duration
	Every   time.Duration
}

// Delay returns the wait before retry number n (0-based) after the first
// refusal.
func (a AuthRetry) Delay(n int) time.Duration {
	if a.Retries <= 0 {
		a.Retries = DefaultAuthRetries
	}
	if a.Window <= 0 {
		a.Window = DefaultAuthRetryWindow
	}
	if a.Every <= 0 {
		a.Every = DefaultAuthRetryEvery
	}
	if n < a.Retries {
		return a.Window / time.Duration(a.Retries+1)
	}
	return a.Every
}

// ErrPausedByAdmin is the LastError of a mailbox an administrator paused.
var ErrPausedByAdmin = errors.New("paused by an administrator")

// NeedsPerson reports whether the mailbox is in a state that only a person
// can end (Hint says what to do): authentication failed, re-authorisation
// required, down (TLS refused, or the circuit breaker open after repeated
// failures), or over budget.
func (h Health) NeedsPerson() bool { return h.Hint != "" }

// Hint returns what a person should do about a mailbox in state s, or ""
// when s needs nobody. Engines put it (with the transport's own hint, when
// it gave one) in Health.Hint.
func (s State) Hint() string {
	switch s {
	case StateAuthFailed:
		return "the server refused the credentials: correct the mailbox's user name or password (retried only a few times an hour, so the provider does not lock the account)"
	case StateReauthRequired:
		return "the OAuth2 grant was revoked or has expired: authorise the mailbox again (not retried until then)"
	case StateDown:
		return "the server keeps failing: check its address, port and TLS settings and the provider's status"
	case StateOverBudget:
		return "the mailbox is not checked within its bound: raise MaxConnections or MaxConnectionsPerHost, lengthen PollInterval, or add replicas"
	}
	return ""
}

// ErrInactive is returned by an engine's CheckNow for a mailbox that is
// disabled or paused (it is not checked until enabled or resumed).
var ErrInactive = errors.New("engine: mailbox is disabled or paused")

// Event is a mailbox's health change, in the form both engines report it:
// inbound.Event is this type, and outbound.Event.HealthEvent turns the
// Sender's EventHealth into it, so a host feeds one stream (an alerting
// hook, an admin's log) from both engines.
type Event struct {
	Health Health
	// Err is the failure that caused the change, if any (redacted).
	Err string
}
