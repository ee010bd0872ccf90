package inbound

import (
	"context"
	"time"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/mailbox"
)

// watchBudget marks the mailboxes not checked within their bound over
// budget. It ticks on the real clock and compares deadlines with the
// Poller's clock, so a fake clock's timers stay the tests' own.
func (p *Poller) watchBudget(ctx context.Context) {
	defer p.watchWG.Done()
	t := time.NewTicker(min(max(p.o.MaxCheckDelay/4, 10*time.Millisecond), time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.checkBudget()
	}
}

// checkBudget sets engine.StateOverBudget on every mailbox waiting for a
// check (starting, queued, connecting, or waiting for its turn) past its
// deadline, with an event and a log line, once per deadline (the state
// stays over budget until the mailbox is checked). It scans the records
// only when the earliest deadline (p.nextDue) has passed, so an idle
// Poller (push sessions: bounds 25 min away) costs nothing per tick.
func (p *Poller) checkBudget() {
	now := p.clk.Now()
	type late struct {
		id        mailbox.ID
		mode      engine.Mode
		last, due time.Time
		prev      engine.State
	}
	var lates []late
	p.hmu.Lock()
	if p.nextDue.IsZero() || !now.After(p.nextDue) {
		p.hmu.Unlock()
		return
	}
	var next time.Time
	for id, e := range p.health {
		if e.deadline.IsZero() || e.late {
			continue
		}
		if now.After(e.deadline) {
			switch e.h.State {
			case engine.StateStarting, engine.StateQueued, engine.StateConnecting, engine.StateWaiting:
				e.late = true
				lates = append(lates, late{id: id, mode: e.h.Mode, last: e.h.LastCheck, due: e.deadline, prev: e.h.State})
				e.h.Hint = engine.StateOverBudget.Hint()
				p.setLocked(&e.h, engine.StateOverBudget, "not checked within its bound: the connection budget cannot keep up")
				continue
			}
		}
		// Still to come, or past while the mailbox is busy (fetching):
		// looked at again on a later tick.
		if next.IsZero() || e.deadline.Before(next) {
			next = e.deadline
		}
	}
	p.nextDue = next
	p.hmu.Unlock()
	for _, l := range lates {
		p.log.Warn("inbound: mailbox not checked within its bound (raise MaxConnections/MaxConnectionsPerHost, lengthen PollInterval, or add replicas)",
			"mailbox", string(l.id), "mode", string(l.mode), "state", string(l.prev), "last_check", l.last, "deadline", l.due)
	}
	p.flushEvents()
}
