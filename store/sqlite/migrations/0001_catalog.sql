-- The catalog: mailboxes, contracts, inbound ownership, the system mailbox.
-- Composite foreign keys on (id, kind) make the database itself refuse a
-- contract whose outbound mailbox is not outbound, an inbound binding to a
-- non-inbound mailbox, and a kind change of a mailbox still used.
CREATE TABLE correio_mailboxes (
	id             TEXT PRIMARY KEY CHECK (id <> ''),
	kind           TEXT NOT NULL CHECK (kind IN ('inbound', 'outbound')),
	description    TEXT NOT NULL,
	address        TEXT NOT NULL DEFAULT '',
	enabled        BOOLEAN NOT NULL,
	settings       TEXT NOT NULL CHECK (json_valid(settings)),
	secret         BLOB,
	oauth2_refresh BLOB,
	UNIQUE (id, kind)
);

CREATE TABLE correio_contracts (
	id               TEXT PRIMARY KEY CHECK (id <> ''),
	name             TEXT NOT NULL CHECK (name <> ''),
	outbound_mailbox TEXT,
	outbound_kind    TEXT NOT NULL DEFAULT 'outbound' CHECK (outbound_kind = 'outbound'),
	FOREIGN KEY (outbound_mailbox, outbound_kind) REFERENCES correio_mailboxes (id, kind)
);
CREATE INDEX correio_contracts_outbound ON correio_contracts (outbound_mailbox);

-- mailbox_id is the primary key: an inbound mailbox belongs to one contract.
CREATE TABLE correio_contract_inbound (
	mailbox_id   TEXT PRIMARY KEY,
	mailbox_kind TEXT NOT NULL DEFAULT 'inbound' CHECK (mailbox_kind = 'inbound'),
	contract_id  TEXT NOT NULL REFERENCES correio_contracts (id) ON DELETE CASCADE,
	position     INTEGER NOT NULL,
	FOREIGN KEY (mailbox_id, mailbox_kind) REFERENCES correio_mailboxes (id, kind)
);
CREATE INDEX correio_contract_inbound_contract ON correio_contract_inbound (contract_id, position);

CREATE TABLE correio_system (
	singleton    INTEGER PRIMARY KEY CHECK (singleton = 1),
	mailbox_id   TEXT NOT NULL,
	mailbox_kind TEXT NOT NULL DEFAULT 'outbound' CHECK (mailbox_kind = 'outbound'),
	FOREIGN KEY (mailbox_id, mailbox_kind) REFERENCES correio_mailboxes (id, kind)
);

-- Bumped by every catalog write; caches compare it to know they are stale.
CREATE TABLE correio_catalog_version (
	singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
	version   INTEGER NOT NULL
);
INSERT INTO correio_catalog_version (singleton, version) VALUES (1, 0);
