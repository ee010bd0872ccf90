package sqlstore

import (
	"slices"
	"strings"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/mailbox"
)

// snapshot is an immutable copy of the catalog at one version. Reads take
// no lock: the resolver reads it on every message.
type snapshot struct {
	Version   int64
	mailboxes map[mailbox.ID]*mailbox.Mailbox
	contracts map[contract.ID]*contract.Contract
	owner     map[mailbox.ID]contract.ID
	using     map[mailbox.ID][]contract.ID
	system    mailbox.ID
	mbList    []*mailbox.Mailbox
	ctList    []*contract.Contract
}

// newSnapshot builds a snapshot; the slices are taken over.
func newSnapshot(version int64, mbs []*mailbox.Mailbox, cts []*contract.Contract, system mailbox.ID) *snapshot {
	s := &snapshot{Version: version, system: system,
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
func (s *snapshot) Mailbox(id mailbox.ID) (*mailbox.Mailbox, bool) {
	m, ok := s.mailboxes[id]
	return m, ok
}

// Contract implements routing.Catalog.
func (s *snapshot) Contract(id contract.ID) (*contract.Contract, bool) {
	c, ok := s.contracts[id]
	return c, ok
}

// SystemMailbox implements routing.Catalog.
func (s *snapshot) SystemMailbox() (mailbox.ID, bool) { return s.system, s.system != "" }

// InboundOwner implements routing.Catalog.
func (s *snapshot) InboundOwner(id mailbox.ID) (contract.ID, bool) {
	o, ok := s.owner[id]
	return o, ok
}

// ContractsUsing returns the contracts using mailbox id, sorted (contracts
// are sorted, so the lists are built in order).
func (s *snapshot) ContractsUsing(id mailbox.ID) []contract.ID {
	return slices.Clone(s.using[id])
}

// Mailboxes returns every mailbox sorted by ID (a fresh slice).
func (s *snapshot) Mailboxes() []*mailbox.Mailbox { return slices.Clone(s.mbList) }

// Contracts returns every contract sorted by ID (a fresh slice).
func (s *snapshot) Contracts() []*contract.Contract { return slices.Clone(s.ctList) }

// The with* methods build the next snapshot from s with one change (the
// version is set by the caller); s itself is not modified.

func (s *snapshot) withMailbox(m *mailbox.Mailbox) *snapshot {
	mbs := make([]*mailbox.Mailbox, 0, len(s.mbList)+1)
	for _, o := range s.mbList {
		if o.ID != m.ID {
			mbs = append(mbs, o)
		}
	}
	return newSnapshot(s.Version, append(mbs, m), slices.Clone(s.ctList), s.system)
}

func (s *snapshot) withoutMailbox(id mailbox.ID) *snapshot {
	mbs := make([]*mailbox.Mailbox, 0, len(s.mbList))
	for _, o := range s.mbList {
		if o.ID != id {
			mbs = append(mbs, o)
		}
	}
	return newSnapshot(s.Version, mbs, slices.Clone(s.ctList), s.system)
}

func (s *snapshot) withContract(c *contract.Contract) *snapshot {
	cts := make([]*contract.Contract, 0, len(s.ctList)+1)
	for _, o := range s.ctList {
		if o.ID != c.ID {
			cts = append(cts, o)
		}
	}
	return newSnapshot(s.Version, slices.Clone(s.mbList), append(cts, c), s.system)
}

func (s *snapshot) withoutContract(id contract.ID) *snapshot {
	cts := make([]*contract.Contract, 0, len(s.ctList))
	for _, o := range s.ctList {
		if o.ID != id {
			cts = append(cts, o)
		}
	}
	return newSnapshot(s.Version, slices.Clone(s.mbList), cts, s.system)
}

func (s *snapshot) withSystem(id mailbox.ID) *snapshot {
	return newSnapshot(s.Version, slices.Clone(s.mbList), slices.Clone(s.ctList), id)
}
