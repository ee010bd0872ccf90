package inbound

import (
	"strings"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/message"
)

// redact removes the mailbox's password from an error text (transport
// errors never carry it; this guards host handler errors).
func redact(m *mailbox.Mailbox, err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if pw := m.Inbound.Credentials.Password; !pw.IsZero() && len(pw.Reveal()) >= 4 {
		s = strings.ReplaceAll(s, pw.Reveal(), "[REDACTED]")
	}
	return s
}

func (w *worker) ownAddresses() []string {
	out := append([]string(nil), w.p.o.OwnAddresses...)
	w.p.mu.Lock()
	for _, o := range w.p.workers {
		if o.mb.Address != "" {
			out = append(out, o.mb.Address)
		}
	}
	w.p.mu.Unlock()
	return out
}

// flood records the sender and reports whether it exceeded the loop guard.
func (w *worker) flood(m *message.Message) bool {
	if len(m.From) == 0 || m.From[0] == nil {
		return false
	}
	addr := strings.ToLower(m.From[0].Address)
	now := w.p.clk.Now()
	if w.senders == nil {
		w.senders = map[string][]time.Time{}
	}
	cut := now.Add(-w.p.o.LoopGuard.Window)
	ts := w.senders[addr]
	i := 0
	for i < len(ts) && ts[i].Before(cut) {
		i++
	}
	ts = append(ts[i:], now)
	w.senders[addr] = ts
	if len(w.senders) > 10000 { // bound memory: forget quiet senders
		for a, t := range w.senders {
			if len(t) == 0 || t[len(t)-1].Before(cut) {
				delete(w.senders, a)
			}
		}
	}
	return len(ts) > w.p.o.LoopGuard.Max
}
