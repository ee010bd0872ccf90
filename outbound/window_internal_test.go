package outbound

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
)

// maxInWindow returns the most send times that fall in any half-open
// window of length per.
func maxInWindow(ts []time.Time, per time.Duration) int {
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	most, j := 0, 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= per {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

func TestSendWindowNeverMoreThanNInAnyWindow(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	for _, cfg := range []mailbox.Rate{{N: 30, Per: time.Minute}, {N: 5, Per: time.Second}, {N: 1, Per: time.Second}, {N: maxWindowLog + 2, Per: time.Hour}} {
		rng := rand.New(rand.NewPCG(uint64(cfg.N), 7))
		w := newSendWindow(cfg)
		now := t0
		var sent []time.Time
		for range 4 * cfg.N {
			now = now.Add(time.Duration(rng.Int64N(int64(cfg.Per / time.Duration(cfg.N) * 2))))
			r := w.reserve(now)
			if r.at.Before(now) {
				t.Fatalf("%v: reserved %v before now %v", cfg, r.at, now)
			}
			if rng.IntN(5) == 0 {
				r.cancel(now) // the send did not happen
				continue
			}
			sent = append(sent, r.at)
		}
		if got := maxInWindow(sent, cfg.Per); got > cfg.N {
			t.Errorf("%v: %d sends in one window", cfg, got)
		}
	}
}

func TestSendWindowBurstThenWaitsAWindow(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	cfg := mailbox.Rate{N: 30, Per: time.Minute}
	w := newSendWindow(cfg)
	for i := range 30 {
		if r := w.reserve(t0); !r.at.Equal(t0) {
			t.Fatalf("send %d of an empty window waits until %v", i, r.at)
		}
	}
	// The 31st waits until the first leaves the window, not for a refill
	// rate (a token bucket with burst 30 would allow 30 more within it).
	if r := w.reserve(t0.Add(time.Second)); !r.at.Equal(t0.Add(time.Minute)) {
		t.Fatalf("31st send at %v, want %v", r.at, t0.Add(time.Minute))
	}
	// A full window filled at takeover: nothing for Per.
	w2 := newSendWindow(cfg)
	w2.fill(t0)
	if r := w2.reserve(t0); !r.at.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after fill: %v", r.at)
	}
	// A cancelled newest reservation is given back.
	w3 := newSendWindow(mailbox.Rate{N: 2, Per: time.Minute})
	w3.reserve(t0)
	r := w3.reserve(t0)
	r.cancel(t0)
	if r := w3.reserve(t0); !r.at.Equal(t0) {
		t.Fatalf("cancelled slot not given back: %v", r.at)
	}
}
