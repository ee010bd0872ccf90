-- Transports' own small per-mailbox records (store.TransportState), such
-- as transport/graph's change-notification subscription. No secrets.
CREATE TABLE correio_transport_state (
	mailbox_id text NOT NULL,
	name       text NOT NULL,
	value      bytea NOT NULL,
	PRIMARY KEY (mailbox_id, name)
);
CREATE INDEX correio_transport_state_name ON correio_transport_state (name);
