package smtp_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/smtp"
	"github.com/correio-dev/correio/transport/transporttest"
)

// TestConformance runs the transport suite against the in-process SMTP
// server over STARTTLS with AUTH, behind a proxy that can take it down.
func TestConformance(t *testing.T) {
	transporttest.RunSender(t, transporttest.SenderHarness{New: func(t *testing.T) *transporttest.SenderEnv {
		ca, err := mailtest.DefaultCA()
		if err != nil {
			t.Fatal(err)
		}
		srv := startServer(t, mailtest.SMTPOptions{Security: mailtest.SMTPStartTLS, Users: map[string]string{"desk": "pw-desk"}})
		px, err := mailtest.NewProxy(srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = px.Close() })
		m := box(srv, mailbox.SecuritySTARTTLS)
		m.Outbound.Server.Host, m.Outbound.Server.Port = px.Host(), px.Port()
		m.Outbound.Credentials = mailbox.Credentials{Username: "desk", Password: mailbox.NewSecret("pw-desk")}
		// One fault script, changed by the controls below.
		var mu sync.Mutex
		faults := mailtest.SMTPFaults{Rcpt: map[string]mailtest.Reply{}}
		change := func(f func(*mailtest.SMTPFaults)) {
			mu.Lock()
			defer mu.Unlock()
			f(&faults)
			c := faults
			c.Rcpt = map[string]mailtest.Reply{}
			for k, v := range faults.Rcpt {
				c.Rcpt[k] = v
			}
			srv.SetFaults(c)
		}
		return &transporttest.SenderEnv{
			Mailbox: m,
			Sender: func(n transport.Net) transport.Sender {
				return newTransport(t, ca, smtp.Options{Net: n, CommandTimeout: 5 * time.Second, DataTimeout: 5 * time.Second})
			},
			Received: func(*testing.T) []transporttest.Received {
				var out []transporttest.Received
				for _, m := range srv.Messages() {
					out = append(out, transporttest.Received{From: m.From, To: m.To, Raw: m.Data})
				}
				return out
			},
			Refuse: func(addr string, permanent bool) {
				r := mailtest.Reply{Code: 450, Enhanced: "4.2.2", Message: "mailbox full"}
				if permanent {
					r = mailtest.Reply{Code: 550, Enhanced: "5.1.1", Message: "no such user"}
				}
				change(func(f *mailtest.SMTPFaults) { f.Rcpt[strings.ToLower(addr)] = r })
			},
			SetDown: func(down bool) {
				if down {
					px.SetMode(mailtest.Down)
				} else {
					px.SetMode(mailtest.Pass)
				}
			},
			RefuseLogin: func(refuse bool) { change(func(f *mailtest.SMTPFaults) { f.RejectAuth = refuse }) },
			BreakNext:   func() { px.ResetUpstreamAfter(4 << 10) }, // a few KiB into the message
		}
	}})
}
