package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/correio-dev/correio/internal/pgtest"
	"github.com/correio-dev/correio/store"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store/postgres"
	"github.com/correio-dev/correio/store/sqlstore"
	"github.com/correio-dev/correio/store/storetest"
)

func fresh(t *testing.T) *postgres.Store { return open(t, pgtest.Database(t), options(t)) }

func TestMailConformance(t *testing.T) {
	records := 400
	if testing.Short() {
		records = 100
	}
	runMail(t, fresh, records)
}

func runMail(t *testing.T, fresh func(t *testing.T) *postgres.Store, records int) {
	storetest.Run(t, storetest.Harness{
		TransportState: func(t *testing.T) store.TransportState { return fresh(t).TransportState() },
		Inbound: &storetest.InboundHarness{
			New: func(t *testing.T) store.Inbound { return fresh(t).Inbound() },
			Quarantined: func(t *testing.T, s store.Inbound, mb mailbox.ID) []storetest.Quarantined {
				st := s.(*sqlstore.Inbound)
				ctx := context.Background()
				qs, err := st.Quarantined(ctx, sqlstore.QuarantineFilter{Mailbox: mb})
				if err != nil {
					t.Fatal(err)
				}
				var out []storetest.Quarantined
				for _, q := range qs {
					raw, err := st.QuarantinedRaw(ctx, q.ID)
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, storetest.Quarantined{ID: q.ID, Key: q.Key, Reason: q.Reason, Raw: raw})
				}
				return out
			},
		},
		Outbox:       &storetest.OutboxHarness{New: func(t *testing.T) store.Outbox { return fresh(t).Outbox() }, Records: records},
		Suppressions: func(t *testing.T) store.Suppressions { return fresh(t).Suppressions() },
		Bounces: func(t *testing.T) storetest.BounceStore {
			s := fresh(t)
			return storetest.BounceStore{Outbox: s.Outbox(), Suppressions: s.Suppressions(),
				Erase: func(ctx context.Context, c string) error { _, err := s.EraseContract(ctx, contract.ID(c)); return err }}
		},
		Retention: &storetest.RetentionHarness{New: func(t *testing.T) storetest.RetentionStore {
			s := fresh(t)
			return storetest.RetentionStore{
				Catalog: s.Catalog(), Inbound: s.Inbound(), Outbox: s.Outbox(),
				Received: func(ctx context.Context, c contract.ID) ([]string, error) {
					rs, err := s.Inbound().Received(ctx, sqlstore.ReceivedFilter{Contract: c})
					var keys []string
					for _, r := range rs {
						keys = append(keys, r.Key)
					}
					return keys, err
				},
				Sent: func(ctx context.Context, c contract.ID) ([]string, error) {
					rs, err := s.Outbox().ListByContract(ctx, c, store.OutboxFilter{})
					var ids []string
					for _, r := range rs {
						ids = append(ids, r.ID)
					}
					return ids, err
				},
				QuarantinedRaw: func(ctx context.Context, mb mailbox.ID) ([]bool, error) {
					qs, err := s.Inbound().Quarantined(ctx, sqlstore.QuarantineFilter{Mailbox: mb})
					var out []bool
					for _, q := range qs {
						out = append(out, q.HasRaw)
					}
					return out, err
				},
				Prune:             func(ctx context.Context, before time.Time) error { _, err := s.Prune(ctx, before); return err },
				Erase:             func(ctx context.Context, c contract.ID) error { _, err := s.EraseContract(ctx, c); return err },
				RawQuarantined:    s.Inbound().QuarantinedRaw,
				DeleteQuarantined: s.Inbound().DeleteQuarantined,
			}
		}},
	})
}
