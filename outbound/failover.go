package outbound

import (
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/routing"
	"github.com/correio-dev/correio/store"
)

// failover moves the records routed to a contract's mailbox to the system
// mailbox and returns the others (still claimed).
func (s *Sender) failover(recs []*store.OutboxRecord, token string, st *boxState, from *mailbox.Mailbox) []*store.OutboxRecord {
	sysID, ok := s.o.Catalog.SystemMailbox()
	if !ok || sysID == from.ID {
		return recs
	}
	sys, ok := s.o.Catalog.Mailbox(sysID)
	if !ok || sys.Outbound == nil || !sys.Enabled {
		return recs
	}
	s.mu.Lock()
	since := st.downSince
	s.mu.Unlock()
	var rest []*store.OutboxRecord
	for _, r := range recs {
		if r.Rule != routing.RuleContract {
			rest = append(rest, r)
			continue
		}
		d := routing.Decision{Mailbox: sys, Rule: routing.RuleFailover, Contract: r.Contract}
		r.Mailbox = sys.ID
		r.MessageID = newMessageID(sys.Outbound.From.Address)
		r.Rule = routing.RuleFailover
		r.DecisionReason = d.Reason()
		r.NextAttempt = s.clk.Now()
		s.update(r, token)
		s.emit(Event{Kind: EventRerouted, ID: r.ID, MessageID: r.MessageID, Mailbox: r.Mailbox, Attempt: r.Attempts,
			Reason: "mailbox " + string(from.ID) + " failing since " + since.Format(time.RFC3339), Rule: r.Rule, Decision: r.DecisionReason})
	}
	return rest
}
