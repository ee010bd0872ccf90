// Package memory holds correio's state in process memory: the mailbox and
// contract catalog now, the engines' stores as they arrive. It is meant for
// tests, examples and hosts that keep their own durable copy; nothing
// survives a restart.
package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store"
)

// Catalog holds mailboxes, contracts and the system mailbox, applying the
// contract package's rules on every change. It implements routing.Catalog
// and contract.View and is safe for concurrent use.
//
// Values it returns are shared snapshots: callers must not modify them
// (Clone and save a copy instead).
type Catalog struct {
	mu        sync.RWMutex
	mailboxes map[mailbox.ID]*mailbox.Mailbox
	contracts map[contract.ID]route
	owner     map[mailbox.ID]contract.ID              // inbound mailbox -> contract
	outUsers  map[mailbox.ID]map[contract.ID]struct{} // outbound mailbox -> contracts
	system    mailbox.ID
	version   uint64
}

// NewCatalog returns an empty catalog.
func NewCatalog() *Catalog {
	return &Catalog{
		mailboxes: map[mailbox.ID]*mailbox.Mailbox{},
		contracts: map[contract.ID]route{},
		owner:     map[mailbox.ID]contract.ID{},
		outUsers:  map[mailbox.ID]map[contract.ID]struct{}{},
	}
}

// route is a contract with its outbound mailbox resolved, so the resolver
// finds both with one map lookup.
type route struct {
	c   *contract.Contract
	out *mailbox.Mailbox
}

// view adapts the catalog's maps to contract.View; callers hold the lock.
type view struct{ c *Catalog }

func (v view) Mailbox(id mailbox.ID) (*mailbox.Mailbox, bool) {
	m, ok := v.c.mailboxes[id]
	return m, ok
}
func (v view) InboundOwner(id mailbox.ID) (contract.ID, bool) {
	o, ok := v.c.owner[id]
	return o, ok
}
func (v view) SystemMailbox() (mailbox.ID, bool) { return v.c.system, v.c.system != "" }
func (v view) ContractsUsing(id mailbox.ID) []contract.ID {
	var out []contract.ID
	for cid := range v.c.outUsers[id] {
		out = append(out, cid)
	}
	if o, ok := v.c.owner[id]; ok && !slices.Contains(out, o) {
		out = append(out, o)
	}
	slices.Sort(out)
	return out
}

// PutMailbox validates m and adds or replaces it. A change of kind is
// refused while a contract or the system setting uses the mailbox.
func (c *Catalog) PutMailbox(_ context.Context, m *mailbox.Mailbox) error {
	if m.ID == "" {
		return &mailbox.ValidationError{Errors: []*mailbox.FieldError{{Path: "id", Code: mailbox.CodeRequired, Message: "id is required"}}}
	}
	if err := m.Validate(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := contract.CheckMailboxUpdate(view{c}, c.mailboxes[m.ID], m); err != nil {
		return err
	}
	cp := m.Clone()
	c.mailboxes[m.ID] = cp
	for cid := range c.outUsers[m.ID] {
		r := c.contracts[cid]
		r.out = cp
		c.contracts[cid] = r
	}
	c.version++
	return nil
}

// DeleteMailbox removes a mailbox no contract uses and that is not the
// system mailbox.
func (c *Catalog) DeleteMailbox(_ context.Context, id mailbox.ID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.mailboxes[id]; !ok {
		return fmt.Errorf("%w: mailbox %q", store.ErrNotFound, id)
	}
	if err := contract.CheckMailboxRemoval(view{c}, id); err != nil {
		return err
	}
	delete(c.mailboxes, id)
	c.version++
	return nil
}

// PutContract adds or replaces a contract after contract.CheckSave.
func (c *Catalog) PutContract(_ context.Context, ct *contract.Contract) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := contract.CheckSave(view{c}, ct); err != nil {
		return err
	}
	if old, ok := c.contracts[ct.ID]; ok {
		c.unindex(old.c)
	}
	cp := ct.Clone()
	r := route{c: cp}
	for _, id := range cp.InboundMailboxes {
		c.owner[id] = cp.ID
	}
	if cp.OutboundMailbox != "" {
		r.out = c.mailboxes[cp.OutboundMailbox]
		users := c.outUsers[cp.OutboundMailbox]
		if users == nil {
			users = map[contract.ID]struct{}{}
			c.outUsers[cp.OutboundMailbox] = users
		}
		users[cp.ID] = struct{}{}
	}
	c.contracts[ct.ID] = r
	c.version++
	return nil
}

