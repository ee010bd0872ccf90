package graph_test

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/graph"
	"github.com/correio-dev/correio/transport/transporttest"
)

const desk = "desk@example.com"

// staticToken is a delegated token source that always gives the same
// token (no refresh: the server's SetTokensRefused decides).
type staticToken string

func (s staticToken) Token(context.Context) (mailbox.Secret, error) {
	return mailbox.NewSecret(string(s)), nil
}

// newServer starts a Graph server with the desk mailbox and a delegated
// token for it.
func newServer(t *testing.T) *mailtest.GraphServer {
	t.Helper()
	srv := mailtest.NewGraphServer()
	t.Cleanup(srv.Close)
	srv.AddUser(desk)
	srv.AddToken("tok-desk", desk)
	return srv
}

func config(t *testing.T, srv *mailtest.GraphServer, n transport.Net) *graph.Config {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return &graph.Config{Net: n, BaseURL: srv.URL, RootCAs: pool, Timeout: 5 * time.Second, SpoolMemory: 16 << 10, SpoolDir: t.TempDir()}
}

func inboundMailbox() *mailbox.Mailbox {
	return &mailbox.Mailbox{ID: "desk", Description: "Service desk (Microsoft 365)", Kind: mailbox.Inbound, Enabled: true, Address: desk,
		Inbound: &mailbox.InboundSettings{Transport: mailbox.TransportGraph,
			Credentials: mailbox.Credentials{Username: desk, OAuth2: staticToken("tok-desk")}}}
}

// TestSourceConformance runs the transport suite against the in-process
// Graph server.
func TestSourceConformance(t *testing.T) {
	transporttest.RunSource(t, transporttest.SourceHarness{New: func(t *testing.T) *transporttest.SourceEnv {
		srv := newServer(t)
		return &transporttest.SourceEnv{
			Mailbox: inboundMailbox(),
			Source:  func(n transport.Net) transport.Source { return graph.NewSource(config(t, srv, n)) },
			Deliver: func(t *testing.T, raw []byte) {
				if _, err := srv.Deliver(desk, "inbox", raw); err != nil {
					t.Fatal(err)
				}
			},
			Count:       func(_ *testing.T, folder string) (int, int) { return srv.Count(desk, folder) },
			SetDown:     srv.SetDown,
			RefuseLogin: srv.SetTokensRefused,
			BreakAfter:  srv.BreakAfter,
			ResetCursor: func(*testing.T) { srv.ResetDelta() },
		}
	}})
}
