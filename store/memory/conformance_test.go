package memory_test

import (
	"testing"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Catalog: &storetest.CatalogHarness{
			New:    func(*testing.T) store.Catalog { return memory.NewCatalog() },
			OAuth2: true,
		},
		Inbound: &storetest.InboundHarness{
			New: func(*testing.T) store.Inbound { return memory.NewInboundStore() },
			Quarantined: func(_ *testing.T, s store.Inbound, mb mailbox.ID) []storetest.Quarantined {
				var out []storetest.Quarantined
				for _, q := range s.(*memory.InboundStore).Quarantined(mb) {
					out = append(out, storetest.Quarantined{ID: q.ID, Key: q.Key, Reason: q.Reason, Raw: q.Raw})
				}
				return out
			},
		},
		Outbox:         &storetest.OutboxHarness{New: func(*testing.T) store.Outbox { return memory.NewOutbox() }},
		Suppressions:   func(*testing.T) store.Suppressions { return memory.NewSuppressions() },
		Tokens:         &storetest.TokensHarness{New: func(*testing.T) store.Tokens { return memory.NewTokens() }},
		TransportState: func(*testing.T) store.TransportState { return memory.NewTransportState() },
	})
}
