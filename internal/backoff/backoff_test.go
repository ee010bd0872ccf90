package backoff

import (
	"testing"
	"time"
)

func TestDelayBounds(t *testing.T) {
	p := Policy{Base: time.Second, Max: time.Minute}
	for attempt := 0; attempt < 70; attempt++ {
		want := time.Second << min(attempt, 6)
		if want > time.Minute {
			want = time.Minute
		}
		for range 50 {
			d := p.Delay(attempt)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
	if d := (Policy{}).Delay(0); d < 500*time.Millisecond || d > time.Second {
		t.Fatalf("default first delay %v", d)
	}
}

func TestDelayJitters(t *testing.T) {
	p := Policy{Base: time.Second, Max: time.Hour}
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[p.Delay(5)] = true
	}
	if len(seen) < 5 {
		t.Fatalf("no jitter: %v", seen)
	}
}
