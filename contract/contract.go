// Package contract defines a customer contract and the rules every store
// applies when contracts and mailboxes are saved or removed.
//
// A contract may name an outbound mailbox (mail sent for the contract leaves
// through it) and owns inbound mailboxes (mail received there is stored
// grouped by the contract). The rules are pure functions over a read view of
// the catalog, so the memory, SQLite and Postgres stores enforce the same
// semantics.
package contract

import (
	"errors"
	"fmt"
	"strings"

	"github.com/correio-dev/correio/mailbox"
)

// ID identifies a contract.
type ID string

// Contract is a customer contract.
type Contract struct {
	ID   ID
	Name string
	// OutboundMailbox, when set, is the outbound mailbox the contract's mail
	// is sent through. It must already be registered and be outbound.
	OutboundMailbox mailbox.ID
	// InboundMailboxes receive the contract's customers' mail. An inbound
	// mailbox belongs to at most one contract.
	InboundMailboxes []mailbox.ID
}

// Clone returns a deep copy of c.
func (c *Contract) Clone() *Contract {
	if c == nil {
		return nil
	}
	cp := *c
	cp.InboundMailboxes = append([]mailbox.ID(nil), c.InboundMailboxes...)
	return &cp
}

// Sentinel errors of the rules; the typed errors below wrap them.
var (
	ErrInvalid          = errors.New("contract: invalid")
	ErrMailboxNotFound  = errors.New("contract: mailbox not registered")
	ErrWrongKind        = errors.New("contract: mailbox of the wrong kind")
	ErrInboundTaken     = errors.New("contract: inbound mailbox belongs to another contract")
	ErrMailboxInUse     = errors.New("contract: mailbox still used")
	ErrKindChangeInUse  = errors.New("contract: mailbox kind cannot change while it is used")
	ErrContractNotFound = errors.New("contract: not found")
)

// RuleError is a broken rule. It names the contract and mailbox involved and
// wraps one of the sentinel errors, so callers test it with errors.Is.
type RuleError struct {
	Contract ID
	Mailbox  mailbox.ID
	// Path is the field concerned ("outbound_mailbox", "inbound_mailboxes",
	// "system_mailbox"), for forms.
	Path string
	Err  error
}

func (e *RuleError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	if e.Mailbox != "" {
		fmt.Fprintf(&b, ": mailbox %q", e.Mailbox)
	}
	if e.Contract != "" {
		fmt.Fprintf(&b, " (contract %q)", e.Contract)
	}
	return b.String()
}

func (e *RuleError) Unwrap() error { return e.Err }

// View is the read side of a catalog the rules consult. Stores implement it
// over their own state (inside the saving transaction for SQL stores).
type View interface {
	// Mailbox returns a registered mailbox.
	Mailbox(id mailbox.ID) (*mailbox.Mailbox, bool)
	// InboundOwner returns the contract an inbound mailbox belongs to.
	InboundOwner(id mailbox.ID) (ID, bool)
	// ContractsUsing returns the contracts that use the mailbox as outbound
	// or inbound mailbox.
	ContractsUsing(id mailbox.ID) []ID
	// SystemMailbox returns the system outbound mailbox, if one is set.
	SystemMailbox() (mailbox.ID, bool)
}

