package breaker

import (
	"testing"
	"time"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/internal/backoff"
)

func TestBreaker(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	b := &Breaker{Threshold: 3, Cooldown: backoff.Policy{Base: 10 * time.Second, Max: time.Minute}, Clock: clk}
	for i := 0; i < 2; i++ {
		if ok, _ := b.Allow(); !ok {
			t.Fatal("closed breaker refused")
		}
		if b.Failure() {
			t.Fatalf("opened after %d failures", i+1)
		}
	}
	if !b.Failure() {
		t.Fatal("did not open at threshold")
	}
	ok, until := b.Allow()
	if ok || !until.After(clk.Now()) {
		t.Fatalf("open breaker allowed (until %v)", until)
	}
	clk.Advance(10 * time.Second)
	if ok, _ := b.Allow(); !ok {
		t.Fatal("no probe after cooldown")
	}
	if ok, _ := b.Allow(); ok {
		t.Fatal("second concurrent probe allowed in half-open")
	}
	if !b.Failure() {
		t.Fatal("failed probe must reopen")
	}
	if s, _ := b.State(); s != Open {
		t.Fatalf("state %v", s)
	}
	clk.Advance(time.Minute)
	if ok, _ := b.Allow(); !ok {
		t.Fatal("no probe after second cooldown")
	}
	b.Success()
	if s, n := b.State(); s != Closed || n != 0 {
		t.Fatalf("after success: %v %d", s, n)
	}
	if Open.String() != "open" || HalfOpen.String() != "half-open" || Closed.String() != "closed" {
		t.Fatal("state names")
	}
}
