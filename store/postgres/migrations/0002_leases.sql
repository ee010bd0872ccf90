-- Mailbox leases for pollers on several replicas. token is the fencing
-- token: it comes from a sequence, so every acquisition gets a larger one;
-- a checkpoint commit checks it (CheckFence) so a replica that lost its
-- lease cannot commit. No foreign key to correio_mailboxes: a host may
-- lease mailboxes it keeps in its own catalog.
CREATE SEQUENCE correio_lease_token;

CREATE TABLE correio_leases (
	mailbox_id text PRIMARY KEY,
	owner      text NOT NULL,
	token      bigint NOT NULL,
	expires_at timestamptz NOT NULL
) WITH (fillfactor = 50); -- room for HOT updates: renewals touch no index
CREATE INDEX correio_leases_owner ON correio_leases (owner);

-- Replicas taking part in ClaimFairShare, with their last heartbeat.
CREATE TABLE correio_lease_replicas (
	owner   text PRIMARY KEY,
	seen_at timestamptz NOT NULL
);
