package smtp_test

import (
	"context"
	"errors"
	"runtime"
	"testing"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/smtp"
)

// TestHostileReplyIsBounded: a server that sends a reply line without end,
// or a multi-line reply without end, fails the connection with class
// protocol and a *transport.LimitError, having made the heap grow by far
// less than what it sent.
func TestHostileReplyIsBounded(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fault    mailtest.HostileSMTPFault
		maxReply int64
	}{
		{"endless greeting line, default bound", mailtest.EndlessReplyLine, 0},
		{"endless multiline EHLO reply, 64 KiB bound", mailtest.EndlessMultiline, 64 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := mailtest.NewHostileSMTP(tc.fault, 128<<20)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Close() })
			tr := newTransport(t, nil, smtp.Options{MaxReply: tc.maxReply})
			mb := &mailbox.Mailbox{ID: "h", Kind: mailbox.Outbound, Enabled: true, Outbound: &mailbox.OutboundSettings{
				Server: mailbox.Server{Host: srv.Host(), Port: srv.Port(), Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
				From:   mailbox.Identity{Address: "desk@example.com"}, Credentials: mailbox.Credentials{Mechanism: mailbox.AuthNone}}}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			c, err := tr.Open(context.Background(), mb)
			runtime.ReadMemStats(&after)
			if err == nil {
				_ = c.Close()
				t.Fatal("connected to a hostile server")
			}
			want := tc.maxReply
			if want == 0 {
				want = smtp.DefaultMaxReply
			}
			var le *transport.LimitError
			if transport.ClassOf(err) != transport.Protocol || !errors.Is(err, transport.ErrLimit) || !errors.As(err, &le) || le.Limit != want {
				t.Fatalf("error %v (class %s), want protocol with a limit of %d", err, transport.ClassOf(err), want)
			}
			growth := int64(after.TotalAlloc - before.TotalAlloc)
			t.Logf("%s: %v; allocated %.1f MiB while the server streamed %.1f MiB", tc.name, err, float64(growth)/(1<<20), float64(srv.Streamed())/(1<<20))
			if growth > 64<<20 {
				t.Fatalf("allocated %d bytes", growth)
			}
		})
	}
}
