package sqlstore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/sqlite"
	"github.com/correio-dev/correio/store/sqlstore"
)

// A SQL store is opened through its driver package (store/sqlite here,
// store/postgres the same way); what it returns are sqlstore's types,
// whatever the database.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sqlstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(ctx, filepath.Join(dir, "correio.db"), sqlite.Options{CheckInterval: -1})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	var in *sqlstore.Inbound = st.Inbound() // also a store.Inbound for the poller
	err = in.Commit(ctx, store.InboundRecord{Mailbox: "support", Folder: "INBOX", Key: "msg-1",
		Checkpoint: store.Checkpoint{UIDValidity: 1, LastUID: 7}, Outcome: store.Handled, At: time.Now()})
	if err != nil {
		log.Fatal(err)
	}
	recs, err := in.Received(ctx, sqlstore.ReceivedFilter{Mailbox: "support"})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range recs {
		fmt.Println(r.Key, r.Outcome, r.Checkpoint.LastUID)
	}
	// Output: msg-1 handled 7
}
