package memory_test

import (
	"testing"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Catalog: &storetest.CatalogHarness{
			New:      func(*testing.T) storetest.Catalog { return memory.NewCatalog() },
			NotFound: memory.ErrNotFound,
			OAuth2:   true,
		},
		Inbound: &storetest.InboundHarness{
			New: func(*testing.T) inbound.Store { return memory.NewInboundStore() },
			Quarantined: func(_ *testing.T, s inbound.Store, mb mailbox.ID) []storetest.Quarantined {
				var out []storetest.Quarantined
				for _, q := range s.(*memory.InboundStore).Quarantined(mb) {
					out = append(out, storetest.Quarantined{Key: q.Key, Reason: q.Reason, Raw: q.Raw})
				}
				return out
			},
		},
		Outbox:       &storetest.OutboxHarness{New: func(*testing.T) outbound.Outbox { return memory.NewOutbox() }},
		Suppressions: func(*testing.T) outbound.Suppressions { return memory.NewSuppressions() },
	})
}
