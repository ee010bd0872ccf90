package store

import (
	"context"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/routing"
)

// Catalog is the mailbox and contract catalog with its write side: the
// method set of store/memory.Catalog and of the SQL stores' catalogs. The
// engines read through routing.Catalog; an administration UI edits through
// Catalog.
//
// Writes apply the contract package's rules and fail with its typed errors
// (contract.ErrInUse, ...); an unknown mailbox or contract wraps
// ErrNotFound. Values the read methods return are shared: callers must not
// modify them.
type Catalog interface {
	routing.Catalog
	// PutMailbox validates m and adds or replaces it.
	PutMailbox(ctx context.Context, m *mailbox.Mailbox) error
	// DeleteMailbox removes a mailbox no contract uses and that is not the
	// system mailbox.
	DeleteMailbox(ctx context.Context, id mailbox.ID) error
	// PutContract adds or replaces a contract after contract.CheckSave.
	PutContract(ctx context.Context, c *contract.Contract) error
	// DeleteContract removes a contract; its inbound mailboxes become
	// unowned.
	DeleteContract(ctx context.Context, id contract.ID) error
	// SetSystemMailbox names the system outbound mailbox (empty clears).
	SetSystemMailbox(ctx context.Context, id mailbox.ID) error
	// Mailboxes returns every mailbox, sorted by ID.
	Mailboxes() []*mailbox.Mailbox
	// Contracts returns every contract, sorted by ID.
	Contracts() []*contract.Contract
	// ContractsUsing returns the contracts using mailbox id, sorted.
	ContractsUsing(id mailbox.ID) []contract.ID
	// Version increases on every change.
	Version() uint64
}
