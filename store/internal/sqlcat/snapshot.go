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

// The with* methods build the next snapshot from s with one change (the
// version is set by the caller); s itself is not modified.

func (s *Snapshot) withMailbox(m *mailbox.Mailbox) *Snapshot {
	mbs := make([]*mailbox.Mailbox, 0, len(s.mbList)+1)
	for _, o := range s.mbList {
		if o.ID != m.ID {
			mbs = append(mbs, o)
		}
	}
	return NewSnapshot(s.Version, append(mbs, m), slices.Clone(s.ctList), s.system)
}

func (s *Snapshot) withoutMailbox(id mailbox.ID) *Snapshot {
	mbs := make([]*mailbox.Mailbox, 0, len(s.mbList))
	for _, o := range s.mbList {
		if o.ID != id {
			mbs = append(mbs, o)
		}
	}
	return NewSnapshot(s.Version, mbs, slices.Clone(s.ctList), s.system)
}

func (s *Snapshot) withContract(c *contract.Contract) *Snapshot {
	cts := make([]*contract.Contract, 0, len(s.ctList)+1)
	for _, o := range s.ctList {
		if o.ID != c.ID {
			cts = append(cts, o)
		}
	}
	return NewSnapshot(s.Version, slices.Clone(s.mbList), append(cts, c), s.system)
}

func (s *Snapshot) withoutContract(id contract.ID) *Snapshot {
	cts := make([]*contract.Contract, 0, len(s.ctList))
	for _, o := range s.ctList {
		if o.ID != id {
			cts = append(cts, o)
		}
	}
	return NewSnapshot(s.Version, slices.Clone(s.mbList), cts, s.system)
}

func (s *Snapshot) withSystem(id mailbox.ID) *Snapshot {
	return NewSnapshot(s.Version, slices.Clone(s.mbList), slices.Clone(s.ctList), id)
}
