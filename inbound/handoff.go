package inbound

import (
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
)

var _ store.Handoff = (*Delivery)(nil)

// HandoffRecord implements store.Handoff: the record that commits d's
// hand-off (its mailbox, folder, key and the checkpoint that passes it,
// with the transport's cursor, outcome Handled, and the receipt of its
// post-action), for stores that record it inside the host's own
// transaction (store/postgres HandleInTx).
func (d *Delivery) HandoffRecord() store.InboundRecord {
	folder := "INBOX"
	if d.Mailbox != nil && d.Mailbox.Inbound != nil {
		folder = d.Mailbox.Inbound.FolderOrDefault()
	}
	var id mailbox.ID
	var rc *store.Receipt
	if d.Mailbox != nil {
		id = d.Mailbox.ID
		rc = receiptFor(d.Mailbox.Inbound, d.itemID, d.UIDValidity, false)
	}
	cp := d.next
	if cp == (store.Checkpoint{}) { // a Delivery the engine did not make
		cp = store.Checkpoint{UIDValidity: d.UIDValidity, LastUID: d.UID}
	}
	return store.InboundRecord{Mailbox: id, Folder: folder, Key: d.Key, Outcome: store.Handled, At: time.Now(), Checkpoint: cp, Receipt: rc}
}

// receiptFor returns the post-action a message committed in a mailbox with
// settings in is owed (store.Receipt), nil when none: a handled message
// gets the mailbox's post-action (none for PostKeep), a quarantined one the
// move to the quarantine folder when there is one.
func receiptFor(in *mailbox.InboundSettings, itemID string, uidValidity uint32, quarantined bool) *store.Receipt {
	if in == nil || itemID == "" {
		return nil
	}
	if quarantined {
		if in.QuarantineFolder == "" {
			return nil
		}
		return &store.Receipt{ItemID: itemID, UIDValidity: uidValidity, Action: mailbox.PostMove, Folder: in.QuarantineFolder}
	}
	switch in.PostAction {
	case mailbox.PostSeen, mailbox.PostDelete:
		return &store.Receipt{ItemID: itemID, UIDValidity: uidValidity, Action: in.PostAction}
	case mailbox.PostMove:
		return &store.Receipt{ItemID: itemID, UIDValidity: uidValidity, Action: mailbox.PostMove, Folder: in.MoveTo}
	}
	return nil
}
