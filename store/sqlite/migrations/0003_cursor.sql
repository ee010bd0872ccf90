-- Checkpoints keep the transport's cursor (store.Checkpoint.Cursor) of any
-- transport, untouched and of any length. A checkpoint written before held
-- an IMAP position only: it gets the IMAP cursor it is.
ALTER TABLE correio_inbound_checkpoints ADD COLUMN transport_cursor TEXT NOT NULL DEFAULT '';
UPDATE correio_inbound_checkpoints
	SET transport_cursor = 'imap/1:' || uid_validity || ':' || last_uid
	WHERE uid_validity <> 0;
