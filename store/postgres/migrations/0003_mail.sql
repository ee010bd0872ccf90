-- The engines' state: inbound checkpoints, handled keys, quarantine;
-- the outbox, its attachments and the suppression list. Times are Unix
-- nanoseconds (UTC) in *_ns columns.
CREATE TABLE correio_inbound_checkpoints (
	mailbox_id   text NOT NULL,
	folder       text NOT NULL,
	uid_validity bigint NOT NULL,
	last_uid     bigint NOT NULL,
	since_ns     bigint NOT NULL DEFAULT 0, -- Checkpoint.Since (start from new mail)
	updated_ns   bigint NOT NULL,
	PRIMARY KEY (mailbox_id, folder)
);

-- Highest fencing token seen per mailbox: a write with a lower one fails.
CREATE TABLE correio_inbound_fences (
	mailbox_id text PRIMARY KEY,
	token      bigint NOT NULL
);

CREATE TABLE correio_inbound_handled (
	mailbox_id   text NOT NULL,
	key          text NOT NULL,
	folder       text NOT NULL,
	uid_validity bigint NOT NULL,
	uid          bigint NOT NULL,
	outcome      bigint NOT NULL CHECK (outcome IN (1, 2)),
	contract_id  text,
	at_ns        bigint NOT NULL,
	PRIMARY KEY (mailbox_id, key)
);
CREATE INDEX correio_inbound_handled_contract ON correio_inbound_handled (contract_id, at_ns);
CREATE INDEX correio_inbound_handled_at ON correio_inbound_handled (at_ns);

CREATE TABLE correio_inbound_quarantine (
	id           bigserial PRIMARY KEY,
	mailbox_id   text NOT NULL,
	folder       text NOT NULL,
	key          text NOT NULL,
	uid_validity bigint NOT NULL,
	uid          bigint NOT NULL,
	size         bigint NOT NULL,
	reason       text NOT NULL,
	contract_id  text,
	at_ns        bigint NOT NULL,
	raw          bytea
);
CREATE INDEX correio_inbound_quarantine_mailbox ON correio_inbound_quarantine (mailbox_id, id);
CREATE INDEX correio_inbound_quarantine_contract ON correio_inbound_quarantine (contract_id, at_ns);

CREATE TABLE correio_outbox (
	id               text PRIMARY KEY CHECK (id <> ''),
	message_id       text NOT NULL,
	mailbox_id       text NOT NULL,
	state            bigint NOT NULL CHECK (state IN (1, 2, 3)),
	attempts         bigint NOT NULL DEFAULT 0,
	enqueued_ns      bigint NOT NULL,
	next_ns          bigint NOT NULL,
	last_error       text NOT NULL DEFAULT '',
	reason           text NOT NULL DEFAULT '',
	rule             bigint NOT NULL DEFAULT 0,
	decision_reason  text NOT NULL DEFAULT '',
	contract_id      text NOT NULL DEFAULT '',
	thread           text NOT NULL DEFAULT '',
	message          jsonb NOT NULL,
	recipients       jsonb NOT NULL,
	claim_token      text NOT NULL DEFAULT '',
	claimed_until_ns bigint NOT NULL DEFAULT 0,
	updated_ns       bigint NOT NULL
);
CREATE INDEX correio_outbox_due ON correio_outbox (mailbox_id, next_ns, enqueued_ns, id) WHERE state = 1;
CREATE INDEX correio_outbox_queued ON correio_outbox (next_ns) WHERE state = 1;
CREATE INDEX correio_outbox_message_id ON correio_outbox (lower(message_id));
CREATE INDEX correio_outbox_thread ON correio_outbox (lower(thread), enqueued_ns) WHERE thread <> '';
CREATE INDEX correio_outbox_contract ON correio_outbox (contract_id, enqueued_ns) WHERE contract_id <> '';
CREATE INDEX correio_outbox_list ON correio_outbox (enqueued_ns, id);
CREATE INDEX correio_outbox_done ON correio_outbox (updated_ns) WHERE state <> 1;

CREATE TABLE correio_outbox_attachments (
	record_id    text NOT NULL REFERENCES correio_outbox (id) ON DELETE CASCADE,
	idx          bigint NOT NULL,
	name         text NOT NULL,
	content_type text NOT NULL,
	data         bytea NOT NULL,
	PRIMARY KEY (record_id, idx)
);

CREATE TABLE correio_suppressions (
	address text PRIMARY KEY, -- lower case
	reason  text NOT NULL,
	at_ns   bigint NOT NULL
);

-- Bounces linked to the outbox record they answer (found by the bounce's
-- original Message-ID); removed with the record.
CREATE TABLE correio_outbox_bounces (
	id        bigserial PRIMARY KEY,
	record_id text NOT NULL REFERENCES correio_outbox (id) ON DELETE CASCADE,
	recipient text NOT NULL,
	status    text NOT NULL,
	permanent boolean NOT NULL,
	reason    text NOT NULL,
	at_ns     bigint NOT NULL
);
CREATE INDEX correio_outbox_bounces_record ON correio_outbox_bounces (record_id, id);
