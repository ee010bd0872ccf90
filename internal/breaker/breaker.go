// Package breaker is a per-mailbox circuit breaker driven by an injectable
// clock: after Threshold consecutive failures it opens for a cooldown that
// grows with each failed probe, then lets one probe through (half-open).
package breaker

import (
	"sync"
	"time"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/internal/backoff"
)

// State of a breaker.
type State int

const (
	Closed State = iota
	Open
	HalfOpen
)

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	}
	return "half-open"
}

// Breaker is safe for concurrent use.
type Breaker struct {
	Threshold int            // consecutive failures that open it; default 5
	Cooldown  backoff.Policy // open duration per consecutive open
	Clock     clock.Clock

	mu       sync.Mutex
	fails    int
	opens    int
	state    State
	openTill time.Time
	probing  bool
}

func (b *Breaker) now() time.Time { return clock.OrReal(b.Clock).Now() }

// Allow reports whether an attempt may start now; when the breaker is open
// it returns the time it may be tried again. A half-open breaker allows one
// probe at a time.
func (b *Breaker) Allow() (bool, time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case Closed:
		return true, time.Time{}
	case Open:
		if b.now().Before(b.openTill) {
			return false, b.openTill
		}
		b.state = HalfOpen
		b.probing = true
		return true, time.Time{}
	default:
		if b.probing {
			return false, b.openTill
		}
		b.probing = true
		return true, time.Time{}
	}
}

// Success records a successful attempt and closes the breaker.
func (b *Breaker) Success() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fails, b.opens, b.state, b.probing = 0, 0, Closed, false
}

// Failure records a failed attempt; it returns true when the breaker is
// (now) open.
func (b *Breaker) Failure() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fails++
	th := b.Threshold
	if th <= 0 {
		th = 5
	}
	if b.state == HalfOpen || b.fails >= th {
		b.state = Open
		b.probing = false
		b.openTill = b.now().Add(b.Cooldown.Delay(b.opens))
		b.opens++
		return true
	}
	return false
}

// State returns the state and the consecutive failure count.
func (b *Breaker) State() (State, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state, b.fails
}

// Abandon gives back a half-open probe slot that Allow granted but that was
// not used (the caller found nothing to try), so the next Allow may probe.
func (b *Breaker) Abandon() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == HalfOpen {
		b.probing = false
	}
}

// Force lets the next Allow probe at once, even while the breaker is open
// (an administrator asked to check the mailbox now); a failed probe opens
// it again.
func (b *Breaker) Force() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == Open {
		b.state = HalfOpen
	}
	b.probing = false
}
