package gmail_test

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/gmail"
	"github.com/correio-dev/correio/transport/internal/resttest"
	"github.com/correio-dev/correio/transport/transporttest"
)

const desk = "desk@example.com"

// pushSA is the service account the test Pub/Sub subscription signs as.
const pushSA = "gmail-push@correio-test.iam.gserviceaccount.com"

// staticToken is a token source that always gives the same token.
type staticToken string

func (s staticToken) Token(context.Context) (mailbox.Secret, error) {
	return mailbox.NewSecret(string(s)), nil
}

func newServer(t *testing.T) *mailtest.GmailServer {
	t.Helper()
	srv := mailtest.NewGmailServer()
	t.Cleanup(srv.Close)
	srv.AddUser(desk)
	srv.AddToken("tok-desk", desk)
	return srv
}

func config(t *testing.T, srv *mailtest.GmailServer, n transport.Net) *gmail.Config {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return &gmail.Config{Net: n, BaseURL: srv.URL, RootCAs: pool, Timeout: 5 * time.Second, SpoolMemory: 16 << 10,
		SpoolDir: t.TempDir(), CreateLabels: true, Backoff: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
}

func inboundMailbox() *mailbox.Mailbox {
	return &mailbox.Mailbox{ID: "desk", Description: "Service desk (Google Workspace)", Kind: mailbox.Inbound, Enabled: true, Address: desk,
		Inbound: &mailbox.InboundSettings{Transport: mailbox.TransportGmail,
			Credentials: mailbox.Credentials{Username: desk, OAuth2: staticToken("tok-desk")}}}
}

func outboundMailbox() *mailbox.Mailbox {
	return &mailbox.Mailbox{ID: "desk-out", Description: "Service desk (Google Workspace)", Kind: mailbox.Outbound, Enabled: true, Address: desk,
		Outbound: &mailbox.OutboundSettings{Transport: mailbox.TransportGmail, From: mailbox.Identity{Address: desk},
			Credentials: mailbox.Credentials{Username: desk, OAuth2: staticToken("tok-desk")}}}
}

// pushing wires srv's Pub/Sub pushes to the PushHandler of the Source
// most recently made by the returned function (a new Source stands for a
// restarted process).
func pushing(t *testing.T, srv *mailtest.GmailServer) func(n transport.Net) transport.Source {
	t.Helper()
	var mu sync.Mutex
	var cur http.Handler
	ep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := cur
		mu.Unlock()
		if h == nil {
			http.Error(w, "no source", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ep.Close)
	signer, err := mailtest.NewPubSubSigner(pushSA, ep.URL+"/push")
	if err != nil {
		t.Fatal(err)
	}
	srv.SetPubSub(signer, ep.URL+"/push", ep.Client())
	return func(n transport.Net) transport.Source {
		cfg := config(t, srv, n)
		cfg.Watch = &gmail.Watch{TopicName: "projects/correio-test/topics/gmail"}
		src := gmail.NewSource(cfg)
		mu.Lock()
		cur = src.PushHandler(gmail.PushConfig{Audience: ep.URL + "/push", ServiceAccount: pushSA, JWKSURL: srv.JWKSURL()})
		mu.Unlock()
		return src
	}
}

func sourceEnv(t *testing.T, push bool) *transporttest.SourceEnv {
	srv := newServer(t)
	mk := func(n transport.Net) transport.Source { return gmail.NewSource(config(t, srv, n)) }
	if push {
		mk = pushing(t, srv)
	}
	return &transporttest.SourceEnv{
		Mailbox: inboundMailbox(),
		Source:  mk,
		Deliver: func(t *testing.T, raw []byte) {
			if _, err := srv.Deliver(desk, raw); err != nil {
				t.Fatal(err)
			}
		},
		Count:       func(_ *testing.T, label string) (int, int) { return srv.Count(desk, label) },
		SetDown:     srv.SetDown,
		RefuseLogin: srv.SetTokensRefused,
		BreakAfter:  srv.BreakAfter,
		ResetCursor: func(*testing.T) { srv.ExpireHistory(desk) },
	}
}

// TestSourceConformance runs the transport suite against the in-process
// Gmail API server, polling.
func TestSourceConformance(t *testing.T) {
	transporttest.RunSource(t, transporttest.SourceHarness{New: func(t *testing.T) *transporttest.SourceEnv { return sourceEnv(t, false) }})
}

// TestSourceConformancePush runs it again with users.watch and the
// Pub/Sub push endpoint: the suite's Wait test then checks that a
// delivery wakes the session through a signed push.
func TestSourceConformancePush(t *testing.T) {
	transporttest.RunSource(t, transporttest.SourceHarness{New: func(t *testing.T) *transporttest.SourceEnv { return sourceEnv(t, true) }})
}

// TestSenderConformance runs the sender suite. Gmail has no SMTP envelope
// and no per-recipient replies, so the two subtests built on them are
// skipped with the reason (as for transport/graph): Send and
// PerRecipient. The suite's messages are all "To: desk@example.com"
// whatever their envelope, so it runs with DeliverHeaderRecipients;
// TestSend and TestSendRecipients cover the default.
func TestSenderConformance(t *testing.T) {
	transporttest.RunSender(t, transporttest.SenderHarness{New: func(t *testing.T) *transporttest.SenderEnv {
		resttest.SkipEnvelopeSubtests(t, "Gmail")
		srv := newServer(t)
		return resttest.SenderEnv(t, "Gmail", srv, outboundMailbox(), func(n transport.Net) transport.Sender {
			cfg := config(t, srv, n)
			cfg.DeliverHeaderRecipients = true
			return gmail.NewSender(cfg)
		}, func(*testing.T) []transporttest.Received {
			var out []transporttest.Received
			for _, s := range srv.Sent() {
				out = append(out, transporttest.Received{From: s.User, To: s.To, Raw: s.Raw})
			}
			return out
		})
	}})
}
