package resttest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/transporttest"
)

// Server is what an API test server (mailtest.GraphServer, GmailServer)
// offers the sender suite.
type Server interface {
	SetDown(down bool)
	SetTokensRefused(refuse bool)
	BreakNextSend()
}

// SkipEnvelopeSubtests skips the sender suite's subtests built on an SMTP
// envelope and per-recipient replies (Send, PerRecipient): api (its name
// in the reason) delivers to the message's header recipients as a whole.
func SkipEnvelopeSubtests(t *testing.T, api string) {
	t.Helper()
	for _, name := range []string{"/Send", "/PerRecipient"} {
		if strings.HasSuffix(t.Name(), name) {
			t.Skip(api + " delivers to the message's header recipients as a whole: no SMTP envelope, no per-recipient replies")
		}
	}
}

// SenderEnv is the sender suite's environment of mb sent through sender
// to srv, which received lists; per-recipient refusals are skipped (api
// has none).
func SenderEnv(t *testing.T, api string, srv Server, mb *mailbox.Mailbox, sender func(transport.Net) transport.Sender,
	received func(*testing.T) []transporttest.Received) *transporttest.SenderEnv {
	return &transporttest.SenderEnv{
		Mailbox:     mb,
		Sender:      sender,
		Received:    received,
		Refuse:      func(string, bool) { t.Skip("no per-recipient refusals in " + api) },
		SetDown:     srv.SetDown,
		RefuseLogin: srv.SetTokensRefused,
		BreakNext:   srv.BreakNextSend,
	}
}

// SendRaw opens m through snd and sends raw to env, within a generous
// bound; an Open error fails the test.
func SendRaw(t *testing.T, snd transport.Sender, m *mailbox.Mailbox, env transport.Envelope, raw []byte) (transport.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	o, err := snd.Open(ctx, m)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer o.Close()
	return o.Send(ctx, env, bytes.NewReader(raw))
}
