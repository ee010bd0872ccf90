-- The catalog: mailboxes, contracts, inbound ownership, the system mailbox.
-- Composite foreign keys on (id, kind) make the database itself refuse a
-- contract whose outbound mailbox is not outbound, an inbound binding to a
-- non-inbound mailbox, and a kind change of a mailbox still used.
CREATE TABLE correio_mailboxes (
	id             text PRIMARY KEY CHECK (id <> ''),
	kind           text NOT NULL CHECK (kind IN ('inbound', 'outbound')),
	description    text NOT NULL,
	address        text NOT NULL DEFAULT '',
	enabled        boolean NOT NULL,
	settings       jsonb NOT NULL,
	secret         bytea,
	oauth2_refresh bytea,
	UNIQUE (id, kind)
);

CREATE TABLE correio_contracts (
	id               text PRIMARY KEY CHECK (id <> ''),
	name             text NOT NULL CHECK (name <> ''),
	outbound_mailbox text,
	outbound_kind    text NOT NULL DEFAULT 'outbound' CHECK (outbound_kind = 'outbound'),
	FOREIGN KEY (outbound_mailbox, outbound_kind) REFERENCES correio_mailboxes (id, kind)
);
CREATE INDEX correio_contracts_outbound ON correio_contracts (outbound_mailbox);

-- mailbox_id is the primary key: an inbound mailbox belongs to one contract.
CREATE TABLE correio_contract_inbound (
	mailbox_id   text PRIMARY KEY,
	mailbox_kind text NOT NULL DEFAULT 'inbound' CHECK (mailbox_kind = 'inbound'),
	contract_id  text NOT NULL REFERENCES correio_contracts (id) ON DELETE CASCADE,
	position     integer NOT NULL,
	FOREIGN KEY (mailbox_id, mailbox_kind) REFERENCES correio_mailboxes (id, kind)
);
CREATE INDEX correio_contract_inbound_contract ON correio_contract_inbound (contract_id, position);

CREATE TABLE correio_system (
	singleton    integer PRIMARY KEY CHECK (singleton = 1),
	mailbox_id   text NOT NULL,
	mailbox_kind text NOT NULL DEFAULT 'outbound' CHECK (mailbox_kind = 'outbound'),
	FOREIGN KEY (mailbox_id, mailbox_kind) REFERENCES correio_mailboxes (id, kind)
);

-- Bumped first by every catalog write (its row lock serializes writers);
-- replicas compare it to know their cached snapshot is stale.
CREATE TABLE correio_catalog_version (
	singleton integer PRIMARY KEY CHECK (singleton = 1),
	version   bigint NOT NULL
);
INSERT INTO correio_catalog_version (singleton, version) VALUES (1, 0);
