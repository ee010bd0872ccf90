package inbound_test

// Benchmarks (not run by `go test` without -bench). Figures are in
// BENCHMARKS.md at the repository root, with the command to reproduce them.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	gomessage "github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset"

	"github.com/correio-dev/correio/engine"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/message"
	"github.com/correio-dev/correio/store/memory"
	imapt "github.com/correio-dev/correio/transport/imap"
)

// sample returns a ~5.6 KB multipart message: an iso-8859-1
// quoted-printable text part and one base64 attachment.
func sample(i int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: =?iso-8859-1?q?Jos=E9_Gon=E7alves?= <jose%d@example.com>\r\nTo: support@helpdesk.example\r\n", i%50)
	fmt.Fprintf(&b, "Subject: =?iso-8859-1?q?Impressora_n=E3o_funciona_n=BA_%d?=\r\nMessage-ID: <bench-%d@example.com>\r\n", i, i)
	b.WriteString("Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n")
	b.WriteString("--b1\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	for range 28 {
		b.WriteString("Ol=E1, a impressora do escrit=F3rio n=E3o imprime desde ontem. Obrigado!\r\n")
	}
	b.WriteString("\r\n--b1\r\nContent-Type: application/pdf; name=\"relat=F3rio.pdf\"\r\nContent-Disposition: attachment; filename*=iso-8859-1''relat%F3rio.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	att := bytes.Repeat([]byte{0x25, 0x50, 0x44, 0x46, 0x2d, 0x31, 0x2e, 0x34, byte(i)}, 300)
	enc := base64.StdEncoding.EncodeToString(att)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--b1--\r\n")
	return b.Bytes()
}

func benchServer(b *testing.B, user string, n int) *mailtest.IMAPServer {
	srv, err := mailtest.NewIMAPServer(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	srv.AddUser(user, "pw-"+user)
	for i := range n {
		srv.Append(user, "INBOX", sample(i))
	}
	return srv
}

const ingestN = 2000

// ingestPoller runs the Poller over a fresh server of ingestN messages
// and returns the time from Run to the last hand-off.
func ingestPoller(b *testing.B, post mailbox.PostAction, noClassify bool) time.Duration {
	if noClassify {
		defer inbound.SetClassify(func(*message.Message, message.ClassifyOptions) message.Classification {
			return message.Classification{AutoAnswerAllowed: true}
		})()
	}
	srv := benchServer(b, "support", ingestN)
	defer srv.Close()
	m := mb("support", "support", srv.Host(), srv.Port())
	m.Inbound.PostAction = post
	var n atomic.Int64
	done := make(chan struct{})
	cat := memory.NewCatalog()
	p, _ := inbound.New(inbound.Options{Catalog: cat,
		Store: memory.NewInboundStore(),
		Handler: inbound.HandlerFunc(func(_ context.Context, d *inbound.Delivery) error {
			if n.Add(1) == ingestN {
				close(done)
			}
			return nil
		}),
	})
	putMailbox(b, cat, m)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t0 := time.Now()
	go p.Run(ctx)
	<-done
	return time.Since(t0)
}

// ingestRaw is the baseline: go-imap's client, one bulk UID FETCH
// BODY.PEEK[] streamed into go-message.
func ingestRaw(b *testing.B) time.Duration {
	srv := benchServer(b, "support", ingestN)
	defer srv.Close()
	t0 := time.Now()
	c, err := imapclient.DialInsecure(srv.Addr, nil)
	if err != nil {
		b.Fatal(err)
	}
	c.Login("support", "pw-support").Wait()
	c.Select("INBOX", nil).Wait()
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
	if err := cmd.Close(); err != nil || got != ingestN {
		b.Fatalf("raw fetch: %d %v", got, err)
	}
	d := time.Since(t0)
	c.Logout().Wait()
	return d
}

// BenchmarkIngest hands 2,000 messages of about 5.6 KB (multipart,
// iso-8859-1, one attachment) off through the Poller with a no-op handler
// and the memory store, and in the same iteration fetches them with raw
// go-imap + go-message; the variants run interleaved so machine noise hits
// them alike. Reported: messages per second of each variant and the ratio
// poller/raw. "noclassify" replaces message.Classify by a constant to show
// the engine's own cost.
func BenchmarkIngest(b *testing.B) {
	if len(sample(1)) < 5000 || len(sample(1)) > 6500 {
		b.Fatalf("sample is %d bytes", len(sample(1)))
	}
	type variant struct {
		name       string
		post       mailbox.PostAction
		noClassify bool
		total      time.Duration
	}
	vs := []*variant{{name: "keep-noclassify", post: mailbox.PostKeep, noClassify: true}, {name: "seen-noclassify", post: mailbox.PostSeen, noClassify: true},
		{name: "keep", post: mailbox.PostKeep}, {name: "seen", post: mailbox.PostSeen}}
	var raw time.Duration
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		raw += ingestRaw(b)
		for _, v := range vs {
			runtime.GC()
			v.total += ingestPoller(b, v.post, v.noClassify)
		}
	}
	rate := func(d time.Duration) float64 { return float64(ingestN*b.N) / d.Seconds() }
	b.ReportMetric(rate(raw), "raw-msgs/s")
	for _, v := range vs {
		b.ReportMetric(rate(v.total), v.name+"-msgs/s")
		b.ReportMetric(raw.Seconds()/v.total.Seconds(), v.name+"-ratio")
	}
}

// rawParse reads a message with go-message as is: headers decoded, every
// part's body decoded and read.
func rawParse(b *testing.B, r io.Reader) {
	e, err := gomessage.Read(r)
	if err != nil && !gomessage.IsUnknownCharset(err) {
		b.Fatal(err)
	}
	_, _, _ = e.Header.ContentType()
	_ = e.Header.Get("Subject")
	if mr := e.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			io.Copy(io.Discard, p.Body)
		}
		return
	}
	io.Copy(io.Discard, e.Body)
}

