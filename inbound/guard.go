package inbound

import (
	"strings"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/message"
	"github.com/correio-dev/correio/transport"
)

// redact removes the mailbox's password from an error text (transport
// errors never carry it; this guards host handler errors).
func redact(m *mailbox.Mailbox, err error) string {
	if err == nil {
		return ""
	}
	cr := m.Inbound.Credentials
	// The transports' redactor: the password in every form a server or a
	// handler may quote it (plain, quoted, base64 AUTH blobs).
	return transport.NewRedactor(cr.Username, cr.Password).Redact(err.Error())
}

func normAddr(a string) string { return strings.ToLower(strings.TrimSpace(a)) }

// addOwn counts one more (d = 1) or one less (d = -1) user of an address
// of ours. The set is kept up to date as mailboxes come and go, so a
// connect or a message costs a map lookup, whatever the mailbox count.
func (p *Poller) addOwn(addr string, d int) {
	a := normAddr(addr)
	if a == "" {
		return
	}
	p.ownMu.Lock()
	defer p.ownMu.Unlock()
	if n := p.own[a] + d; n > 0 {
		p.own[a] = n
	} else {
		delete(p.own, a)
	}
}

// ownFrom returns the author addresses of m (From and Sender) that are
// ours: what message.Classify needs to flag the loop, without handing it
// every address we have.
func (p *Poller) ownFrom(m *message.Message) []string {
	p.ownMu.RLock()
	defer p.ownMu.RUnlock()
	var out []string
	check := func(a string) {
		if a = normAddr(a); a != "" && p.own[a] > 0 {
			out = append(out, a)
		}
	}
	for _, a := range m.From {
		if a != nil {
			check(a.Address)
		}
	}
	if m.Sender != nil {
		check(m.Sender.Address)
	}
	return out
}

// senderLog is the loop guard's memory: one event per message in arrival
// order and a count per sender within the window. Every event is added
// once and expired once, so the cost per message is constant (amortised)
// however many senders there are.
type senderLog struct {
	events []senderEvent
	head   int
	counts map[string]int
}

type senderEvent struct {
	addr string
	at   time.Time
}

// flood records the sender and reports whether it exceeded the loop guard.
func (w *worker) flood(m *message.Message) bool {
	if len(m.From) == 0 || m.From[0] == nil {
		return false
	}
	addr := strings.ToLower(m.From[0].Address)
	now := w.p.clk.Now()
	return w.senders.add(addr, now, now.Add(-w.p.o.LoopGuard.Window)) > w.p.o.LoopGuard.Max
}

// add expires the events before cut, records addr at now and returns
// addr's count within the window.
func (l *senderLog) add(addr string, now, cut time.Time) int {
	if l.counts == nil {
		l.counts = map[string]int{}
	}
	for l.head < len(l.events) && l.events[l.head].at.Before(cut) {
		e := l.events[l.head]
		l.events[l.head] = senderEvent{}
		l.head++
		if n := l.counts[e.addr] - 1; n > 0 {
			l.counts[e.addr] = n
		} else {
			delete(l.counts, e.addr)
		}
	}
	if l.head > 64 && l.head*2 > len(l.events) { // compact: amortised O(1)
		l.events = append(l.events[:0], l.events[l.head:]...)
		l.head = 0
	}
	l.events = append(l.events, senderEvent{addr: addr, at: now})
	l.counts[addr]++
	return l.counts[addr]
}
