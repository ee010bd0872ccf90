package store

import (
	"context"
	"time"

	"github.com/correio-dev/correio/mailbox"
)

// Token is a mailbox's OAuth2 grant as a store keeps it: the refresh token
// (the one secret that must never be lost, or a person has to authorise the
// mailbox again) and, optionally, the last access token with its expiry so
// a restart does not need a refresh. Durable stores seal both tokens with
// the codec that seals mailbox passwords (store/secrets).
type Token struct {
	// Provider names the preset the grant came from ("microsoft",
	// "google", or a host's own name).
	Provider string
	// Account is the signed-in account (an e-mail address or UPN), shown
	// to administrators; never a secret.
	Account string
	// Scopes the grant was given.
	Scopes       []string
	RefreshToken mailbox.Secret
	AccessToken  mailbox.Secret
	// Expiry of AccessToken (zero when unknown or no access token).
	Expiry time.Time
	// Updated is when the grant was last written (set by the writer).
	Updated time.Time
}

// Tokens keeps the OAuth2 grants of mailboxes, one per mailbox ID. Put
// replaces the whole grant in one atomic write, so a token source that
// writes a rotated refresh token before it uses the new access token never
// leaves the store without a valid refresh token, whatever moment the
// process dies at. Get of a mailbox with no grant wraps ErrNotFound; Delete
// of one is not an error.
//
// Grants are not tied to the catalog: a host may connect an account before
// it saves the mailbox, and deletes the grant when it deletes the mailbox.
type Tokens interface {
	GetToken(ctx context.Context, id mailbox.ID) (Token, error)
	PutToken(ctx context.Context, id mailbox.ID, t Token) error
	DeleteToken(ctx context.Context, id mailbox.ID) error
}
