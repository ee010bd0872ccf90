package clock_test

import (
	"fmt"
	"time"

	"github.com/correio-dev/correio/clock"
)

// A Fake clock moves only when told, so retries and leases are tested
// without sleeping.
func ExampleFake() {
	clk := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	retry := clk.After(time.Minute)
	clk.Advance(30 * time.Second)
	select {
	case <-retry:
		fmt.Println("fired early")
	default:
		fmt.Println("waiting at", clk.Now().Format("15:04:05"))
	}
	clk.Advance(30 * time.Second)
	fmt.Println("fired at", (<-retry).Format("15:04:05"))
	// Output:
	// waiting at 09:00:30
	// fired at 09:01:00
}
