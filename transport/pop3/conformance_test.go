package pop3_test

import (
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/pop3"
	"github.com/correio-dev/correio/transport/transporttest"
)

func newServer(t *testing.T, opts *mailtest.POP3Options) *mailtest.POP3Server {
	t.Helper()
	s, err := mailtest.NewPOP3Server(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	s.AddUser("alice", "secret")
	return s
}

func inbound(host string, port int) *mailbox.Mailbox {
	return &mailbox.Mailbox{ID: "pop1", Description: "test", Kind: mailbox.Inbound, Enabled: true,
		Inbound: &mailbox.InboundSettings{Transport: mailbox.TransportPOP3, PostAction: mailbox.PostKeep,
			Server:      mailbox.Server{Host: host, Port: port, Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
			Credentials: mailbox.Credentials{Username: "alice", Password: mailbox.NewSecret("secret")}}}
}

// TestConformance runs the transport suite against the in-process POP3
// server behind a fault-injecting proxy: with UIDL, and without it (the
// content-hash cursor, with and without TOP).
func TestConformance(t *testing.T) {
	for _, o := range []struct {
		name string
		opts mailtest.POP3Options
	}{{"uidl", mailtest.POP3Options{}}, {"nouidl", mailtest.POP3Options{NoUIDL: true}}, {"nouidl-notop", mailtest.POP3Options{NoUIDL: true, NoTOP: true}}} {
		t.Run(o.name, func(t *testing.T) {
			transporttest.RunSource(t, transporttest.SourceHarness{New: func(t *testing.T) *transporttest.SourceEnv {
				opts := o.opts
				srv := newServer(t, &opts)
				px, err := mailtest.NewProxy(srv.Addr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = px.Close() })
				m := inbound(px.Host(), px.Port())
				return &transporttest.SourceEnv{
					Mailbox: m,
					Source: func(n transport.Net) transport.Source {
						return pop3.NewSource(&pop3.Config{Net: n, Timeout: 5 * time.Second, SpoolMemory: 16 << 10, SpoolDir: t.TempDir()})
					},
					Deliver: func(t *testing.T, raw []byte) {
						if _, err := srv.Deliver("alice", raw); err != nil {
							t.Fatal(err)
						}
					},
					Count: func(t *testing.T, folder string) (int, int) {
						if folder != mailbox.DefaultFolder {
							return 0, -1
						}
						n, err := srv.Messages("alice")
						if err != nil {
							t.Fatal(err)
						}
						return n, -1
					},
					SetDown: func(down bool) {
						if down {
							px.SetMode(mailtest.Down)
						} else {
							px.SetMode(mailtest.Pass)
						}
					},
					RefuseLogin: srv.SetLoginRefused,
					BreakAfter:  px.DropAfter,
				}
			}})
		})
	}
}
