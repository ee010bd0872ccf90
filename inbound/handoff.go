package inbound

import (
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
)

var _ store.Handoff = (*Delivery)(nil)

// HandoffRecord implements store.Handoff: the record that commits d's
// hand-off (its mailbox, folder, key and the checkpoint that passes it,
// with the transport's cursor, outcome Handled), for stores that record it
// inside the host's own transaction (store/postgres HandleInTx).
func (d *Delivery) HandoffRecord() store.InboundRecord {
	folder := "INBOX"
	if d.Mailbox != nil && d.Mailbox.Inbound != nil {
		folder = d.Mailbox.Inbound.FolderOrDefault()
	}
	var id mailbox.ID
	if d.Mailbox != nil {
		id = d.Mailbox.ID
	}
	cp := d.next
	if cp == (store.Checkpoint{}) { // a Delivery the engine did not make
		cp = store.Checkpoint{UIDValidity: d.UIDValidity, LastUID: d.UID}
	}
	return store.InboundRecord{Mailbox: id, Folder: folder, Key: d.Key, Outcome: store.Handled, At: time.Now(), Checkpoint: cp}
}
