package outbound

import (
	"time"

	"golang.org/x/time/rate"

	"github.com/correio-dev/correio/mailbox"
)

// maxWindowLog is the largest RateLimit.N kept as an exact sliding window
// (one time per send: 8 bytes each). Larger limits use a token bucket that
// keeps the same bound at half the sustained rate.
const maxWindowLog = 10000

// sendWindow enforces a mailbox's RateLimit (N sends per Per) as a
// provider counts it: at most N sends in ANY window of length Per, not
// "N per Per on average". A token bucket with a burst of N allows up to 2N
// in one window (a full burst, then N more refilled within Per), which
// breaks limits such as Exchange Online's 30 messages a minute.
//
// For N up to maxWindowLog it keeps the times of the last N sends (a ring):
// the next send may start at the oldest of them plus Per, so a queue can
// still go out in a burst of N when the window is empty. Beyond that it is
// a token bucket with burst N/2 refilled at N/(2 Per), which also never
// allows more than N in a window (burst + refill = N) at the cost of half
// the sustained rate.
type sendWindow struct {
	cfg    mailbox.Rate
	times  []time.Time // ring of reserved send times, len <= cfg.N
	next   int         // index of the oldest entry once the ring is full
	bucket *rate.Limiter
}

func newSendWindow(cfg mailbox.Rate) *sendWindow {
	w := &sendWindow{cfg: cfg}
	if cfg.N > maxWindowLog {
		b := max(cfg.N/2, 1)
		w.bucket = rate.NewLimiter(rate.Every(2*cfg.Per/time.Duration(cfg.N)), b)
	}
	return w
}

// fill records the window as used up at now: a mailbox that may come from
// another Sender which just spent it starts with no sends left for Per.
func (w *sendWindow) fill(now time.Time) {
	if w.bucket != nil {
		w.bucket.AllowN(now, w.bucket.Burst())
		return
	}
	w.times = w.times[:0]
	w.next = 0
	for range w.cfg.N {
		w.times = append(w.times, now)
	}
}

// reservation is one reserved send; cancel gives it back when the send
// does not happen.
type reservation struct {
	at  time.Time
	w   *sendWindow
	r   *rate.Reservation
	idx int
}

// reserve books the earliest send time at or after now and returns it.
// Callers hold the Sender's lock.
func (w *sendWindow) reserve(now time.Time) reservation {
	if w.bucket != nil {
		r := w.bucket.ReserveN(now, 1)
		return reservation{at: now.Add(r.DelayFrom(now)), w: w, r: r, idx: -1}
	}
	at := now
	if len(w.times) < w.cfg.N {
		if n := len(w.times); n > 0 && w.times[n-1].After(at) {
			at = w.times[n-1] // keep the ring in time order
		}
		w.times = append(w.times, at)
		return reservation{at: at, w: w, idx: len(w.times) - 1}
	}
	if t := w.times[w.next].Add(w.cfg.Per); t.After(at) {
		at = t
	}
	newest := w.times[(w.next+w.cfg.N-1)%w.cfg.N]
	if newest.After(at) {
		at = newest
	}
	idx := w.next
	w.times[idx] = at
	w.next = (w.next + 1) % w.cfg.N
	return reservation{at: at, w: w, idx: idx}
}

// cancel gives the reservation back if it is still the newest one (a
// later reservation was computed from it and stays, which is only more
// careful). Callers hold the Sender's lock.
func (r reservation) cancel(now time.Time) {
	if r.w == nil {
		return
	}
	if r.r != nil {
		r.r.CancelAt(now)
		return
	}
	w := r.w
	if len(w.times) < w.cfg.N {
		if r.idx == len(w.times)-1 && w.times[r.idx].Equal(r.at) {
			w.times = w.times[:r.idx]
		}
		return
	}
	newest := (w.next + w.cfg.N - 1) % w.cfg.N
	if r.idx == newest && w.times[r.idx].Equal(r.at) {
		// Step the ring back: the slot again holds a time at least Per
		// old, which is what an unused slot means.
		w.times[r.idx] = r.at.Add(-w.cfg.Per)
		w.next = newest
	}
}
