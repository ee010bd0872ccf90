-- The body of an outbox record (store.Message Text and HTML), apart from
-- its row: written once by Put and never rewritten, so a claim or a state
-- update (which SQLite writes as a whole new record) no longer copies the
-- body's pages, and the body is kept as is, not escaped inside the message
-- JSON. Every record has one row; the message JSON no longer holds them.
CREATE TABLE correio_outbox_bodies (
	record_id TEXT PRIMARY KEY REFERENCES correio_outbox (id) ON DELETE CASCADE,
	text      TEXT NOT NULL DEFAULT '',
	html      TEXT NOT NULL DEFAULT ''
);
INSERT INTO correio_outbox_bodies (record_id, text, html)
	SELECT id, coalesce(json_extract(message, '$.text'), ''), coalesce(json_extract(message, '$.html'), '')
	FROM correio_outbox;
UPDATE correio_outbox SET message = json_remove(message, '$.text', '$.html')
	WHERE json_type(message, '$.text') IS NOT NULL OR json_type(message, '$.html') IS NOT NULL;
