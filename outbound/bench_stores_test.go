package outbound_test

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
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/correio-dev/correio/internal/pgtest"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/postgres"
	"github.com/correio-dev/correio/store/sqlite"
	"github.com/correio-dev/correio/transport/smtp"
)

// TestHelperSMTPServer is not a test: BenchmarkSendStores runs the test
// binary again with CORREIO_SMTP_SERVER=1 so the SMTP server runs in its
// own process (its CPU is not this process's).
func TestHelperSMTPServer(t *testing.T) {
	if os.Getenv("CORREIO_SMTP_SERVER") != "1" {
		t.Skip("helper process for BenchmarkSendStores")
	}
	srv, err := mailtest.NewSMTPServer(mailtest.SMTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("ADDR", net.JoinHostPort(srv.Host(), strconv.Itoa(srv.Port())))
	_, _ = io.Copy(io.Discard, os.Stdin) // until the benchmark closes stdin
}

func smtpServerProcess(b *testing.B) (host string, port int) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSMTPServer$")
	cmd.Env = append(os.Environ(), "CORREIO_SMTP_SERVER=1")
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
	b.Fatal("SMTP server process printed no address")
	return "", 0
}

func benchOutbox(b *testing.B, kind string, pg *pgtest.Server) (store.Outbox, func()) {
	ctx := context.Background()
	switch kind {
	case "sqlite":
		st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "correio.db"), sqlite.Options{CheckInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		return st.Outbox(), func() { _ = st.Close() }
	case "postgres":
		db, err := pg.CreateDatabase(ctx)
		if err != nil {
			b.Fatal(err)
		}
		st, err := postgres.Open(ctx, pg.DSN(db), postgres.Options{CheckInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		return st.Outbox(), func() { st.Close(); _ = pg.DropDatabase(ctx, db) }
	}
	return memory.NewOutbox(), func() {}
}

const sendConns = 4

// sendEnqueuers is how many goroutines enqueue at once in the parallel case.
const sendEnqueuers = 4

// sendTotal is the messages per iteration: 2,000, or CORREIO_BENCH_MESSAGES
// (a shorter run, go run ./internal/bench -quick).
var sendTotal = func() int {
	if v, _ := strconv.Atoi(os.Getenv("CORREIO_BENCH_MESSAGES")); v > 0 {
		return v
	}
	return 2000
}()

var sendBody = strings.Repeat("The quick brown fox jumps over the lazy dog. 0123456789\r\n", 90) // ~5 KB

// BenchmarkSendStores sends 2,000 messages of about 5 KB per iteration to
// an in-process SMTP server running in a child process (plaintext
// loopback): with raw go-mail over 4 reused connections (4 goroutines), and
// through the Sender (one mailbox, MaxConnections 4, MaxConcurrency 4) with
// each outbox: memory, SQLite (a fresh file) and Postgres (a fresh
// database on a PostgreSQL with fsync and synchronous commit on). The time
// runs from the first Enqueue (each durable when it returns) to the last
// delivered event. Reported: messages per second and the ratio
// store/raw.
//
// Each store runs twice: with one goroutine enqueueing every message in
// turn (k-msgs/s, k-ratio: the serial case, each Enqueue waiting for its
// own commit) and with sendEnqueuers goroutines enqueueing at once, as a
// service desk's request handlers do (k-par-msgs/s, k-par-ratio: on the
// SQL stores concurrent Enqueues share group commits).
//
//	go test -run '^$' -bench SendStores -benchtime 3x ./outbound
func BenchmarkSendStores(b *testing.B) {
	host, port := smtpServerProcess(b)
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
	par := make([]time.Duration, len(kinds))
	var raw time.Duration
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		raw += sendRawReused(b, host, port)
		for i, k := range kinds {
			b.StopTimer()
			ob, closeOutbox := benchOutbox(b, k, pg)
			runtime.GC()
			b.StartTimer()
			totals[i] += sendWith(b, ob, host, port, 1)
			b.StopTimer()
			closeOutbox()
			ob, closeOutbox = benchOutbox(b, k, pg)
			runtime.GC()
			b.StartTimer()
			par[i] += sendWith(b, ob, host, port, sendEnqueuers)
			b.StopTimer()
			closeOutbox()
			b.StartTimer()
		}
	}
	rate := func(d time.Duration) float64 { return float64(sendTotal*b.N) / d.Seconds() }
	b.ReportMetric(rate(raw), "raw-msgs/s")
	for i, k := range kinds {
		b.ReportMetric(rate(totals[i]), k+"-msgs/s")
		b.ReportMetric(raw.Seconds()/totals[i].Seconds(), k+"-ratio")
		b.ReportMetric(rate(par[i]), k+"-par-msgs/s")
		b.ReportMetric(raw.Seconds()/par[i].Seconds(), k+"-par-ratio")
	}
}

// sendWith sends sendTotal messages through a Sender on ob, enqueued by
// enqueuers goroutines (sendTotal/enqueuers each, the rest by the first).
func sendWith(b *testing.B, ob store.Outbox, host string, port int, enqueuers int) time.Duration {
	ctx := context.Background()
	cat := memory.NewCatalog()
	mb := &mailbox.Mailbox{ID: "bench", Description: "bench", Kind: mailbox.Outbound, Enabled: true,
		Outbound: &mailbox.OutboundSettings{
			Server:         mailbox.Server{Host: host, Port: port, Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			From:           mailbox.Identity{Name: "Service Desk", Address: "desk@bench.example.com"},
			Credentials:    mailbox.Credentials{Mechanism: mailbox.AuthNone},
			MaxConnections: sendConns,
		}}
	if err := cat.PutMailbox(ctx, mb); err != nil {
		b.Fatal(err)
	}
	tr := smtp.New(smtp.Options{})
	defer tr.Close()
	var sent atomic.Int64
	done := make(chan struct{})
	s, err := outbound.New(outbound.Options{Outbox: ob, Catalog: cat, MaxConcurrency: sendConns, Transport: tr,
		OnEvent: func(e outbound.Event) {
			if e.Kind == outbound.EventDelivered && sent.Add(1) == int64(sendTotal) {
				close(done)
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Value
	for g := range enqueuers {
		n := sendTotal / enqueuers
		if g == 0 {
			n += sendTotal % enqueuers
		}
		wg.Go(func() {
			for range n {
				if _, err := s.Enqueue(ctx, store.Message{Mailbox: "bench", To: []store.Address{{Address: "a@example.org"}}, Subject: "Request opened", Text: sendBody}); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d sent", sent.Load(), sendTotal)
	}
	d := time.Since(t0)
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_ = s.Stop(sctx)
	return d
}

// sendRawReused sends sendTotal messages with go-mail over sendConns reused
// connections, one goroutine each.
func sendRawReused(b *testing.B, host string, port int) time.Duration {
	t0 := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range sendConns {
		wg.Go(func() {
			c, err := gomail.NewClient(host, gomail.WithPort(port), gomail.WithTLSPolicy(gomail.NoTLS), gomail.WithHELO("bench"))
			if err != nil {
				failed.Add(1)
				return
			}
			if err := c.DialWithContext(context.Background()); err != nil {
				failed.Add(1)
				return
			}
			defer c.Close()
			for range sendTotal / sendConns {
				m := gomail.NewMsg()
				_ = m.From("desk@bench.example.com")
				_ = m.To("a@example.org")
				m.Subject("Request opened")
				m.SetMessageID()
				m.SetDate()
				m.SetGenHeader("Auto-Submitted", "auto-generated")
				m.SetBodyString(gomail.TypeTextPlain, sendBody)
				if err := c.Send(m); err != nil {
					failed.Add(1)
					return
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		b.Fatalf("%d raw senders failed", failed.Load())
	}
	return time.Since(t0)
}
