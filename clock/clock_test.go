package clock_test

import (
	"testing"
	"time"

	"github.com/correio-dev/correio/clock"
)

func fired(c <-chan time.Time) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestFake(t *testing.T) {
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f := clock.NewFake(start)
	a := f.After(time.Minute)
	b := f.NewTimer(2 * time.Minute)
	if f.Waiters() != 2 {
		t.Fatalf("waiters %d", f.Waiters())
	}
	f.Advance(59 * time.Second)
	if fired(a) || fired(b.C()) {
		t.Fatal("fired early")
	}
	f.Advance(time.Second)
	if !fired(a) || fired(b.C()) {
		t.Fatal("first timer should fire at exactly one minute")
	}
	if !b.Stop() || b.Stop() {
		t.Fatal("Stop should report an active timer once")
	}
	f.Advance(time.Hour)
	if fired(b.C()) {
		t.Fatal("stopped timer fired")
	}
	b.Reset(time.Second)
	f.Advance(time.Second)
	if !fired(b.C()) {
		t.Fatal("reset timer did not fire")
	}
	if got := f.Now(); !got.Equal(start.Add(time.Hour + time.Minute + time.Second)) {
		t.Fatalf("Now = %v", got)
	}
	if !fired(f.After(0)) {
		t.Fatal("zero duration should fire at once")
	}
	z := f.NewTimer(time.Hour)
	z.Reset(0)
	if !fired(z.C()) {
		t.Fatal("an active timer reset to zero should fire at once")
	}
	f.Advance(2 * time.Hour)
	if fired(z.C()) {
		t.Fatal("a timer fired by Reset(0) fired again")
	}
	var c clock.Clock
	if _, ok := clock.OrReal(c).(clock.Real); !ok {
		t.Fatal("OrReal(nil) is not Real")
	}
}
