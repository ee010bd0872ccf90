package memory_test

import (
	"context"
	"fmt"

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
