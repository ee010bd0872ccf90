package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/message"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/sqlstore"
)

// BounceStore is an outbox that links bounces to its records, with its
// suppression list (the SQL stores).
type BounceStore struct {
	Outbox interface {
		store.Outbox
		LinkBounce(ctx context.Context, b *message.Bounce, at time.Time) (string, bool, error)
		Bounces(ctx context.Context, recordID string) ([]sqlstore.Bounce, error)
	}
	Suppressions store.Suppressions
	// Erase deletes everything of one contract.
	Erase func(ctx context.Context, c string) error
}

// RunBounces checks that a bounce is linked to the record it answers by
// its original Message-ID, that hard-bounced recipients are suppressed and
// soft ones not, and that a bounce naming an unknown message is ignored.
func RunBounces(t *testing.T, newStore func(t *testing.T) BounceStore) {
	ctx := context.Background()
	s := newStore(t)
	r := queued("r1", "out", t0)
	r.MessageID, r.Contract = "Abc@desk.example", "c1"
	if err := s.Outbox.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	b := &message.Bounce{Format: "rfc3464", Permanent: true, Status: "5.1.1", OriginalMessageID: "abc@DESK.example",
		Recipients: []message.BounceRecipient{
			{Address: "Gone@Customer.example", Action: "failed", Status: "5.1.1", DiagnosticCode: "smtp; 550 5.1.1 no such user", Permanent: true},
			{Address: "slow@customer.example", Action: "delayed", Status: "4.2.2", DiagnosticCode: "smtp; 452 mailbox full"},
		}}
	id, found, err := s.Outbox.LinkBounce(ctx, b, t0)
	if err != nil || !found || id != "r1" {
		t.Fatalf("linked to %q %v %v", id, found, err)
	}
	got, err := s.Outbox.Bounces(ctx, "r1")
	if err != nil || len(got) != 2 || got[0].Recipient != "gone@customer.example" || !got[0].Permanent || got[0].Status != "5.1.1" ||
		!strings.Contains(got[0].Reason, "no such user") || got[1].Permanent || !got[1].At.Equal(t0) {
		t.Fatalf("bounces %+v %v", got, err)
	}
	if reason, ok, _ := s.Suppressions.Suppressed(ctx, "gone@customer.example"); !ok || !strings.Contains(reason, "no such user") {
		t.Fatalf("hard bounce not suppressed: %q %v", reason, ok)
	}
	if _, ok, _ := s.Suppressions.Suppressed(ctx, "slow@customer.example"); ok {
		t.Fatal("soft bounce suppressed")
	}
	if _, found, err := s.Outbox.LinkBounce(ctx, &message.Bounce{OriginalMessageID: "other@elsewhere.example", Permanent: true}, t0); found || err != nil {
		t.Fatalf("unknown message linked: %v %v", found, err)
	}
	if _, found, _ := s.Outbox.LinkBounce(ctx, &message.Bounce{}, t0); found {
		t.Fatal("a bounce without original Message-ID was linked")
	}
	// Bounces go with their record.
	if err := s.Erase(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Outbox.Bounces(ctx, "r1"); len(got) != 0 {
		t.Fatalf("bounces outlived their record: %v", got)
	}
}
