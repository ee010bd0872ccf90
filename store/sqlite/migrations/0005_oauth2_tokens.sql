-- OAuth2 grants (store.Tokens), one row per mailbox, replaced whole in one
-- statement so a rotated refresh token is never half written. Both tokens
-- are sealed by the store's secrets codec (places "oauth2_grant.refresh"
-- and "oauth2_grant.access" of the mailbox). Not tied to correio_mailboxes:
-- an account can be connected before its mailbox is saved.
CREATE TABLE correio_oauth2_tokens (
	mailbox_id   TEXT PRIMARY KEY,
	provider     TEXT NOT NULL DEFAULT '',
	account      TEXT NOT NULL DEFAULT '',
	scopes       TEXT NOT NULL DEFAULT '',   -- space separated (RFC 6749 3.3)
	refresh      BLOB,                       -- sealed
	access       BLOB,                       -- sealed
	expiry_ms    INTEGER NOT NULL DEFAULT 0, -- Unix milliseconds, 0 = none
	updated_ms   INTEGER NOT NULL DEFAULT 0
);
