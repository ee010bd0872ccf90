package integration_test

// Real-server benchmarks (not part of CI: they run only with -bench, and
// skip under -short). Figures are in BENCHMARKS.md ("Real servers"), with
// the command to reproduce them.

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	gomessage "github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset"
	gomail "github.com/wneessen/go-mail"

	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/internal/mailstack"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport/smtp"
)

func benchStack(b *testing.B) *mailstack.Stack {
	b.Helper()
	if testing.Short() {
		b.Skip("real-server benchmark: not under -short")
	}
	return stack(b)
}

// sample returns a ~5.6 KB multipart message (the inbound benchmark's
// shape): an iso-8859-1 quoted-printable text part and a base64 attachment.
func sample(to string, i int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: =?iso-8859-1?q?Jos=E9_Gon=E7alves?= <jose%d@example.test>\r\nTo: %s\r\n", i%50, to)
	fmt.Fprintf(&b, "Subject: =?iso-8859-1?q?Impressora_n=E3o_funciona_n=BA_%d?=\r\nMessage-ID: <bench-%d-%s>\r\n", i, i, to)
	b.WriteString("Date: Wed, 25 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n")
	b.WriteString("--b1\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	for range 28 {
		b.WriteString("Ol=E1, a impressora do escrit=F3rio n=E3o imprime desde ontem. Obrigado!\r\n")
	}
	b.WriteString("\r\n--b1\r\nContent-Type: application/pdf; name=\"relat=F3rio.pdf\"\r\nContent-Disposition: attachment; filename*=iso-8859-1''relat%F3rio.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x25, 0x50, 0x44, 0x46, 0x2d, 0x31, 0x2e, 0x34, byte(i)}, 300))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--b1--\r\n")
	return b.Bytes()
}

