package inbound_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport/imap"
)

// sampler records the peak heap and the peak spool directory size while a
// test runs.
type sampler struct {
	dir       string
	base      uint64
	stop      chan struct{}
	done      chan struct{}
	mu        sync.Mutex
	peakHeap  uint64
	peakSpool int64
}

func newSampler(dir string) *sampler {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := &sampler{dir: dir, base: ms.HeapAlloc, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			var spool int64
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if fi, err := e.Info(); err == nil {
					spool += fi.Size()
				}
			}
			s.mu.Lock()
			s.peakHeap = max(s.peakHeap, ms.HeapAlloc)
			s.peakSpool = max(s.peakSpool, spool)
			s.mu.Unlock()
		}
	}()
	return s
}

// finish stops sampling and returns the peak heap growth and spool size.
func (s *sampler) finish() (heapGrowth uint64, spool int64) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peakHeap > s.base {
		heapGrowth = s.peakHeap - s.base
	}
	return heapGrowth, s.peakSpool
}

// hostileTimeout bounds each IMAP command in the hostile-server tests; no
// test waits on it.
const hostileTimeout = time.Minute

// TestHostileIMAPServersAreBounded runs a Poller with one mailbox on a
// hostile server (each fault of mailtest.HostileIMAP) and one on a good
// server: the hostile one fails with class protocol and a clear reason (or
// its message is quarantined when the message is the cause), the process
// heap grows by less than 64 MiB and the spool by less than MaxMessageSize,
// and the good mailbox gets all its mail meanwhile.
func TestHostileIMAPServersAreBounded(t *testing.T) {
	const heapBound = 64 << 20
	const maxMsg = 1 << 20
	for _, tc := range []struct {
		name       string
		fault      mailtest.HostileIMAPFault
		quarantine bool
		reason     string
	}{
		{"endless unsolicited BODY[] literal on the listing", mailtest.EndlessListingLiteral, false, "literal of 1099511627776 bytes, over the bound of 65536"},
		{"BODY[] literal far larger than the listed size", mailtest.OversizeBody, true, "literal of 1099511627776 bytes, over the bound of 66786 bytes"},
		{"greeting line without CRLF", mailtest.EndlessGreeting, false, "line over the bound of 1048576"},
		{"flood of untagged FETCH responses", mailtest.ResponseFlood, false, "responses of 10002, over the bound of 10001"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hostile, err := mailtest.NewHostileIMAP(mailtest.HostileIMAPOptions{Fault: tc.fault, ListedSize: 1000, StreamLimit: 200 << 20})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { hostile.Close() })
			good := newServer(t)
			good.AddUser("good", "pw-good")
			for i := range 5 {
				if _, err := good.Append("good", "INBOX", rawMsg("good", i), nil...); err != nil {
					t.Fatal(err)
				}
			}
			spoolDir := t.TempDir()
			smp := newSampler(spoolDir)
			st := memory.NewInboundStore()
			rec := newRecorder()
			o := fastOptions(st, rec)
			// The bounds under test, not the command timeout, end each
			// hostile session; a timeout would replace the bound's reason
			// with its own (a flood of 10002 FETCH lines parsed under -race
			// on a loaded machine can take seconds), so it is long.
			o.IMAP = &imap.Config{Timeout: hostileTimeout, SpoolDir: spoolDir, SpoolMemory: 4 << 10}
			h := mb("h", "hostile", hostile.Host(), hostile.Port())
			h.Inbound.MaxMessageSize = maxMsg
			h.Inbound.PollInterval = 20 * time.Millisecond
			g := mb("g", "good", good.Host(), good.Port())
			g.Inbound.PollInterval = 20 * time.Millisecond
			r := start(t, o, h, g)

			health := func() engine.Health {
				hh, err := r.p.Health(context.Background(), "h")
				if err != nil {
					t.Fatal(err)
				}
				return hh
			}
			var failed engine.Health
			if tc.quarantine {
				eventually(t, "the oversized message quarantined", func() bool { return len(st.Quarantined("h")) == 1 })
			} else {
				// A session that connects resets the failure count; the
				// connections count the attempts.
				eventually(t, "three failed sessions of the hostile mailbox", func() bool {
					failed = health()
					return hostile.Connections() >= 3 && failed.LastError != "" && failed.State.Failing()
				})
			}
			// The good mailbox goes on while the hostile one misbehaves.
			for i := 5; i < 10; i++ {
				if _, err := good.Append("good", "INBOX", rawMsg("good", i), nil...); err != nil {
					t.Fatal(err)
				}
			}
			eventually(t, "the good mailbox's ten messages", func() bool { return rec.count("g") == 10 })
			if tc.quarantine {
				// Polled again and again on the same or new sessions, it is
				// never fetched again.
				time.Sleep(300 * time.Millisecond)
			}
			growth, spool := smp.finish()
			t.Logf("%s: heap growth peak %.1f MiB, spool peak %d bytes, server streamed %.1f MiB over %d connections",
				tc.name, float64(growth)/(1<<20), spool, float64(hostile.Streamed())/(1<<20), hostile.Connections())
			if growth > heapBound {
				t.Errorf("heap grew by %d bytes, over %d", growth, heapBound)
			}
			if spool > maxMsg+64<<10 {
				t.Errorf("spool reached %d bytes, over MaxMessageSize %d + 64 KiB", spool, maxMsg)
			}
			if rec.count("h") != 0 {
				t.Errorf("the hostile mailbox handed off %d messages", rec.count("h"))
			}
			if tc.quarantine {
				q := st.Quarantined("h")
				if len(q) != 1 || q[0].UID != 1 || !strings.Contains(q[0].Reason, "refused unread") || !strings.Contains(q[0].Reason, tc.reason) {
					t.Fatalf("quarantined %+v", q)
				}
				if n := hostile.BodyFetches(); n != 1 {
					t.Errorf("the quarantined message was fetched %d times", n)
				}
				if hh := health(); hh.Quarantined != 1 {
					t.Errorf("health %+v", hh)
				}
				return
			}
			if failed.State != engine.StateRetrying && failed.State != engine.StateDown {
				t.Errorf("state %s", failed.State)
			}
			if !strings.Contains(failed.LastError, "protocol") || !strings.Contains(failed.LastError, tc.reason) {
				t.Errorf("last error %q, want class protocol and %q", failed.LastError, tc.reason)
			}
			if len(st.Quarantined("h")) != 0 {
				t.Errorf("quarantined %+v: the message is not the cause", st.Quarantined("h"))
			}
			if n, _ := filepath.Glob(filepath.Join(spoolDir, "*")); len(n) != 0 {
				t.Errorf("spool files left: %v", n)
			}
		})
	}
}

// TestMaxListDeliversEverything: with the listing bounded (imap MaxList),
// a folder larger than the bound is delivered in rounds without waiting
// for the poll interval.
func TestMaxListDeliversEverything(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("big", "pw-big")
	for i := range 10 {
		if _, err := srv.Append("big", "INBOX", rawMsg("big", i), nil...); err != nil {
			t.Fatal(err)
		}
	}
	st := memory.NewInboundStore()
	rec := newRecorder()
	o := fastOptions(st, rec)
	o.IMAP = &imap.Config{Timeout: 5 * time.Second, MaxList: 4}
	m := mb("big", "big", srv.Host(), srv.Port())
	m.Inbound.PollInterval = time.Hour
	start(t, o, m)
	eventually(t, "ten messages", func() bool { return rec.count("big") == 10 })
	if d := rec.dupes(); len(d) != 0 {
		t.Fatalf("dupes %v", d)
	}
}
