// Package resttest holds what the tests of the REST transports
// (transport/graph, transport/gmail) share: the inbound engine run over a
// Source with a host handler that counts what it was handed, and the
// sender suite's environment for an API without an SMTP envelope.
package resttest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/inbound"
)

// Handed counts the messages the engine handed to the host, by
// Message-ID. The zero Handed is ready; safe for concurrent use.
type Handed struct {
	mu sync.Mutex
	m  map[string]int
}

// Handler is the host's handler: it records each delivery's Message-ID.
func (h *Handed) Handler() inbound.Handler {
	return inbound.HandlerFunc(func(_ context.Context, d *inbound.Delivery) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.m == nil {
			h.m = map[string]int{}
		}
		h.m[d.Message.MessageID]++
		return nil
	})
}

// Count returns the hand-offs so far and whether a message was handed
// more than once.
func (h *Handed) Count() (n int, twice bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.m {
		n += c
		twice = twice || c > 1
	}
	return n, twice
}

// Messages returns how many distinct messages were handed.
func (h *Handed) Messages() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.m)
}

// String lists the Message-IDs with their counts.
func (h *Handed) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return fmt.Sprint(h.m)
}

// Start runs an engine of opts, its Handler h's, and returns what stops
// it and waits for it to end.
func Start(t testing.TB, opts inbound.Options, h *Handed) (stop func()) {
	t.Helper()
	opts.Handler = h.Handler()
	p, err := inbound.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	return func() { cancel(); <-done }
}

// RunUntil runs an engine of opts (see Start) until until holds, polled
// every 20 ms; after timeout (a generous bound, never a speed assertion)
// the test fails with what was handed.
func RunUntil(t testing.TB, opts inbound.Options, h *Handed, timeout time.Duration, until func() bool) {
	t.Helper()
	stop := Start(t, opts, h)
	defer stop()
	deadline := time.Now().Add(timeout)
	for !until() {
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("timed out; handed %v", h)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
