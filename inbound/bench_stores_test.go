package inbound_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/internal/pgtest"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/postgres"
	"github.com/correio-dev/correio/store/sqlite"
)

// TestHelperIngestServer is not a test: BenchmarkIngestStores runs the test
// binary again with CORREIO_INGEST_SERVER=n so the IMAP server holding n
// sample messages runs in its own process (its CPU is not this process's).
func TestHelperIngestServer(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("CORREIO_INGEST_SERVER"))
	if n <= 0 {
		t.Skip("helper process for BenchmarkIngestStores")
	}
	srv, err := mailtest.NewIMAPServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.AddUser("support", "pw-support")
	for i := range n {
		srv.Append("support", "INBOX", sample(i))
	}
	fmt.Println("ADDR", srv.Addr)
	_, _ = io.Copy(io.Discard, os.Stdin) // until the benchmark closes stdin
}

func ingestServerProcess(b *testing.B, n int) (host string, port int) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperIngestServer$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("CORREIO_INGEST_SERVER=%d", n))
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "ADDR" {
			h, p, _ := net.SplitHostPort(f[1])
			port, _ = strconv.Atoi(p)
			return h, port
		}
	}
	b.Fatal("ingest server process printed no address")
	return "", 0
}

// benchStore opens a fresh inbound store of kind ("memory", "sqlite",
// "postgres") and returns it with its closer.
func benchStore(b *testing.B, kind string, pg *pgtest.Server) (store.Inbound, func()) {
	ctx := context.Background()
	switch kind {
	case "sqlite":
		st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "correio.db"), sqlite.Options{CheckInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		return st.Inbound(), func() { _ = st.Close() }
	case "postgres":
		db, err := pg.CreateDatabase(ctx)
		if err != nil {
			b.Fatal(err)
		}
		st, err := postgres.Open(ctx, pg.DSN(db), postgres.Options{CheckInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		return st.Inbound(), func() { st.Close(); _ = pg.DropDatabase(ctx, db) }
	}
	return memory.NewInboundStore(), func() {}
}

// BenchmarkIngestStores reads 2,000 messages (CORREIO_BENCH_MESSAGES) of about 5.6 KB from an
// in-process IMAP server running in a child process: with raw go-imap +
// go-message, and through the Poller (keep, full pipeline) with each store:
// memory, SQLite (a fresh file) and Postgres (a fresh database on a
// PostgreSQL with fsync and synchronous commit on). The variants run
// interleaved in each iteration. Reported: messages per second of each,
// the ratio store/raw and the CPU time of this process (not the server's)
// per message of each (getrusage; a busy machine changes it less than the
// wall-clock rates).
//
//	go test -run '^$' -bench IngestStores -benchtime 3x ./inbound
func BenchmarkIngestStores(b *testing.B) {
	n := ingestN
	if v, _ := strconv.Atoi(os.Getenv("CORREIO_BENCH_MESSAGES")); v > 0 {
		n = v // a shorter run (go run ./internal/bench -quick)
	}
	host, port := ingestServerProcess(b, n)
	kinds := []string{"memory", "sqlite", "postgres"}
	if os.Getenv("CORREIO_BENCH_STORES") != "" {
		kinds = strings.Split(os.Getenv("CORREIO_BENCH_STORES"), ",")
	}
	var pg *pgtest.Server
	for _, k := range kinds {
		if k == "postgres" {
			pg = pgtest.Durable(b)
		}
	}
	totals := make([]time.Duration, len(kinds))
	cpus := make([]time.Duration, len(kinds))
	var raw, rawCPU time.Duration
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		c0 := cpuTime()
		raw += ingestRawAt(b, net.JoinHostPort(host, strconv.Itoa(port)), n)
		rawCPU += cpuTime() - c0
		for i, k := range kinds {
			b.StopTimer()
			st, closeStore := benchStore(b, k, pg)
			runtime.GC()
			b.StartTimer()
			c0 := cpuTime()
			totals[i] += ingestWith(b, st, host, port, n)
			cpus[i] += cpuTime() - c0
			b.StopTimer()
			closeStore()
			b.StartTimer()
		}
	}
	rate := func(d time.Duration) float64 { return float64(n*b.N) / d.Seconds() }
	perMsg := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n*b.N) }
	b.ReportMetric(rate(raw), "raw-msgs/s")
	b.ReportMetric(perMsg(rawCPU), "raw-cpu-µs/msg")
	for i, k := range kinds {
		b.ReportMetric(rate(totals[i]), k+"-msgs/s")
		b.ReportMetric(raw.Seconds()/totals[i].Seconds(), k+"-ratio")
		b.ReportMetric(perMsg(cpus[i]), k+"-cpu-µs/msg")
	}
}

// ingestWith runs a Poller over st until the want messages of the server
// at host:port were handed off; it returns the time from Run.
func ingestWith(b *testing.B, st store.Inbound, host string, port, want int) time.Duration {
	var n atomic.Int64
	done := make(chan struct{})
	cat := memory.NewCatalog()
	p, err := inbound.New(inbound.Options{Catalog: cat, Store: st,
		Handler: inbound.HandlerFunc(func(_ context.Context, d *inbound.Delivery) error {
			if n.Add(1) == int64(want) {
				close(done)
			}
			return nil
		}),
	})
	if err != nil {
		b.Fatal(err)
	}
	m := mb("support", "support", host, port)
	m.Inbound.PostAction = mailbox.PostKeep
	putMailbox(b, cat, m)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	t0 := time.Now()
	go func() { _ = p.Run(ctx); close(stopped) }()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d hand-offs", n.Load(), want)
	}
	d := time.Since(t0)
	cancel()
	<-stopped
	return d
}

// ingestRawAt is ingestRaw against a server at addr holding want messages.
func ingestRawAt(b *testing.B, addr string, want int) time.Duration {
	t0 := time.Now()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("support", "pw-support").Wait(); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	var set imap.UIDSet
	set.AddRange(1, 0)
	cmd := c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	got := 0
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		for item := msg.Next(); item != nil; item = msg.Next() {
			if body, ok := item.(imapclient.FetchItemDataBodySection); ok {
				rawParse(b, body.Literal)
				got++
			}
		}
	}
	if err := cmd.Close(); err != nil || got != want {
		b.Fatalf("raw fetch: %d %v", got, err)
	}
	d := time.Since(t0)
	_ = c.Logout().Wait()
	return d
}
