-- Post-action receipts (store.Receipt): the post-action a committed
-- message is owed on the server, written in the commit of its key and
-- removed once applied, so a crash between the two cannot lose it.
CREATE TABLE correio_inbound_receipts (
	seq          bigserial PRIMARY KEY, -- commit order
	mailbox_id   text NOT NULL,
	key          text NOT NULL,
	folder       text NOT NULL,
	item_id      text NOT NULL,
	uid_validity bigint NOT NULL,
	action       text NOT NULL,
	target       text NOT NULL DEFAULT '',
	UNIQUE (mailbox_id, key)
);
CREATE INDEX correio_inbound_receipts_folder ON correio_inbound_receipts (mailbox_id, folder, seq);