// fill appends n sample messages to user's INBOX unless it already holds
// them (benchmarks re-run with larger b.N in one process).
func fill(b *testing.B, s *mailstack.Stack, user string, n int) {
	b.Helper()
	c := rawIMAP(b, s, user)
	defer c.Close()
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		b.Fatal(err)
	}
	for i := int(sel.NumMessages); i < n; i++ {
		raw := sample(user, i)
		cmd := c.Append("INBOX", int64(len(raw)), nil)
		_, _ = cmd.Write(raw)
		_ = cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

// pollUntil runs a Poller (fresh memory store, so every message is read
// again) over mbs until want messages were handed off, and returns the
// time from Run to the last hand-off.
func pollUntil(b *testing.B, s *mailstack.Stack, want int64, counted func(mailbox.ID) bool, mbs ...*mailbox.Mailbox) time.Duration {
	b.Helper()
	var n atomic.Int64
	done := make(chan struct{})
	cat := memory.NewCatalog()
	for _, m := range mbs {
		if err := cat.PutMailbox(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
	o := inbound.Options{
		Store: memory.NewInboundStore(), Catalog: cat, IMAP: imapConfig(s), MaxConnectionsPerHost: 200,
		Handler: inbound.HandlerFunc(func(_ context.Context, d *inbound.Delivery) error {
			if counted(d.Mailbox.ID) && n.Add(1) == want {
				close(done)
			}
			return nil
		}),
	}
	o.IMAP.Timeout = 2 * time.Second
	p, err := inbound.New(o)
	if err != nil {
		b.Fatal(err)
	}
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

const ingestN = 2000

// ingestRaw is the baseline: go-imap's client over IMAPS, one bulk UID FETCH
// BODY.PEEK[] streamed into go-message.
func ingestRaw(b *testing.B, s *mailstack.Stack, user string) time.Duration {
	t0 := time.Now()
	c, err := imapclient.DialTLS(net.JoinHostPort(mailstack.Host, strconv.Itoa(s.IMAPSPort)), &imapclient.Options{TLSConfig: s.TLSConfig()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass(user)).Wait(); err != nil {
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
	if err := cmd.Close(); err != nil || got != ingestN {
		b.Fatalf("raw fetch: %d %v", got, err)
	}
	return time.Since(t0)
}

// cpuTime is the CPU time (user + system) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rawParse reads a message with go-message: headers, every part's body
// decoded and read.
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
			_, _ = io.Copy(io.Discard, p.Body)
		}
		return
	}
	_, _ = io.Copy(io.Discard, e.Body)
}

// BenchmarkIngestDovecot reads 2,000 messages of 5.6 KB from Dovecot over
// IMAPS through the Poller (keep: no post-action; seen: \Seen after each
// batch) and, interleaved in the same iteration, with raw go-imap +
// go-message. Reported: messages per second and the ratio poller/raw.
func BenchmarkIngestDovecot(b *testing.B) {
	s := benchStack(b)
	const user = "box50@example.test"
	fill(b, s, user, ingestN)
	variants := []struct {
		name  string
		post  mailbox.PostAction
		total time.Duration
	}{{name: "keep", post: mailbox.PostKeep}, {name: "seen", post: mailbox.PostSeen}}
	var raw time.Duration
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		raw += ingestRaw(b, s, user)
		for i := range variants {
			v := &variants[i]
			runtime.GC()
			m := inBox(s, "bench-in", user, v.post, "")
			v.total += pollUntil(b, s, ingestN, func(mailbox.ID) bool { return true }, m)
		}
	}
	rate := func(d time.Duration) float64 { return float64(ingestN*b.N) / d.Seconds() }
	b.ReportMetric(rate(raw), "raw-msgs/s")
	for _, v := range variants {
		b.ReportMetric(rate(v.total), v.name+"-msgs/s")
		b.ReportMetric(raw.Seconds()/v.total.Seconds(), v.name+"-ratio")
	}
}

const sendN = 1000

// benchMsg is a go-mail message of about 5 KB.
func benchMsg(b *testing.B, from, to string, i int) *gomail.Msg {
	m := gomail.NewMsg()
	if err := m.From(from); err != nil {
		b.Fatal(err)
	}
	if err := m.To(to); err != nil {
		b.Fatal(err)
	}
	m.Subject(fmt.Sprintf("Request %d updated", i))
	m.SetBodyString(gomail.TypeTextPlain, benchText)
	return m
}

var benchText = string(bytes.Repeat([]byte("Your request was updated; the technician will call you tomorrow.\r\n"), 75))

func goMailClient(b *testing.B, s *mailstack.Stack, user string) *gomail.Client {
	c, err := gomail.NewClient(mailstack.Host, gomail.WithPort(s.SubmissionPort), gomail.WithTLSPolicy(gomail.TLSMandatory),
		gomail.WithTLSConfig(s.TLSConfig()), gomail.WithSMTPAuth(gomail.SMTPAuthPlain), gomail.WithUsername(user),
		gomail.WithPassword(pass(user)), gomail.WithTimeout(30*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// sendRaw sends sendN messages with go-mail over 4 goroutines: with a new
// connection per message, or over 4 reused connections.
func sendRaw(b *testing.B, s *mailstack.Stack, from, to string, reuse bool) time.Duration {
	const workers = 4
	t0 := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := goMailClient(b, s, from)
			if reuse {
				if err := c.DialWithContext(context.Background()); err != nil {
					failed.Add(1)
					return
				}
				defer c.Close()
			}
			for i := w; i < sendN; i += workers {
				m := benchMsg(b, from, to, i)
				var err error
				if reuse {
					err = c.Send(m)
				} else {
					err = c.DialAndSend(m)
				}
				if err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		b.Fatalf("%d raw sends failed", failed.Load())
	}
	return time.Since(t0)
}

// sendSender enqueues sendN messages to a Sender (memory outbox, one
// mailbox with MaxConnections 4) and returns the time until all are sent.
func sendSender(b *testing.B, s *mailstack.Stack, from, to string) time.Duration {
	ctx := context.Background()
	cat := memory.NewCatalog()
	m := outBox(s, "bench-out", from)
	m.Outbound.MaxConnections = 4
	_ = cat.PutMailbox(ctx, m)
	tr := smtp.New(smtp.Options{RootCAs: s.CA.Pool(), CommandTimeout: 30 * time.Second})
	defer tr.Close()
	var sent atomic.Int64
	done := make(chan struct{})
	ob := memory.NewOutbox()
	snd, err := outbound.New(outbound.Options{Outbox: ob, Catalog: cat, Transport: tr, MaxConcurrency: 4,
		OnEvent: func(e outbound.Event) {
			if e.Kind == outbound.EventDelivered && sent.Add(1) == sendN {
				close(done)
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	if err := snd.Start(ctx); err != nil {
		b.Fatal(err)
	}
	for i := range sendN {
		if _, err := snd.Enqueue(ctx, store.Message{Mailbox: m.ID, To: []store.Address{{Address: to}},
			Subject: fmt.Sprintf("Request %d updated", i), Text: benchText}); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d sent", sent.Load(), sendN)
	}
	d := time.Since(t0)
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_ = snd.Stop(sctx)
	return d
}

// BenchmarkSendPostfix sends 1,000 messages of about 5 KB to Postfix
// submission (STARTTLS + AUTH PLAIN) through the Sender and, interleaved in
// the same iteration, with raw go-mail: (a) a new connection per message,
// (b) 4 reused connections; 4 goroutines each. Reported: messages per
// second and the ratios sender/raw.
func BenchmarkSendPostfix(b *testing.B) {
	s := benchStack(b)
	const from, to = "box51@example.test", "box52@example.test"
	var sender, perMsg, reused time.Duration
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		perMsg += sendRaw(b, s, from, to, false)
		runtime.GC()
		reused += sendRaw(b, s, from, to, true)
		runtime.GC()
		sender += sendSender(b, s, from, to)
	}
	rate := func(d time.Duration) float64 { return float64(sendN*b.N) / d.Seconds() }
	b.ReportMetric(rate(sender), "sender-msgs/s")
	b.ReportMetric(rate(perMsg), "raw-newconn-msgs/s")
	b.ReportMetric(rate(reused), "raw-4conns-msgs/s")
	b.ReportMetric(perMsg.Seconds()/sender.Seconds(), "ratio-vs-newconn")
	b.ReportMetric(reused.Seconds()/sender.Seconds(), "ratio-vs-4conns")
}

// BenchmarkFaultyAmong50 measures the isolation promise on real servers:
// 50 inbound mailboxes on Dovecot and 50 outbound mailboxes on Postfix,
// one of each behind a proxy. The healthy 49 hand off (or send) all their
// mail once with the proxy passing and once with it blackholed; reported
// is each throughput and the ratio fault/no-fault (goal >= 0.95).
func BenchmarkFaultyAmong50(b *testing.B) {
	s := benchStack(b)
	const boxes, perBox = 50, 40
	pxIn := newProxy(b, s.IMAPSPort)
	pxOut := newProxy(b, s.SubmissionPort)

	var in, out []*mailbox.Mailbox
	for i := range boxes {
		user := box(i)
		fill(b, s, user, perBox)
		mi := inBox(s, fmt.Sprintf("in%02d", i), user, mailbox.PostKeep, "")
		mo := outBox(s, fmt.Sprintf("out%02d", i), user)
		if i == 0 {
			mi.Inbound.Server.Port = pxIn.Port()
			mo.Outbound.Server.Port = pxOut.Port()
		}
		in, out = append(in, mi), append(out, mo)
	}
	healthyIn := func(id mailbox.ID) bool { return id != in[0].ID }
	const sink = "box53@example.test"

	sendAll := func() time.Duration {
		ctx := context.Background()
		cat := memory.NewCatalog()
		for _, m := range out {
			_ = cat.PutMailbox(ctx, m)
		}
		tr := smtp.New(smtp.Options{RootCAs: s.CA.Pool(), CommandTimeout: 2 * time.Second, DataTimeout: 2 * time.Second})
		defer tr.Close()
		want := int64((boxes - 1) * perBox)
		var sent atomic.Int64
		done := make(chan struct{})
		snd, err := outbound.New(outbound.Options{Outbox: memory.NewOutbox(), Catalog: cat, Transport: tr,
			OnEvent: func(e outbound.Event) {
				if e.Kind == outbound.EventDelivered && e.Mailbox != out[0].ID && sent.Add(1) == want {
					close(done)
				}
			}})
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range out {
			for i := range perBox {
				if _, err := snd.Enqueue(ctx, store.Message{Mailbox: m.ID, To: []store.Address{{Address: sink}},
					Subject: fmt.Sprintf("Request %d updated", i), Text: benchText}); err != nil {
					b.Fatal(err)
				}
			}
		}
		t0 := time.Now()
		if err := snd.Start(ctx); err != nil {
			b.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(5 * time.Minute):
			b.Fatalf("only %d of %d sent", sent.Load(), want)
		}
		d := time.Since(t0)
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = snd.Stop(sctx)
		return d
	}

	// Postfix keeps delivering to Dovecot after the Sender is done: wait
	// for the sink to hold everything before the next measurement, so that
	// work does not land in another variant's time.
	delivered := 0
	drain := func() {
		delivered += (boxes - 1) * perBox
		deadline := time.Now().Add(5 * time.Minute)
		for {
			c := rawIMAP(b, s, sink)
			st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
			c.Close()
			if err != nil {
				b.Fatal(err)
			}
			if int(*st.NumMessages) >= delivered {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("sink holds %d of %d", *st.NumMessages, delivered)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	var inOK, inFault, outOK, outFault, inOKCPU, inFaultCPU time.Duration
	b.ResetTimer()
	set := func(fault bool) {
		mode := mailtest.Pass
		if fault {
			mode = mailtest.Blackhole
		}
		pxIn.SetMode(mode)
		pxOut.SetMode(mode)
	}
	orderOf := func(it int) []bool {
		if it%2 == 1 {
			return []bool{true, false}
		}
		return []bool{false, true}
	}
	// Every iteration's inbound rounds first, then the outbound rounds: an
	// inbound round right after a send round (Postfix still settling its
	// deliveries into Dovecot) ran slower whatever the fault, which made
	// the ratio depend on which variant came first after a send round.
	for it := range b.N {
		for _, fault := range orderOf(it) {
			set(fault)
			runtime.GC()
			c0 := cpuTime()
			d := pollUntil(b, s, int64((boxes-1)*perBox), healthyIn, in...)
			if fault {
				inFault += d
				inFaultCPU += cpuTime() - c0
			} else {
				inOK += d
				inOKCPU += cpuTime() - c0
			}
		}
	}
	set(false)
	for it := range b.N {
		for _, fault := range orderOf(it) {
			set(fault)
			runtime.GC()
			d := sendAll()
			b.StopTimer()
			set(false)
			drain()
			b.StartTimer()
			if fault {
				outFault += d
			} else {
				outOK += d
			}
		}
		set(false)
	}
	rate := func(d time.Duration) float64 { return float64((boxes-1)*perBox*b.N) / d.Seconds() }
	b.ReportMetric(rate(inOK), "in-nofault-msgs/s")
	b.ReportMetric(rate(inFault), "in-fault-msgs/s")
	b.ReportMetric(inOK.Seconds()/inFault.Seconds(), "in-ratio")
	// The process's own CPU per healthy message: equal in both variants
	// when a lower ratio comes from the shared machine, not from the fault.
	cpuPer := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64((boxes-1)*perBox*b.N) }
	b.ReportMetric(cpuPer(inOKCPU), "in-nofault-cpu-us/msg")
	b.ReportMetric(cpuPer(inFaultCPU), "in-fault-cpu-us/msg")
	b.ReportMetric(rate(outOK), "out-nofault-msgs/s")
	b.ReportMetric(rate(outFault), "out-fault-msgs/s")
	b.ReportMetric(outOK.Seconds()/outFault.Seconds(), "out-ratio")
}
