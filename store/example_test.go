package store_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
)

// Every store wraps the one store.ErrNotFound, so a caller tests for an
// unknown record, mailbox or contract the same way whatever the store.
func Example_notFound() {
	ctx := context.Background()
	var ob store.Outbox = memory.NewOutbox()
	_, err := ob.Get(ctx, "no-such-record")
	fmt.Println(errors.Is(err, store.ErrNotFound))

	var cat store.Catalog = memory.NewCatalog()
	err = cat.DeleteMailbox(ctx, "no-such-mailbox")
	fmt.Println(errors.Is(err, store.ErrNotFound))
	// Output:
	// true
	// true
}

// A store keeps a checkpoint's cursor as the transport wrote it, whatever
// the transport: here another transport's delta link (no IMAP numbers),
// then an IMAP position, whose numbers order commits so a late commit of
// an older UID never moves the checkpoint back.
func ExampleCheckpoint() {
	ctx := context.Background()
	var in store.Inbound = memory.NewInboundStore()
	delta := store.Checkpoint{Cursor: "graph/1:https://graph.microsoft.com/v1.0/me/mailFolders('inbox')/messages/delta?$deltatoken=AAMk"}
	_ = in.SetCheckpoint(ctx, "sales", "INBOX", delta, 0)
	cp, _, _ := in.Checkpoint(ctx, "sales", "INBOX")
	fmt.Println(cp.Cursor == delta.Cursor)

	commit := func(key string, uid uint32) {
		cp := store.Checkpoint{Cursor: store.Cursor(fmt.Sprintf("imap/1:7:%d", uid)), UIDValidity: 7, LastUID: uid}
		_ = in.Commit(ctx, store.InboundRecord{Mailbox: "support", Folder: "INBOX", Key: key, Checkpoint: cp, Outcome: store.Handled})
	}
	commit("k5", 5)
	commit("k3", 3) // late: its key is recorded, the checkpoint stays
	cp, _, _ = in.Checkpoint(ctx, "support", "INBOX")
	fmt.Println(cp.Cursor)
	// Output:
	// true
	// imap/1:7:5
}
