// Package routing decides, and explains, which outbound mailbox a message
// goes out through, and which contract a received message belongs to.
//
// The default resolver follows the EmailConnector's mailbox choice:
// Specific names a mailbox; Contract takes the flow's contract's outbound
// mailbox and falls back to the system mailbox, saying so, when the flow has
// no contract or the contract names none; System takes the system outbound
// mailbox. Every Decision carries the rule that chose the mailbox, and
// Reason renders a sentence a host can show ("why did this go out from that
// address?").
//
// The package is pure; its Catalog is implemented by the stores.
package routing

import (
	"context"
	"errors"
	"fmt"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/workflow"
)

// Catalog is the read side of the mailbox and contract catalog. Returned
// values are shared snapshots: callers must not modify them.
// Implementations must be safe for concurrent use and fast: the resolver
// calls them on every message.
type Catalog interface {
	Mailbox(id mailbox.ID) (*mailbox.Mailbox, bool)
	Contract(id contract.ID) (*contract.Contract, bool)
	// SystemMailbox returns the system outbound mailbox's ID, if one is set.
	SystemMailbox() (mailbox.ID, bool)
	// InboundOwner returns the contract an inbound mailbox belongs to.
	InboundOwner(id mailbox.ID) (contract.ID, bool)
}

// ContractRouter is an optional fast path a Catalog may implement: the
// contract and its outbound mailbox (nil when it names none) in one lookup.
// The default resolver uses it when present.
type ContractRouter interface {
	ContractOutbound(id contract.ID) (*contract.Contract, *mailbox.Mailbox, bool)
}

// Request asks which mailbox a message of a flow goes out through.
type Request struct {
	Choice workflow.MailboxChoice
	// MailboxID is the mailbox of the Specific choice.
	MailboxID mailbox.ID
	// Contract is the contract the flow runs for; empty when none.
	Contract contract.ID
}

// RequestFor builds the Request of an EmailConnector run for a contract.
func RequestFor(c *workflow.EmailConnector, contractID contract.ID) Request {
	return Request{Choice: c.Mailbox, MailboxID: c.MailboxID, Contract: contractID}
}

// Rule names the rule that chose a mailbox.
type Rule int

const (
	// RuleSpecific: the connector named the mailbox.
	RuleSpecific Rule = iota + 1
	// RuleContract: the contract's outbound mailbox.
	RuleContract
	// RuleSystemNoContract: Contract choice, but the flow runs for no
	// contract, so the system mailbox.
	RuleSystemNoContract
	// RuleSystemContractHasNone: Contract choice, but the contract names no
	// outbound mailbox, so the system mailbox.
	RuleSystemContractHasNone
	// RuleSystem: the System choice (the default).
	RuleSystem
	// RuleFailover: the contract's mailbox was down longer than the
	// failover delay, so the system mailbox (set by the outbound Sender).
	RuleFailover
)

var ruleNames = [...]string{"", "specific", "contract", "system_no_contract", "system_contract_has_none", "system", "failover"}

// String returns a stable snake_case name (for storage and logs).
func (r Rule) String() string {
	if int(r) > 0 && int(r) < len(ruleNames) {
		return ruleNames[r]
	}
	return fmt.Sprintf("Rule(%d)", int(r))
}

// ParseRule is the inverse of Rule.String.
func ParseRule(s string) (Rule, error) {
	for i, n := range ruleNames {
		if i > 0 && n == s {
			return Rule(i), nil
		}
	}
	return 0, fmt.Errorf("routing: unknown rule %q", s)
}

// Decision is the resolver's answer.
type Decision struct {
	// Mailbox is the chosen outbound mailbox (a catalog snapshot).
	Mailbox *mailbox.Mailbox
	Rule    Rule
	// Choice and Contract echo the request.
	Choice   workflow.MailboxChoice
	Contract contract.ID
}

// Reason explains the decision in English. It is built on demand, so a
// decision costs no allocation until someone asks why.
func (d Decision) Reason() string {
	id := mailbox.ID("")
	if d.Mailbox != nil {
		id = d.Mailbox.ID
	}
	switch d.Rule {
	case RuleSpecific:
		return fmt.Sprintf("the email step names mailbox %q", id)
	case RuleContract:
		return fmt.Sprintf("the email step sends through the contract's mailbox; contract %q uses mailbox %q", d.Contract, id)
	case RuleSystemNoContract:
		return fmt.Sprintf("the email step sends through the contract's mailbox, but the flow runs for no contract, so the system mailbox %q", id)
	case RuleSystemContractHasNone:
		return fmt.Sprintf("the email step sends through the contract's mailbox, but contract %q names no outbound mailbox, so the system mailbox %q", d.Contract, id)
	case RuleSystem:
		return fmt.Sprintf("the email step uses the system mailbox %q", id)
	case RuleFailover:
		return fmt.Sprintf("contract %q's mailbox was down longer than the failover delay, so the system mailbox %q", d.Contract, id)
	}
	return "no decision"
}

