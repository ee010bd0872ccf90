package storetest_test

import (
	"testing"

	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/storetest"
)

// A store of your own passes the same suite as correio's adapters: describe
// what it implements in a Harness and call Run from a test.
func Example() {
	testStore := func(t *testing.T) {
		storetest.Run(t, storetest.Harness{
			Outbox:       &storetest.OutboxHarness{New: func(*testing.T) store.Outbox { return memory.NewOutbox() }},
			Suppressions: func(*testing.T) store.Suppressions { return memory.NewSuppressions() },
			Inbound:      &storetest.InboundHarness{New: func(*testing.T) store.Inbound { return memory.NewInboundStore() }},
		})
	}
	_ = testStore // func TestMyStore(t *testing.T) { testStore(t) }
}
