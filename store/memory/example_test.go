package memory_test

import (
	"context"
	"fmt"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/threading"
)

// The memory stores hold everything a test or an example needs: the
// catalog, the outbox (which is also the index of sent messages used to
// match replies), the suppression list and the poller's state.
func Example() {
	var (
		_ routing.Catalog     = memory.NewCatalog()
		_ store.Outbox        = memory.NewOutbox()
		_ threading.SentIndex = memory.NewOutbox()
		_ store.Suppressions  = memory.NewSuppressions()
		_ store.Inbound       = memory.NewInboundStore()
	)
	ctx := context.Background()
	st := memory.NewInboundStore()
	_, ok, err := st.Checkpoint(ctx, "support", "INBOX")
	fmt.Println(ok, err)
	// Output: false <nil>
}

// A post-action receipt commits with the message's key; a crash before
// the post-action leaves it in the store for the next session, which
// applies it and clears it.
func ExampleInboundStore_Receipts() {
	ctx := context.Background()
	st := memory.NewInboundStore()
	err := st.Commit(ctx, store.InboundRecord{Mailbox: "support", Folder: "INBOX", Key: "k1", Outcome: store.Handled,
		Checkpoint: store.Checkpoint{UIDValidity: 7, LastUID: 42},
		Receipt:    &store.Receipt{ItemID: "42", UIDValidity: 7, Action: mailbox.PostMove, Folder: "Done"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	// ... the process dies here; the next session reads what is owed:
	owed, _ := st.Receipts(ctx, "support", "INBOX")
	for _, r := range owed {
		fmt.Printf("%s: %s UID %s to %s\n", r.Key, r.Action, r.ItemID, r.Folder)
	}
	// ... applies it on the server, then clears it.
	_ = st.ClearReceipts(ctx, "support", []string{"k1"})
	owed, _ = st.Receipts(ctx, "support", "INBOX")
	fmt.Println(len(owed), "owed")
	// Output:
	// k1: move UID 42 to Done
	// 0 owed
}
