package outboxtest_test

import (
	"testing"

	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/outbound/outboxtest"
	"github.com/correio-dev/correio/store/memory"
)

// An Outbox of your own runs the contract every Sender relies on.
func Example() {
	testOutbox := func(t *testing.T) {
		outboxtest.Run(t, func(*testing.T) outbound.Outbox { return memory.NewOutbox() })
	}
	_ = testOutbox // func TestMyOutbox(t *testing.T) { testOutbox(t) }
}
