// Package clock is the injectable time source of correio's engines: backoff,
// leases, retry ages and IDLE renewal read time through a Clock, so tests
// drive them with a Fake instead of sleeping.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock tells time and makes timers.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives the time once d has passed.
	After(d time.Duration) <-chan time.Time
	// NewTimer returns a stoppable timer.
	NewTimer(d time.Duration) Timer
}

// Timer is a stoppable timer.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
	Reset(d time.Duration)
}

// Real is the system clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// After is time.After.
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// NewTimer wraps time.NewTimer.
func (Real) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time   { return r.t.C }
func (r realTimer) Stop() bool            { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) { r.t.Reset(d) }

// OrReal returns c, or Real when c is nil.
func OrReal(c Clock) Clock {
	if c == nil {
		return Real{}
	}
	return c
}

// Fake is a manual clock for tests: time moves only with Advance or Set.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*fakeTimer
	seq     int
}

// NewFake returns a Fake set to t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// After returns a channel fired when the fake time reaches now+d.
func (f *Fake) After(d time.Duration) <-chan time.Time { return f.NewTimer(d).C() }

// NewTimer returns a timer fired by Advance.
func (f *Fake) NewTimer(d time.Duration) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTimer{f: f, c: make(chan time.Time, 1)}
	f.arm(t, d)
	return t
}

func (f *Fake) arm(t *fakeTimer, d time.Duration) {
	t.at = f.now.Add(d)
	f.seq++
	t.seq = f.seq
	t.active = true
	if d <= 0 {
		f.fire(t)
		return
	}
	f.waiters = append(f.waiters, t)
}

func (f *Fake) fire(t *fakeTimer) {
	t.active = false
	select {
	case t.c <- f.now:
	default:
	}
}

// Advance moves time forward by d, firing every timer that comes due, in
// order.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	sort.SliceStable(f.waiters, func(i, j int) bool {
		if f.waiters[i].at.Equal(f.waiters[j].at) {
			return f.waiters[i].seq < f.waiters[j].seq
		}
		return f.waiters[i].at.Before(f.waiters[j].at)
	})
	kept := f.waiters[:0]
	for _, t := range f.waiters {
		if !t.active {
			continue
		}
		if !t.at.After(f.now) {
			f.fire(t)
			continue
		}
		kept = append(kept, t)
	}
	f.waiters = kept
}

// Waiters returns how many timers are pending; tests use it to know a
// goroutine is parked on the clock before advancing.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, t := range f.waiters {
		if t.active {
			n++
		}
	}
	return n
}

type fakeTimer struct {
	f      *Fake
	c      chan time.Time
	at     time.Time
	seq    int
	active bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	was := t.active
	t.active = false
	return was
}

// Reset re-arms t to fire d after the fake now; d <= 0 fires it at once,
// as time.Timer does.
func (t *fakeTimer) Reset(d time.Duration) {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	if !t.active {
		t.f.arm(t, d)
		return
	}
	t.at = t.f.now.Add(d)
	if d <= 0 {
		t.f.fire(t) // Advance drops it from the waiters (inactive now)
	}
}
