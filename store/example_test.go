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
