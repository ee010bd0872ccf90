-- Post-action receipts (store.Receipt): the post-action a committed
-- message is owed on the server, written in the commit of its key and
-- removed once applied, so a crash between the two cannot lose it.
CREATE TABLE correio_inbound_receipts (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT, -- commit order
	mailbox_id   TEXT NOT NULL,
	key          TEXT NOT NULL,
	folder       TEXT NOT NULL,
	item_id      TEXT NOT NULL,
	uid_validity INTEGER NOT NULL,
	action       TEXT NOT NULL,
	target       TEXT NOT NULL DEFAULT '',
	UNIQUE (mailbox_id, key)
);
CREATE INDEX correio_inbound_receipts_folder ON correio_inbound_receipts (mailbox_id, folder, seq);