// CheckSave applies the rules for saving c (new or changed): an ID and a
// name; the outbound mailbox, when set, registered and outbound; each inbound
// mailbox registered, inbound, listed once and owned by no other contract.
// It returns every broken rule joined.
func CheckSave(v View, c *Contract) error {
	var errs []error
	if strings.TrimSpace(string(c.ID)) == "" {
		errs = append(errs, &RuleError{Path: "id", Err: fmt.Errorf("%w: id is required", ErrInvalid)})
	}
	if strings.TrimSpace(c.Name) == "" {
		errs = append(errs, &RuleError{Contract: c.ID, Path: "name", Err: fmt.Errorf("%w: name is required", ErrInvalid)})
	}
	if c.OutboundMailbox != "" {
		m, ok := v.Mailbox(c.OutboundMailbox)
		switch {
		case !ok:
			errs = append(errs, &RuleError{Contract: c.ID, Mailbox: c.OutboundMailbox, Path: "outbound_mailbox", Err: ErrMailboxNotFound})
		case m.Kind != mailbox.Outbound:
			errs = append(errs, &RuleError{Contract: c.ID, Mailbox: c.OutboundMailbox, Path: "outbound_mailbox", Err: fmt.Errorf("%w: outbound mailbox is %s", ErrWrongKind, m.Kind)})
		}
	}
	seen := make(map[mailbox.ID]bool, len(c.InboundMailboxes))
	for _, id := range c.InboundMailboxes {
		if seen[id] {
			errs = append(errs, &RuleError{Contract: c.ID, Mailbox: id, Path: "inbound_mailboxes", Err: fmt.Errorf("%w: listed twice", ErrInvalid)})
			continue
		}
		seen[id] = true
		m, ok := v.Mailbox(id)
		switch {
		case !ok:
			errs = append(errs, &RuleError{Contract: c.ID, Mailbox: id, Path: "inbound_mailboxes", Err: ErrMailboxNotFound})
			continue
		case m.Kind != mailbox.Inbound:
			errs = append(errs, &RuleError{Contract: c.ID, Mailbox: id, Path: "inbound_mailboxes", Err: fmt.Errorf("%w: inbound mailbox is %s", ErrWrongKind, m.Kind)})
			continue
		}
		if owner, ok := v.InboundOwner(id); ok && owner != c.ID {
			errs = append(errs, &RuleError{Contract: owner, Mailbox: id, Path: "inbound_mailboxes", Err: ErrInboundTaken})
		}
	}
	return errors.Join(errs...)
}

// CheckMailboxRemoval refuses to remove a mailbox that a contract still uses
// or that is the system mailbox. The error names the first contract using it.
func CheckMailboxRemoval(v View, id mailbox.ID) error {
	if sys, ok := v.SystemMailbox(); ok && sys == id {
		return &RuleError{Mailbox: id, Path: "system_mailbox", Err: fmt.Errorf("%w: it is the system outbound mailbox", ErrMailboxInUse)}
	}
	if users := v.ContractsUsing(id); len(users) > 0 {
		return &RuleError{Contract: users[0], Mailbox: id, Err: ErrMailboxInUse}
	}
	return nil
}

// CheckMailboxUpdate refuses a change of kind for a mailbox that contracts
// or the system setting use in its current kind. (Other changes, disabling
// included, are allowed: the resolver reports a disabled mailbox.)
func CheckMailboxUpdate(v View, old, updated *mailbox.Mailbox) error {
	if old == nil || old.Kind == updated.Kind {
		return nil
	}
	if sys, ok := v.SystemMailbox(); ok && sys == old.ID {
		return &RuleError{Mailbox: old.ID, Path: "kind", Err: fmt.Errorf("%w: it is the system outbound mailbox", ErrKindChangeInUse)}
	}
	if users := v.ContractsUsing(old.ID); len(users) > 0 {
		return &RuleError{Contract: users[0], Mailbox: old.ID, Path: "kind", Err: ErrKindChangeInUse}
	}
	return nil
}

// CheckSystemMailbox checks that id may be the system outbound mailbox: it is
// registered and outbound.
func CheckSystemMailbox(v View, id mailbox.ID) error {
	m, ok := v.Mailbox(id)
	if !ok {
		return &RuleError{Mailbox: id, Path: "system_mailbox", Err: ErrMailboxNotFound}
	}
	if m.Kind != mailbox.Outbound {
		return &RuleError{Mailbox: id, Path: "system_mailbox", Err: fmt.Errorf("%w: the system mailbox must be outbound, not %s", ErrWrongKind, m.Kind)}
	}
	return nil
}
