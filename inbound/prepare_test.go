package inbound_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/sqlite"
)

// TestCopiesHandedOnce puts copies of one message (the same key) next to
// each other, in the same fetch batch and in the batches after it, so the
// parse stage looks their key up before the first copy is committed: each
// must be found a duplicate, whether the commits are grouped or not, on a
// store read through other connections than it is written (SQLite) too.
func TestCopiesHandedOnce(t *testing.T) {
	for _, kind := range []string{"memory", "sqlite"} {
		for _, commitBatch := range []int{1, 3, 50} {
			t.Run(fmt.Sprintf("%s/commit%d", kind, commitBatch), func(t *testing.T) {
				var st store.Inbound = memory.NewInboundStore()
				if kind == "sqlite" {
					s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"), sqlite.Options{CheckInterval: -1})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { _ = s.Close() })
					st = s.Inbound()
				}
				srv := newServer(t)
				srv.AddUser("desk", "pw-desk")
				// Batches of 3: copies of message 0 at positions 0, 1
				// (same batch), 3 (next batch) and 7 (two batches on).
				dup := rawMsg("desk", 0)
				unique := 1
				for pos := range 10 {
					switch pos {
					case 0, 1, 3, 7:
						srv.Append("desk", "INBOX", dup)
					default:
						srv.Append("desk", "INBOX", rawMsg("desk", unique))
						unique++
					}
				}
				m := mb("desk", "desk", srv.Host(), srv.Port())
				m.Inbound.PostAction = mailbox.PostKeep
				rec := newRecorder()
				o := fastOptions(st, rec)
				o.BatchSize, o.CommitBatch = 3, commitBatch
				r := start(t, o, m)
				eventually(t, "all read", func() bool {
					return int64(rec.count("desk"))+r.health("desk").Duplicates >= 10
				})
				r.stop()
				if d := rec.dupes(); len(d) != 0 {
					t.Fatalf("handed twice: %v", d)
				}
				if h := r.health("desk"); h.Handled != int64(unique) || h.Duplicates != 3 {
					t.Fatalf("handled %d duplicates %d, want %d and 3", h.Handled, h.Duplicates, unique)
				}
			})
		}
	}
}