// DeleteContract removes a contract; its inbound mailboxes become unowned.
func (c *Catalog) DeleteContract(_ context.Context, id contract.ID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.contracts[id]
	if !ok {
		return fmt.Errorf("%w: contract %q", store.ErrNotFound, id)
	}
	c.unindex(old.c)
	delete(c.contracts, id)
	c.version++
	return nil
}

func (c *Catalog) unindex(old *contract.Contract) {
	for _, m := range old.InboundMailboxes {
		delete(c.owner, m)
	}
	if users := c.outUsers[old.OutboundMailbox]; users != nil {
		delete(users, old.ID)
		if len(users) == 0 {
			delete(c.outUsers, old.OutboundMailbox)
		}
	}
}

// SetSystemMailbox names the system outbound mailbox; it must be registered
// and outbound. An empty id clears the setting.
func (c *Catalog) SetSystemMailbox(_ context.Context, id mailbox.ID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id != "" {
		if err := contract.CheckSystemMailbox(view{c}, id); err != nil {
			return err
		}
	}
	c.system = id
	c.version++
	return nil
}

// Mailbox implements routing.Catalog.
func (c *Catalog) Mailbox(id mailbox.ID) (*mailbox.Mailbox, bool) {
	c.mu.RLock()
	m, ok := c.mailboxes[id]
	c.mu.RUnlock()
	return m, ok
}

// Contract implements routing.Catalog.
func (c *Catalog) Contract(id contract.ID) (*contract.Contract, bool) {
	c.mu.RLock()
	r, ok := c.contracts[id]
	c.mu.RUnlock()
	return r.c, ok
}

// ContractOutbound returns a contract and its outbound mailbox (nil when it
// names none) in one lookup: the resolver's fast path.
func (c *Catalog) ContractOutbound(id contract.ID) (*contract.Contract, *mailbox.Mailbox, bool) {
	c.mu.RLock()
	r, ok := c.contracts[id]
	c.mu.RUnlock()
	return r.c, r.out, ok
}

// SystemMailbox implements routing.Catalog.
func (c *Catalog) SystemMailbox() (mailbox.ID, bool) {
	c.mu.RLock()
	id := c.system
	c.mu.RUnlock()
	return id, id != ""
}

// InboundOwner implements routing.Catalog.
func (c *Catalog) InboundOwner(id mailbox.ID) (contract.ID, bool) {
	c.mu.RLock()
	o, ok := c.owner[id]
	c.mu.RUnlock()
	return o, ok
}

// ContractsUsing returns the contracts using mailbox id, sorted.
func (c *Catalog) ContractsUsing(id mailbox.ID) []contract.ID {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return view{c}.ContractsUsing(id)
}

// Mailboxes returns every mailbox, sorted by ID.
func (c *Catalog) Mailboxes() []*mailbox.Mailbox {
	c.mu.RLock()
	out := make([]*mailbox.Mailbox, 0, len(c.mailboxes))
	for _, m := range c.mailboxes {
		out = append(out, m)
	}
	c.mu.RUnlock()
	slices.SortFunc(out, func(a, b *mailbox.Mailbox) int { return cmpString(string(a.ID), string(b.ID)) })
	return out
}

// Contracts returns every contract, sorted by ID.
func (c *Catalog) Contracts() []*contract.Contract {
	c.mu.RLock()
	out := make([]*contract.Contract, 0, len(c.contracts))
	for _, r := range c.contracts {
		out = append(out, r.c)
	}
	c.mu.RUnlock()
	slices.SortFunc(out, func(a, b *contract.Contract) int { return cmpString(string(a.ID), string(b.ID)) })
	return out
}

// Version increases on every change, so a cache can tell it is stale.
func (c *Catalog) Version() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.version
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