func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIdleMailboxes keeps 1,000 mailboxes in IDLE on one server (in a
// helper process, so only the poller's side is measured) and reports
// goroutines and heap per mailbox and the CPU of an idle minute.
func BenchmarkIdleMailboxes(b *testing.B) {
	const n = 1000
	for range b.N {
		host, port, stopServer := serverProcess(b, fmt.Sprintf("CORREIO_USERS=%d", n))
		var mbs []*mailbox.Mailbox
		for i := range n {
			u := fmt.Sprintf("u%04d", i)
			mbs = append(mbs, mb(u, u, host, port))
		}
		g0, h0 := runtime.NumGoroutine(), heapInuse()
		cat := memory.NewCatalog()
		p, _ := inbound.New(inbound.Options{Catalog: cat, Store: memory.NewInboundStore(), Handler: newRecorder(), MaxConnectionsPerHost: n})
		for _, m := range mbs {
			putMailbox(b, cat, m)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		t0 := time.Now()
		go func() { p.Run(ctx); close(done) }()
		for {
			idle := 0
			for _, h := range mustHealthAll(b, p) {
				if h.State == engine.StateWaiting && h.Push {
					idle++
				}
			}
			if idle == n {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		b.ReportMetric(time.Since(t0).Seconds(), "startup-s")
		g1, h1 := runtime.NumGoroutine(), heapInuse()
		c0 := cpuTime()
		time.Sleep(5 * time.Second)
		cpu := cpuTime() - c0
		b.ReportMetric(float64(g1-g0)/n, "goroutines/mailbox")
		b.ReportMetric(float64(h1-h0)/n/1024, "heapKB/mailbox")
		b.ReportMetric(float64(cpu.Milliseconds())*12, "cpu-ms/min")
		cancel()
		<-done
		stopServer()
	}
}

// BenchmarkAppendToHandoff measures the time from APPEND on the server to
// the handler call, with the mailbox in IDLE.
func BenchmarkAppendToHandoff(b *testing.B) {
	srv := benchServer(b, "support", 0)
	got := make(chan struct{}, 1)
	cat := memory.NewCatalog()
	p, _ := inbound.New(inbound.Options{Catalog: cat, Store: memory.NewInboundStore(), Handler: inbound.HandlerFunc(func(context.Context, *inbound.Delivery) error {
		got <- struct{}{}
		return nil
	})})
	putMailbox(b, cat, mb("support", "support", srv.Host(), srv.Port()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	waitIdle := func() {
		for {
			if h, _ := p.Health(context.Background(), "support"); h.State == engine.StateWaiting && h.Push {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	var worst time.Duration
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		waitIdle()
		time.Sleep(2 * time.Millisecond) // let the session enter IDLE on the server
		b.StartTimer()
		t0 := time.Now()
		srv.Append("support", "INBOX", sample(i))
		<-got
		worst = max(worst, time.Since(t0))
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
}

func bigMessage() []byte {
	var big bytes.Buffer
	big.WriteString("From: a@example.com\r\nSubject: big\r\nMessage-ID: <big@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	line := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 3)[:76] + "\r\n"
	for big.Len() < 50<<20 {
		big.WriteString(line)
	}
	big.WriteString("--b--\r\n")
	return big.Bytes()
}

// TestHelperBigServer is not a test: BenchmarkLargeMessage runs the test
// binary again with CORREIO_BIG_SERVER=1 so the IMAP server holding the
// 50 MB message lives in another process and its copies do not count in
// the measured heap.
func TestHelperBigServer(t *testing.T) {
	if os.Getenv("CORREIO_BIG_SERVER") != "1" {
		t.Skip("helper process for BenchmarkLargeMessage")
	}
	raiseFiles()
	srv, err := mailtest.NewIMAPServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(os.Getenv("CORREIO_USERS")); n > 0 {
		for i := range n {
			u := fmt.Sprintf("u%04d", i)
			srv.AddUser(u, "pw-"+u)
			if os.Getenv("CORREIO_APPEND") == "1" {
				srv.Append(u, "INBOX", sample(i))
			}
		}
	} else {
		srv.AddUser("support", "pw-support")
		srv.Append("support", "INBOX", bigMessage())
	}
	fmt.Println("ADDR", srv.Addr)
	// Until the benchmark closes stdin: "APPEND user" appends a sample
	// message to user's INBOX and answers "APPENDED".
	sc := bufio.NewScanner(os.Stdin)
	for i := 0; sc.Scan(); i++ {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "APPEND" {
			if _, err := srv.Append(f[1], "INBOX", rawMsg(f[1], i)); err != nil {
				fmt.Println("ERR", err)
				continue
			}
			fmt.Println("APPENDED")
		}
	}
}

// serverProcess starts the helper server process; stop closes it.
func serverProcess(b *testing.B, env ...string) (host string, port int, stop func()) {
	sp := startServerProcess(b, env...)
	return sp.host, sp.port, sp.stop
}

// helperServer is the helper server process.
type helperServer struct {
	host  string
	port  int
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

func startServerProcess(b *testing.B, env ...string) *helperServer {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBigServer$")
	cmd.Env = append(append(os.Environ(), "CORREIO_BIG_SERVER=1"), env...)
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var addr string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "ADDR" {
			addr = f[1]
			break
		}
	}
	if addr == "" {
		cmd.Wait()
		b.Fatal("the helper server process did not start")
	}
	host, portS, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portS)
	return &helperServer{host: host, port: port, cmd: cmd, stdin: stdin, out: sc}
}

// append appends a message to user's INBOX in the helper process and
// returns once it was stored.
func (h *helperServer) append(b *testing.B, user string) {
	if _, err := fmt.Fprintf(h.stdin, "APPEND %s\n", user); err != nil {
		b.Fatal(err)
	}
	for h.out.Scan() {
		switch t := h.out.Text(); {
		case t == "APPENDED":
			return
		case strings.HasPrefix(t, "ERR"):
			b.Fatal(t)
		}
	}
	b.Fatal("the helper server process ended")
}

func (h *helperServer) stop() { h.stdin.Close(); h.cmd.Wait() }

// BenchmarkLargeMessage ingests one 50 MB message (served by another
// process) and reports the peak heap growth of this process.
func BenchmarkLargeMessage(b *testing.B) {
	for range b.N {
		b.StopTimer()
		host, port, stopServer := serverProcess(b)
		done := make(chan int64, 1)
		cat := memory.NewCatalog()
		p, _ := inbound.New(inbound.Options{Catalog: cat, Store: memory.NewInboundStore(),
			IMAP: &imapt.Config{SpoolDir: b.TempDir()},
			Handler: inbound.HandlerFunc(func(_ context.Context, d *inbound.Delivery) error {
				var n int64
				for _, pt := range d.Message.Parts {
					rc, err := pt.Open()
					if err != nil {
						return err
					}
					k, _ := io.Copy(io.Discard, rc)
					rc.Close()
					n += k
				}
				done <- n
				return nil
			})})
		m := mb("support", "support", host, port)
		m.Inbound.MaxMessageSize = 60 << 20
		putMailbox(b, cat, m)
		base := heapInuse()
		var peak atomic.Uint64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			var ms runtime.MemStats
			for {
				select {
				case <-stop:
					return
				default:
				}
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				time.Sleep(time.Millisecond)
			}
		}()
		ctx, cancel := context.WithCancel(context.Background())
		b.StartTimer()
		go p.Run(ctx)
		n := <-done
		b.StopTimer()
		close(stop)
		<-sampled
		cancel()
		stopServer()
		if n < 30<<20 {
			b.Fatalf("decoded only %d bytes", n)
		}
		b.ReportMetric(float64(peak.Load()-min(base, peak.Load()))/(1<<20), "heap-growth-MB")
		b.StartTimer()
	}
}

// BenchmarkRotation runs n mailboxes (150, 1,000, 10,000) on one server host (in a helper
// process) with default options: the default cap of 100 connections per
// host, so all but a few rotate through short sessions. One message waits
// in each mailbox. Reported: seconds until every mailbox's message was
// handed (the first rotation), then, over a window of polls with a 5 s
// interval (20 s, or twice the first rotation when that is longer), the
// gaps between a rotating mailbox's checks (p50, p99, max),
// mailboxes never checked in the window, the slowest HealthAll and heap
// per mailbox.
func BenchmarkRotation(b *testing.B) {
	for _, n := range []int{150, 1000, 10000} {
		b.Run(fmt.Sprintf("mailboxes=%d", n), func(b *testing.B) {
			for range b.N {
				rotation(b, n)
			}
		})
	}
}

func rotation(b *testing.B, n int) {
	host, port, stopServer := serverProcess(b, fmt.Sprintf("CORREIO_USERS=%d", n), "CORREIO_APPEND=1")
	defer stopServer()
	const interval = 5 * time.Second
	var handed atomic.Int64
	allRead := make(chan struct{})
	var mu sync.Mutex
	last := make(map[mailbox.ID]time.Time, n)
	var gaps []time.Duration
	measuring := atomic.Bool{}
	h0 := heapInuse()
	cat := memory.NewCatalog()
	p, _ := inbound.New(inbound.Options{Catalog: cat, Store: memory.NewInboundStore(),
		Handler: inbound.HandlerFunc(func(context.Context, *inbound.Delivery) error {
			if handed.Add(1) == int64(n) {
				close(allRead)
			}
			return nil
		}),
		OnEvent: func(e inbound.Event) {
			if e.Health.Mode != engine.ModeRotating || e.Health.LastCheck.IsZero() || !measuring.Load() {
				return
			}
			mu.Lock()
			if l, ok := last[e.Health.Mailbox]; !ok || !l.Equal(e.Health.LastCheck) {
				if ok {
					gaps = append(gaps, e.Health.LastCheck.Sub(l))
				}
				last[e.Health.Mailbox] = e.Health.LastCheck
			}
			mu.Unlock()
		}})
	for i := range n {
		u := fmt.Sprintf("u%04d", i)
		m := mb(u, u, host, port)
		m.Inbound.PollInterval = interval
		putMailbox(b, cat, m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var healthTimes []time.Duration // written by the probe only
	stopProbe := make(chan struct{})
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		for {
			select {
			case <-stopProbe:
				return
			case <-time.After(100 * time.Millisecond):
			}
			t0 := time.Now()
			_, _ = p.HealthAll(context.Background())
			healthTimes = append(healthTimes, time.Since(t0))
		}
	}()
	t0 := time.Now()
	go func() { p.Run(ctx); close(done) }()
	select {
	case <-allRead:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d mailboxes read in 5 minutes", handed.Load(), n)
	}
	first := time.Since(t0)
	heap := heapInuse()
	// The window holds two rotations at least, as long as the first took
	// (on a loaded machine a rotation of 10,000 takes longer than 20 s).
	window := max(20*time.Second, 2*first)
	windowStart := time.Now()
	measuring.Store(true)
	time.Sleep(window)
	measuring.Store(false)
	close(stopProbe)
	<-probed
	hs, _ := p.HealthAll(context.Background())
	over, queuedLong, never := 0, 0, 0
	mu.Lock()
	for _, h := range hs {
		// Checked in the window: an event of the window may carry a
		// check from before it.
		if l, ok := last[h.Mailbox]; (!ok || l.Before(windowStart)) && h.Mode == engine.ModeRotating {
			never++
		}
		if h.State == engine.StateOverBudget {
			over++
		}
		if h.State == engine.StateQueued && time.Since(h.Since) > interval+inbound.DefaultMaxCheckDelay {
			queuedLong++
		}
	}
	cancel()
	<-done
	slices.Sort(gaps)
	slices.Sort(healthTimes)
	at := func(ds []time.Duration, f float64) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		return ds[min(len(ds)-1, int(f*float64(len(ds))))]
	}
	q := func(f float64) float64 { return at(gaps, f).Seconds() }
	b.ReportMetric(first.Seconds(), "first-rotation-s")
	b.ReportMetric(q(0.5), "check-gap-p50-s")
	b.ReportMetric(q(0.99), "check-gap-p99-s")
	b.ReportMetric(q(1), "check-gap-max-s")
	b.ReportMetric(float64(never), "never-checked")
	b.ReportMetric(float64(over), "over-budget")
	b.ReportMetric(float64(queuedLong), "queued-past-bound")
	b.ReportMetric(float64(at(healthTimes, 0.5).Microseconds())/1000, "healthall-p50-ms")
	b.ReportMetric(float64(at(healthTimes, 1).Microseconds())/1000, "healthall-max-ms")
	b.ReportMetric(float64(heap-min(h0, heap))/float64(n)/1024, "heapKB/mailbox")
	mu.Unlock()
}

// BenchmarkHealthAll reads the health of 10,000 mailboxes (disabled, so
// nothing else runs): the cost of HealthAll itself.
func BenchmarkHealthAll(b *testing.B) {
	const n = 10000
	cat := memory.NewCatalog()
	for i := range n {
		u := fmt.Sprintf("u%05d", i)
		m := mb(u, u, "127.0.0.1", 1)
		m.Enabled = false
		putMailbox(b, cat, m)
	}
	p, _ := inbound.New(inbound.Options{Catalog: cat, Store: memory.NewInboundStore(), Handler: newRecorder()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := p.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer p.Stop(context.Background())
	if hs := mustHealthAll(b, p); len(hs) != n || hs[0].Mailbox != "u00000" || hs[n-1].Mailbox != "u09999" {
		b.Fatalf("%d health records, not sorted", len(hs))
	}
	b.ResetTimer()
	for range b.N {
		if hs, _ := p.HealthAll(ctx); len(hs) != n {
			b.Fatal(len(hs))
		}
	}
}

// BenchmarkHandoffFairness hands off 32 backlogs of 400 small messages
// (a handler taking 5 ms for them, MaxHandoffs and BatchSize at their
// defaults, 32 and 50) while a 33rd mailbox waits in IDLE; new mail is
// appended to it three times during the backlogs. Reported: the slowest
// APPEND-to-hand-off of the quiet mailbox, against the time a batch of the
// backlogs takes (50 × 5 ms); with one slot per backlog it waited for a
// whole backlog (400 × 5 ms).
func BenchmarkHandoffFairness(b *testing.B) {
	const backlogs, per = 32, 400
	for range b.N {
		srv := benchServer(b, "quiet", 0)
		cat := memory.NewCatalog()
		for i := range backlogs {
			u := fmt.Sprintf("big%02d", i)
			srv.AddUser(u, "pw-"+u)
			for j := range per {
				srv.Append(u, "INBOX", []byte(fmt.Sprintf("From: c%d@example.com\r\nSubject: s%d\r\nMessage-ID: <%s-%d@example.com>\r\n\r\nx\r\n", j%40, j, u, j)))
			}
			putMailbox(b, cat, mb(u, u, srv.Host(), srv.Port()))
		}
		putMailbox(b, cat, mb("quiet", "quiet", srv.Host(), srv.Port()))
		got := make(chan time.Time, 4)
		var handed atomic.Int64
		p, _ := inbound.New(inbound.Options{Catalog: cat, Store: memory.NewInboundStore(),
			Handler: inbound.HandlerFunc(func(_ context.Context, d *inbound.Delivery) error {
				if d.Mailbox.ID == "quiet" {
					got <- time.Now()
					return nil
				}
				handed.Add(1)
				time.Sleep(5 * time.Millisecond)
				return nil
			})})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { p.Run(ctx); close(done) }()
		for {
			if h, _ := p.Health(ctx, "quiet"); h.Push && h.State == engine.StateWaiting && handed.Load() > 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		var worst time.Duration
		for i := range 3 {
			time.Sleep(300 * time.Millisecond)
			t0 := time.Now()
			srv.Append("quiet", "INBOX", rawMsg("quiet", i))
			worst = max(worst, (<-got).Sub(t0))
		}
		left := backlogs*per - handed.Load()
		cancel()
		<-done
		if left <= 0 {
			b.Fatal("the backlogs were done before the quiet mailbox's mail arrived")
		}
		b.ReportMetric(float64(worst.Milliseconds()), "quiet-worst-ms")
		b.ReportMetric(float64(left), "backlog-left")
	}
}
