-- OAuth2 grants (store.Tokens), one row per mailbox, replaced whole in one
-- statement so a rotated refresh token is never half written. Both tokens
-- are sealed by the store's secrets codec (places "oauth2_grant.refresh"
-- and "oauth2_grant.access" of the mailbox). Not tied to correio_mailboxes:
-- an account can be connected before its mailbox is saved.
CREATE TABLE correio_oauth2_tokens (
	mailbox_id   text PRIMARY KEY,
	provider     text NOT NULL DEFAULT '',
	account      text NOT NULL DEFAULT '',
	scopes       text NOT NULL DEFAULT '',   -- space separated (RFC 6749 3.3)
	refresh      bytea,                      -- sealed
	access       bytea,                      -- sealed
	expiry_ms    bigint NOT NULL DEFAULT 0, -- Unix milliseconds, 0 = none
	updated_ms   bigint NOT NULL DEFAULT 0
);
