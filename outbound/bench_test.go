package outbound_test

import (
	"context"
	"crypto/tls"
	"strings"
	"sync"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/transport/smtp"
)

// BenchmarkOutbound sends 2,000 messages of about 5 KB per iteration to one
// in-process server: through the Sender (memory Outbox, one mailbox with 4
// connections) and, in the same run against the same server, with raw
// go-mail (a) a new connection per message and (b) 4 reused connections,
// both with 4 concurrent senders. It runs over STARTTLS (the default
// security) and over plaintext. Not part of CI; see BENCHMARKS.md.
//
//	go test -run '^$' -bench BenchmarkOutbound -benchtime 3x ./outbound
func BenchmarkOutbound(b *testing.B) {
	b.Run("starttls", func(b *testing.B) { benchOutbound(b, true) })
	b.Run("plain", func(b *testing.B) { benchOutbound(b, false) })
}

func benchOutbound(b *testing.B, useTLS bool) {
	const total, conns = 2000, 4
	opts := mailtest.SMTPOptions{}
	if useTLS {
		opts.Security = mailtest.SMTPStartTLS
	}
	srv, err := mailtest.NewSMTPServer(opts)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	ca, err := mailtest.DefaultCA()
	if err != nil {
		b.Fatal(err)
	}
	body := strings.Repeat("The quick brown fox jumps over the lazy dog. 0123456789\r\n", 90) // ~5 KB
	waitFor := func(b *testing.B, n int) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if _, err := srv.WaitMessages(ctx, n); err != nil {
			b.Fatal(err)
		}
	}

	ctx := context.Background()
	cat := memory.NewCatalog()
	mb := outboundBox("bench", srv)
	mb.Outbound.MaxConnections = conns
	if useTLS {
		mb.Outbound.Server.Security = mailbox.SecuritySTARTTLS
		mb.Outbound.Server.AllowPlaintext = false
	}
	if err := cat.PutMailbox(ctx, mb); err != nil {
		b.Fatal(err)
	}
	tr := smtp.New(smtp.Options{RootCAs: ca.Pool()})
	defer tr.Close()
	s, err := outbound.New(outbound.Options{Outbox: memory.NewOutbox(), Catalog: cat, MaxConcurrency: conns, Transport: tr})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer s.Stop(ctx)
	viaSender := func(b *testing.B) {
		base := len(srv.Messages())
		for range total {
			if _, err := s.Enqueue(ctx, store.Message{Mailbox: "bench", To: []store.Address{{Address: "a@example.org"}}, Subject: "Request opened", Text: body}); err != nil {
				b.Fatal(err)
			}
		}
		waitFor(b, base+total)
	}

	newMsg := func(b *testing.B) *gomail.Msg {
		m := gomail.NewMsg()
		if err := m.From("desk@bench.example.com"); err != nil {
			b.Fatal(err)
		}
		if err := m.To("a@example.org"); err != nil {
			b.Fatal(err)
		}
		m.Subject("Request opened")
		m.SetMessageID()
		m.SetDate()
		m.SetGenHeader("Auto-Submitted", "auto-generated")
		m.SetBodyString(gomail.TypeTextPlain, body)
		return m
	}
	newClient := func(b *testing.B) *gomail.Client {
		policy := gomail.NoTLS
		if useTLS {
			policy = gomail.TLSMandatory
		}
		c, err := gomail.NewClient(srv.Host(), gomail.WithPort(srv.Port()), gomail.WithTLSPolicy(policy), gomail.WithHELO("bench"),
			gomail.WithTLSConfig(&tls.Config{RootCAs: ca.Pool(), ServerName: srv.Host(), MinVersion: tls.VersionTLS12}))
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	parallel := func(b *testing.B, work func(b *testing.B, n int)) {
		var wg sync.WaitGroup
		for range conns {
			wg.Go(func() { work(b, total/conns) })
		}
		wg.Wait()
	}

	newConn := func(b *testing.B) {
		base := len(srv.Messages())
		parallel(b, func(b *testing.B, n int) {
			c := newClient(b)
			for range n {
				if err := c.DialAndSend(newMsg(b)); err != nil {
					b.Error(err)
					return
				}
			}
		})
		waitFor(b, base+total)
	}
	reused := func(b *testing.B) {
		base := len(srv.Messages())
		parallel(b, func(b *testing.B, n int) {
			c := newClient(b)
			if err := c.DialWithContext(context.Background()); err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			for range n {
				if err := c.Send(newMsg(b)); err != nil {
					b.Error(err)
					return
				}
			}
		})
		waitFor(b, base+total)
	}

	// The three variants run in turn within each iteration (rotating the
	// order), so a noisy shared machine slows them alike.
	variants := []func(*testing.B){viaSender, newConn, reused}
	var spent [3]time.Duration
	b.ResetTimer()
	for i := range b.N {
		for k := range variants {
			v := (i + k) % len(variants)
			start := time.Now()
			variants[v](b)
			spent[v] += time.Since(start)
		}
	}
	rate := func(d time.Duration) float64 { return float64(b.N*total) / d.Seconds() }
	b.ReportMetric(rate(spent[0]), "sender-msgs/s")
	b.ReportMetric(rate(spent[1]), "gomail-newconn-msgs/s")
	b.ReportMetric(rate(spent[2]), "gomail-reused-msgs/s")
	b.ReportMetric(spent[2].Seconds()/spent[0].Seconds(), "x-of-reused")
	b.ReportMetric(spent[1].Seconds()/spent[0].Seconds(), "x-of-newconn")
	b.ReportMetric(0, "ns/op")
}
