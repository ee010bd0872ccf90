// Package backoff computes exponential retry delays with full jitter.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Policy is an exponential backoff: Base * 2^attempt, capped at Max, with
// "equal jitter" (half fixed, half random) so retries of many mailboxes do
// not synchronise while a delay never collapses to zero.
type Policy struct {
	Base time.Duration // first delay; default 1 s
	Max  time.Duration // cap; default 5 min
}

// Delay returns the delay before retry number attempt (0-based).
func (p Policy) Delay(attempt int) time.Duration {
	base, max := p.Base, p.Max
	if base <= 0 {
		base = time.Second
	}
	if max <= 0 {
		max = 5 * time.Minute
	}
	if max < base {
		max = base
	}
	d := base
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max || d <= 0 {
		d = max
	}
	half := d / 2
	return half + rand.N(half+1)
}
