package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/sqlite"
	"github.com/correio-dev/correio/store/sqlstore"
	"github.com/correio-dev/correio/store/storetest"
)

func fresh(t *testing.T) *sqlite.Store { return open(t, filepath.Join(t.TempDir(), "correio.db")) }

func TestMailConformance(t *testing.T) {
	records := 400
	if testing.Short() {
		records = 100
	}
	runMail(t, fresh, records)
}

func runMail(t *testing.T, fresh func(t *testing.T) *sqlite.Store, records int) {
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

// TestOutboxSharedFile: two Stores (as two processes would) on one file
// claim concurrently, 4 workers each: no record claimed twice, none lost.
func TestOutboxSharedFile(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "correio.db")
	a, b := open(t, p), open(t, p)
	const n = 120
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	for i := range n {
		r := &store.OutboxRecord{ID: fmt.Sprintf("r%03d", i), MessageID: fmt.Sprintf("m%03d@example.com", i), Mailbox: "mb", State: store.Queued,
			EnqueuedAt: t0, NextAttempt: t0, Message: store.Message{Mailbox: "mb", Subject: "s"},
			Recipients: []store.RecipientStatus{{Address: store.Address{Address: "a@example.org"}}}}
		if err := a.Outbox().Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		ob := a.Outbox()
		if w%2 == 1 {
			ob = b.Outbox()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; ; round++ {
				tok := fmt.Sprintf("w%d-%d", w, round)
				recs, err := ob.Claim(ctx, store.Claim{Mailbox: "mb", Now: t0, Lease: time.Hour, Max: 5, Token: tok})
				if err != nil {
					errs <- err
					return
				}
				if len(recs) == 0 {
					return
				}
				for _, r := range recs {
					mu.Lock()
					seen[r.ID]++
					mu.Unlock()
					r.State = store.Sent
					if err := ob.Update(ctx, r, tok); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Fatalf("claimed %d of %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("%s claimed %d times", id, c)
		}
	}
}
