-- The body of an outbox record (store.Message Text and HTML), apart from
-- its row: written once by Put and never rewritten, so a claim or a state
-- update (a new row version) no longer copies the body, and the body is
-- kept as is, not escaped inside the message JSON. Every record has one
-- row; the message JSON no longer holds them.
CREATE TABLE correio_outbox_bodies (
	record_id text PRIMARY KEY REFERENCES correio_outbox (id) ON DELETE CASCADE,
	text      text NOT NULL DEFAULT '',
	html      text NOT NULL DEFAULT ''
);
INSERT INTO correio_outbox_bodies (record_id, text, html)
	SELECT id, coalesce(message->>'text', ''), coalesce(message->>'html', '')
	FROM correio_outbox;
UPDATE correio_outbox SET message = message - 'text' - 'html'
	WHERE message->'text' IS NOT NULL OR message->'html' IS NOT NULL;
