package sqlite

import (
	"context"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store/internal/sqlcat"
)

var (
	_ routing.Catalog = (*Catalog)(nil)
	_ contract.View   = (*Catalog)(nil)
)

// Catalog is the durable mailbox and contract catalog. It has the method set
// of store/memory.Catalog: writes go to the database inside one transaction
// that applies the contract rules; reads come from the cached snapshot and
// take no lock, so it implements routing.Catalog as fast as memory does.
//
// Values it returns are shared snapshots: callers must not modify them.
type Catalog struct{ core *sqlcat.Core }

// PutMailbox validates m and adds or replaces it. A change of kind is
// refused while a contract or the system setting uses the mailbox. The
// password is sealed with Options.Secrets; the stored OAuth2 refresh token
// is kept.
func (c *Catalog) PutMailbox(ctx context.Context, m *mailbox.Mailbox) error {
	return c.core.PutMailbox(ctx, m)
}

// DeleteMailbox removes a mailbox no contract uses and that is not the
// system mailbox.
func (c *Catalog) DeleteMailbox(ctx context.Context, id mailbox.ID) error {
	return c.core.DeleteMailbox(ctx, id)
}

// PutContract adds or replaces a contract after contract.CheckSave.
func (c *Catalog) PutContract(ctx context.Context, ct *contract.Contract) error {
	return c.core.PutContract(ctx, ct)
}

// DeleteContract removes a contract; its inbound mailboxes become unowned.
func (c *Catalog) DeleteContract(ctx context.Context, id contract.ID) error {
	return c.core.DeleteContract(ctx, id)
}

// SetSystemMailbox names the system outbound mailbox; it must be registered
// and outbound. An empty id clears the setting.
func (c *Catalog) SetSystemMailbox(ctx context.Context, id mailbox.ID) error {
	return c.core.SetSystemMailbox(ctx, id)
}

// SaveRefreshToken seals and stores a mailbox's OAuth2 refresh token; wire
// it to transport.OAuth2Tokens.OnRotate so rotated tokens are kept.
func (c *Catalog) SaveRefreshToken(ctx context.Context, id mailbox.ID, tok mailbox.Secret) error {
	return c.core.SaveRefreshToken(ctx, id, tok)
}

// RefreshToken returns the stored OAuth2 refresh token of a mailbox.
func (c *Catalog) RefreshToken(ctx context.Context, id mailbox.ID) (mailbox.Secret, error) {
	return c.core.RefreshToken(ctx, id)
}

// Refresh reloads the cached snapshot now if the stored catalog changed
// (it happens on its own every Options.CheckInterval).
func (c *Catalog) Refresh(ctx context.Context) error { return c.core.Refresh(ctx) }

// Version is the catalog version of the cached snapshot; it increases on
// every change.
func (c *Catalog) Version() uint64 { return uint64(c.core.Snapshot().Version) }

// Mailbox implements routing.Catalog.
func (c *Catalog) Mailbox(id mailbox.ID) (*mailbox.Mailbox, bool) {
	return c.core.Snapshot().Mailbox(id)
}

// Contract implements routing.Catalog.
func (c *Catalog) Contract(id contract.ID) (*contract.Contract, bool) {
	return c.core.Snapshot().Contract(id)
}

// SystemMailbox implements routing.Catalog.
func (c *Catalog) SystemMailbox() (mailbox.ID, bool) { return c.core.Snapshot().SystemMailbox() }

// InboundOwner implements routing.Catalog.
func (c *Catalog) InboundOwner(id mailbox.ID) (contract.ID, bool) {
	return c.core.Snapshot().InboundOwner(id)
}

// ContractsUsing returns the contracts using mailbox id, sorted.
func (c *Catalog) ContractsUsing(id mailbox.ID) []contract.ID {
	return c.core.Snapshot().ContractsUsing(id)
}

// Mailboxes returns every mailbox, sorted by ID.
func (c *Catalog) Mailboxes() []*mailbox.Mailbox { return c.core.Snapshot().Mailboxes() }

// Contracts returns every contract, sorted by ID.
func (c *Catalog) Contracts() []*contract.Contract { return c.core.Snapshot().Contracts() }

// Reseal re-encrypts every secret sealed with a retired key of the
// secrets.Keyring, so the old key can be dropped after a rotation; it
// returns how many values it rewrote.
func (c *Catalog) Reseal(ctx context.Context) (int, error) { return c.core.Reseal(ctx) }
