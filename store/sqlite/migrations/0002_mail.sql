-- The engines' state: inbound checkpoints, handled keys, quarantine;
-- the outbox, its attachments and the suppression list. Times are Unix
-- nanoseconds (UTC) in *_ns columns.
CREATE TABLE correio_inbound_checkpoints (
	mailbox_id   TEXT NOT NULL,
	folder       TEXT NOT NULL,
	uid_validity INTEGER NOT NULL,
	last_uid     INTEGER NOT NULL,
	since_ns     INTEGER NOT NULL DEFAULT 0, -- Checkpoint.Since (start from new mail)
	updated_ns   INTEGER NOT NULL,
	PRIMARY KEY (mailbox_id, folder)
);

-- Highest fencing token seen per mailbox: a write with a lower one fails.
CREATE TABLE correio_inbound_fences (
	mailbox_id TEXT PRIMARY KEY,
	token      INTEGER NOT NULL
);

CREATE TABLE correio_inbound_handled (
	mailbox_id   TEXT NOT NULL,
	key          TEXT NOT NULL,
	folder       TEXT NOT NULL,
	uid_validity INTEGER NOT NULL,
	uid          INTEGER NOT NULL,
	outcome      INTEGER NOT NULL CHECK (outcome IN (1, 2)),
	contract_id  TEXT,
	at_ns        INTEGER NOT NULL,
	PRIMARY KEY (mailbox_id, key)
);
CREATE INDEX correio_inbound_handled_contract ON correio_inbound_handled (contract_id, at_ns);
CREATE INDEX correio_inbound_handled_at ON correio_inbound_handled (at_ns);

CREATE TABLE correio_inbound_quarantine (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	mailbox_id   TEXT NOT NULL,
	folder       TEXT NOT NULL,
	key          TEXT NOT NULL,
	uid_validity INTEGER NOT NULL,
	uid          INTEGER NOT NULL,
	size         INTEGER NOT NULL,
	reason       TEXT NOT NULL,
	contract_id  TEXT,
	at_ns        INTEGER NOT NULL,
	raw          BLOB
);
CREATE INDEX correio_inbound_quarantine_mailbox ON correio_inbound_quarantine (mailbox_id, id);
CREATE INDEX correio_inbound_quarantine_contract ON correio_inbound_quarantine (contract_id, at_ns);

CREATE TABLE correio_outbox (
	id               TEXT PRIMARY KEY CHECK (id <> ''),
	message_id       TEXT NOT NULL,
	mailbox_id       TEXT NOT NULL,
	state            INTEGER NOT NULL CHECK (state IN (1, 2, 3)),
	attempts         INTEGER NOT NULL DEFAULT 0,
	enqueued_ns      INTEGER NOT NULL,
	next_ns          INTEGER NOT NULL,
	last_error       TEXT NOT NULL DEFAULT '',
	reason           TEXT NOT NULL DEFAULT '',
	rule             INTEGER NOT NULL DEFAULT 0,
	decision_reason  TEXT NOT NULL DEFAULT '',
	contract_id      TEXT NOT NULL DEFAULT '',
	thread           TEXT NOT NULL DEFAULT '',
	message          TEXT NOT NULL CHECK (json_valid(message)),
	recipients       TEXT NOT NULL CHECK (json_valid(recipients)),
	claim_token      TEXT NOT NULL DEFAULT '',
	claimed_until_ns INTEGER NOT NULL DEFAULT 0,
	updated_ns       INTEGER NOT NULL
);
CREATE INDEX correio_outbox_due ON correio_outbox (mailbox_id, next_ns, enqueued_ns, id) WHERE state = 1;
CREATE INDEX correio_outbox_queued ON correio_outbox (next_ns) WHERE state = 1;
CREATE INDEX correio_outbox_message_id ON correio_outbox (lower(message_id));
CREATE INDEX correio_outbox_thread ON correio_outbox (lower(thread), enqueued_ns) WHERE thread <> '';
CREATE INDEX correio_outbox_contract ON correio_outbox (contract_id, enqueued_ns) WHERE contract_id <> '';
CREATE INDEX correio_outbox_list ON correio_outbox (enqueued_ns, id);
CREATE INDEX correio_outbox_done ON correio_outbox (updated_ns) WHERE state <> 1;

CREATE TABLE correio_outbox_attachments (
	record_id    TEXT NOT NULL REFERENCES correio_outbox (id) ON DELETE CASCADE,
	idx          INTEGER NOT NULL,
	name         TEXT NOT NULL,
	content_type TEXT NOT NULL,
	data         BLOB NOT NULL,
	PRIMARY KEY (record_id, idx)
);

CREATE TABLE correio_suppressions (
	address TEXT PRIMARY KEY, -- lower case
	reason  TEXT NOT NULL,
	at_ns   INTEGER NOT NULL
);

-- Bounces linked to the outbox record they answer (found by the bounce's
-- original Message-ID); removed with the record.
CREATE TABLE correio_outbox_bounces (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	record_id TEXT NOT NULL REFERENCES correio_outbox (id) ON DELETE CASCADE,
	recipient TEXT NOT NULL,
	status    TEXT NOT NULL,
	permanent BOOLEAN NOT NULL,
	reason    TEXT NOT NULL,
	at_ns     INTEGER NOT NULL
);
CREATE INDEX correio_outbox_bounces_record ON correio_outbox_bounces (record_id, id);