// Resolver decides which mailbox a message goes out through.
type Resolver interface {
	Resolve(ctx context.Context, req Request) (Decision, error)
}

// Errors of the default resolver. A *ResolveError wraps one of them.
var (
	ErrNoSystemMailbox  = errors.New("routing: no system outbound mailbox configured")
	ErrMailboxNotFound  = errors.New("routing: mailbox not found")
	ErrNotOutbound      = errors.New("routing: mailbox is not outbound")
	ErrMailboxDisabled  = errors.New("routing: mailbox is disabled")
	ErrContractNotFound = errors.New("routing: contract not found")
	ErrBadChoice        = errors.New("routing: unknown mailbox choice")
)

// ResolveError says which rule failed on which mailbox or contract.
type ResolveError struct {
	Rule     Rule
	Mailbox  mailbox.ID
	Contract contract.ID
	Err      error
}

func (e *ResolveError) Error() string {
	s := e.Err.Error()
	if e.Mailbox != "" {
		s += fmt.Sprintf(": mailbox %q", e.Mailbox)
	}
	if e.Contract != "" {
		s += fmt.Sprintf(" (contract %q)", e.Contract)
	}
	if e.Rule != 0 {
		s += " [rule " + e.Rule.String() + "]"
	}
	return s
}

func (e *ResolveError) Unwrap() error { return e.Err }

// DefaultResolver resolves over a Catalog: Specific > Contract > System.
// It allocates nothing on success.
type DefaultResolver struct {
	Catalog Catalog
}

// NewResolver returns the default resolver over c.
func NewResolver(c Catalog) *DefaultResolver { return &DefaultResolver{Catalog: c} }

// Resolve implements Resolver.
func (r *DefaultResolver) Resolve(_ context.Context, req Request) (Decision, error) {
	d := Decision{Choice: req.Choice, Contract: req.Contract}
	switch req.Choice {
	case workflow.Specific:
		d.Rule = RuleSpecific
		if req.MailboxID == "" {
			return d, &ResolveError{Rule: RuleSpecific, Err: ErrMailboxNotFound}
		}
		return r.use(d, req.MailboxID)
	case workflow.Contract:
		if req.Contract == "" {
			d.Rule = RuleSystemNoContract
			return r.system(d)
		}
		if cr, ok := r.Catalog.(ContractRouter); ok {
			c, m, ok := cr.ContractOutbound(req.Contract)
			switch {
			case !ok:
				return d, &ResolveError{Rule: RuleContract, Contract: req.Contract, Err: ErrContractNotFound}
			case c.OutboundMailbox == "":
				d.Rule = RuleSystemContractHasNone
				return r.system(d)
			}
			d.Rule = RuleContract
			return r.check(d, c.OutboundMailbox, m, m != nil)
		}
		c, ok := r.Catalog.Contract(req.Contract)
		if !ok {
			return d, &ResolveError{Rule: RuleContract, Contract: req.Contract, Err: ErrContractNotFound}
		}
		if c.OutboundMailbox == "" {
			d.Rule = RuleSystemContractHasNone
			return r.system(d)
		}
		d.Rule = RuleContract
		return r.use(d, c.OutboundMailbox)
	case workflow.System:
		d.Rule = RuleSystem
		return r.system(d)
	}
	return d, &ResolveError{Err: ErrBadChoice}
}

func (r *DefaultResolver) system(d Decision) (Decision, error) {
	id, ok := r.Catalog.SystemMailbox()
	if !ok {
		return d, &ResolveError{Rule: d.Rule, Contract: d.Contract, Err: ErrNoSystemMailbox}
	}
	return r.use(d, id)
}

func (r *DefaultResolver) use(d Decision, id mailbox.ID) (Decision, error) {
	m, ok := r.Catalog.Mailbox(id)
	return r.check(d, id, m, ok)
}

func (r *DefaultResolver) check(d Decision, id mailbox.ID, m *mailbox.Mailbox, ok bool) (Decision, error) {
	switch {
	case !ok:
		return d, &ResolveError{Rule: d.Rule, Mailbox: id, Contract: d.Contract, Err: ErrMailboxNotFound}
	case m.Kind != mailbox.Outbound:
		return d, &ResolveError{Rule: d.Rule, Mailbox: id, Contract: d.Contract, Err: ErrNotOutbound}
	case !m.Enabled:
		return d, &ResolveError{Rule: d.Rule, Mailbox: id, Contract: d.Contract, Err: ErrMailboxDisabled}
	}
	d.Mailbox = m
	return d, nil
}

// InboundContract returns the contract whose mail arrives in the inbound
// mailbox id, so received mail is stored grouped by contract.
func InboundContract(c Catalog, id mailbox.ID) (contract.ID, bool) {
	return c.InboundOwner(id)
}
