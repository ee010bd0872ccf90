package inbound_test

import (
	"context"
	"testing"
	"time"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport/imap"
)

// TestExpungedMidSyncDoesNotStall: another client deletes a message of a
// later batch while the poller is still handing off the first one. The
// message is skipped and every other message is handed; the mailbox does
// not wait for the missing one.
func TestExpungedMidSyncDoesNotStall(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("e", "pw-e")
	const n = 30 // five batches of 7 (fastOptions)
	for i := 1; i <= n; i++ {
		srv.Append("e", "INBOX", rawMsg("e", i))
	}
	rec := newRecorder()
	release := make(chan struct{})
	first := make(chan struct{})
	rec.hook = func(d *inbound.Delivery) error {
		if d.UID == 1 {
			select {
			case first <- struct{}{}:
				<-release
			default:
			}
		}
		return nil
	}
	o := fastOptions(memory.NewInboundStore(), rec)
	o.IMAP.Timeout = 5 * time.Second
	start(t, o, mb("e", "e", srv.Host(), srv.Port()))
	<-first
	// The first two batches are fetched; UID 17 is in the third.
	other, err := imap.Dial(context.Background(), &imap.Config{Timeout: 5 * time.Second}, mb("e", "e", srv.Host(), srv.Port()))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Select(context.Background(), "INBOX"); err != nil {
		t.Fatal(err)
	}
	if err := other.Delete(context.Background(), []imap.UID{17}); err != nil {
		t.Fatal(err)
	}
	close(release)
	eventually(t, "every remaining message handed", func() bool { return rec.count("e") == n-1 })
	if d := rec.dupes(); len(d) != 0 {
		t.Fatalf("handed twice: %v", d)
	}
}
