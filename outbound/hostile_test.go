package outbound_test

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/transport/smtp"
)

// TestHostileSMTPServerIsBounded: a mailbox whose server answers with a
// reply line without end fails with class protocol and the bound in its
// health, the heap grows by far less than 64 MiB, and a mailbox on a good
// server in the same Sender delivers everything.
func TestHostileSMTPServerIsBounded(t *testing.T) {
	bad, err := mailtest.NewHostileSMTP(mailtest.EndlessReplyLine, 200<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bad.Close() })
	good := startServer(t, mailtest.SMTPOptions{})
	hostile := outboundBox("bad", good)
	hostile.Outbound.Server.Host, hostile.Outbound.Server.Port = bad.Host(), bad.Port()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	h := newHarness(t, outbound.Options{}, smtp.Options{}, hostile, outboundBox("good", good))
	id := h.enqueue(simple("bad", "a@example.org"))
	for range 5 {
		h.enqueue(simple("good", "b@example.org"))
	}
	wait(t, good, 5)
	h.next(outbound.EventDeferred)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	hh, err := h.s.Health(context.Background(), "bad")
	if err != nil {
		t.Fatal(err)
	}
	if hh.State != engine.StateRetrying && hh.State != engine.StateDown {
		t.Errorf("state %s", hh.State)
	}
	if !strings.Contains(hh.LastError, "protocol") || !strings.Contains(hh.LastError, "over the bound of 1048576 bytes") {
		t.Errorf("last error %q", hh.LastError)
	}
	if r := h.record(id); r.State != store.Queued || r.Attempts != 1 {
		t.Errorf("record %+v", r)
	}
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap growth %.1f MiB; the server streamed %.1f MiB; %s", float64(growth)/(1<<20), float64(bad.Streamed())/(1<<20), hh.LastError)
	if growth > 64<<20 {
		t.Fatalf("heap grew by %d bytes", growth)
	}
}
