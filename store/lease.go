package store

import (
	"time"

	"github.com/correio-dev/correio/mailbox"
)

// MailboxLease is one replica's right to run one mailbox: Token is its
// fencing token (larger for every acquisition, unchanged by renewals).
type MailboxLease struct {
	Mailbox mailbox.ID
	Token   int64
}

// LeaseRound is what one lease round of a replica returns (a coordination
// backend such as store/postgres.Leases.Round computes it; package replica
// uses it).
type LeaseRound struct {
	// Held are the replica's leases after the round, renewed or newly
	// claimed, sorted by mailbox. The round never takes a lease away from
	// the replica: the leases beyond Share stay held until the replica
	// releases them, once it stopped their sessions.
	Held []MailboxLease
	// Members is the number of live replicas (heartbeat within the TTL),
	// the replica itself included.
	Members int
	// Share is the replica's fair share: ceil(mailboxes / Members).
	Share int
	// Expiring, when positive, is how long until the next lease of a
	// replica whose heartbeat stopped expires: the moment to run the next
	// round to take it over.
	Expiring time.Duration
}
