package sqlcat

import (
	"slices"
	"strings"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
)

// Snapshot is an immutable copy of the catalog at one version. Reads take
// no lock: the resolver reads it on every message.
type Snapshot struct {
	Version   int64
	mailboxes map[mailbox.ID]*mailbox.Mailbox
	contracts map[contract.ID]*contract.Contract
	owner     map[mailbox.ID]contract.ID
	using     map[mailbox.ID][]contract.ID
	system    mailbox.ID
	mbList    []*mailbox.Mailbox
	ctList    []*contract.Contract
}

// NewSnapshot builds a snapshot; the slices are taken over.
func NewSnapshot(version int64, mbs []*mailbox.Mailbox, cts []*contract.Contract, system mailbox.ID) *Snapshot {
	s := &Snapshot{Version: version, system: system,
		mailboxes: make(map[mailbox.ID]*mailbox.Mailbox, len(mbs)),
		contracts: make(map[contract.ID]*contract.Contract, len(cts)),
		owner:     map[mailbox.ID]contract.ID{},
		using:     map[mailbox.ID][]contract.ID{},
	}
	slices.SortFunc(mbs, func(a, b *mailbox.Mailbox) int { return strings.Compare(string(a.ID), string(b.ID)) })
	slices.SortFunc(cts, func(a, b *contract.Contract) int { return strings.Compare(string(a.ID), string(b.ID)) })
	s.mbList, s.ctList = mbs, cts
	for _, m := range mbs {
		s.mailboxes[m.ID] = m
	}
	for _, c := range cts {
		s.contracts[c.ID] = c
		if c.OutboundMailbox != "" {
			s.using[c.OutboundMailbox] = append(s.using[c.OutboundMailbox], c.ID)
		}
		for _, id := range c.InboundMailboxes {
			s.owner[id] = c.ID
			if !slices.Contains(s.using[id], c.ID) {
				s.using[id] = append(s.using[id], c.ID)
			}
		}
	}
	return s
}

// Mailbox implements routing.Catalog.
func (s *Snapshot) Mailbox(id mailbox.ID) (*mailbox.Mailbox, bool) {
	m, ok := s.mailboxes[id]
	return m, ok
}

// Contract implements routing.Catalog.
func (s *Snapshot) Contract(id contract.ID) (*contract.Contract, bool) {
	c, ok := s.contracts[id]
	return c, ok
}

// SystemMailbox implements routing.Catalog.
func (s *Snapshot) SystemMailbox() (mailbox.ID, bool) { return s.system, s.system != "" }

// InboundOwner implements routing.Catalog.
func (s *Snapshot) InboundOwner(id mailbox.ID) (contract.ID, bool) {
	o, ok := s.owner[id]
	return o, ok
}

// ContractsUsing returns the contracts using mailbox id, sorted (contracts
// are sorted, so the lists are built in order).
func (s *Snapshot) ContractsUsing(id mailbox.ID) []contract.ID {
	return slices.Clone(s.using[id])
}

// Mailboxes returns every mailbox sorted by ID (a fresh slice).
func (s *Snapshot) Mailboxes() []*mailbox.Mailbox { return slices.Clone(s.mbList) }

// Contracts returns every contract sorted by ID (a fresh slice).
func (s *Snapshot) Contracts() []*contract.Contract { return slices.Clone(s.ctList) }
