package transporttest

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// SenderHarness describes an outbound transport and a server it sends to.
type SenderHarness struct {
	// New returns a fresh mailbox and its server's controls. Every
	// subtest calls it once; the harness cleans up with t.Cleanup.
	New func(t *testing.T) *SenderEnv
}

// SenderEnv is one mailbox of a SenderHarness.
type SenderEnv struct {
	// Mailbox is the outbound mailbox.
	Mailbox *mailbox.Mailbox
	// Sender returns a new instance of the transport dialling through n
	// (the harness adds its CA, its proxy, and closes it at cleanup).
	Sender func(n transport.Net) transport.Sender
	// Received returns the messages the server accepted, in order.
	Received func(t *testing.T) []Received
	// Refuse makes the server refuse addr at the recipient step,
	// permanently (5xx) or temporarily (4xx).
	Refuse func(addr string, permanent bool)
	// SetDown makes the server unreachable (true) or reachable again.
	SetDown func(down bool)
	// RefuseLogin makes the server refuse the mailbox's credentials.
	RefuseLogin func(refuse bool)
	// BreakNext breaks the connection in the middle of the next message.
	// Nil skips the test.
	BreakNext func()
}

// Received is a message as the server accepted it.
type Received struct {
	From string
	To   []string
	Raw  []byte
}

func send(t *testing.T, o transport.Outgoing, env transport.Envelope, raw []byte) (transport.Result, error) {
	t.Helper()
	ctx, cancel := ctx20()
	defer cancel()
	return o.Send(ctx, env, bytes.NewReader(raw))
}

// RunSender runs the outbound transport suite.
func RunSender(t *testing.T, h SenderHarness) {
	type run struct {
		env  *SenderEnv
		snd  transport.Sender
		from string
	}
	setup := func(t *testing.T) *run {
		env := h.New(t)
		from := env.Mailbox.Outbound.From.Address
		if from == "" {
			from = env.Mailbox.Address
		}
		return &run{env: env, snd: env.Sender(transport.Net{}), from: from}
	}
	open := func(t *testing.T, snd transport.Sender, m *mailbox.Mailbox) transport.Outgoing {
		t.Helper()
		ctx, cancel := ctx20()
		defer cancel()
		o, err := snd.Open(ctx, m)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { _ = o.Close() })
		return o
	}
	received := func(t *testing.T, r *run, n int) []Received {
		t.Helper()
		var got []Received
		eventually(t, "the server to receive the messages", func() bool { got = r.env.Received(t); return len(got) >= n })
		if len(got) != n {
			t.Fatalf("server received %d messages, want %d", len(got), n)
		}
		return got
	}

	t.Run("Send", func(t *testing.T) {
		r := setup(t)
		o := open(t, r.snd, r.env.Mailbox)
		raw := Message("send", 1, 3000)
		to := []string{"one@example.net", "two@example.org"}
		res, err := send(t, o, transport.Envelope{From: r.from, To: to}, raw)
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		if !slices.Equal(res.Accepted, to) || len(res.Rejected) != 0 {
			t.Fatalf("result %+v, want both accepted", res)
		}
		got := received(t, r, 1)[0]
		if !strings.EqualFold(got.From, r.from) || !slices.Equal(got.To, to) {
			t.Fatalf("envelope %s -> %v, want %s -> %v", got.From, got.To, r.from, to)
		}
		if !bytes.HasSuffix(got.Raw, raw) && !bytes.Equal(got.Raw, raw) {
			t.Fatalf("the server received %d bytes that do not end with the %d sent", len(got.Raw), len(raw))
		}
	})

	t.Run("PerRecipient", func(t *testing.T) {
		r := setup(t)
		r.env.Refuse("gone@example.net", true)
		r.env.Refuse("full@example.net", false)
		o := open(t, r.snd, r.env.Mailbox)
		res, err := send(t, o, transport.Envelope{From: r.from, To: []string{"gone@example.net", "ok@example.net", "full@example.net"}}, Message("rcpt", 1, 200))
		if err != nil {
			t.Fatalf("Send with one good recipient: %v", err)
		}
		if !slices.Equal(res.Accepted, []string{"ok@example.net"}) || len(res.Rejected) != 2 {
			t.Fatalf("result %+v", res)
		}
		classes := map[string]transport.Class{}
		for _, rj := range res.Rejected {
			if rj.Err == nil {
				t.Fatalf("rejected %s without an error", rj.Address)
			}
			classes[rj.Address] = rj.Err.Class
		}
		if classes["gone@example.net"] != transport.Permanent || classes["full@example.net"] != transport.Temporary {
			t.Fatalf("recipient classes %v, want permanent and temporary", classes)
		}
		if got := received(t, r, 1)[0]; !slices.Equal(got.To, []string{"ok@example.net"}) {
			t.Fatalf("delivered to %v, want only the accepted recipient", got.To)
		}
		// Every recipient refused: an error, and each one's reason.
		res, err = send(t, o, transport.Envelope{From: r.from, To: []string{"gone@example.net"}}, Message("rcpt", 2, 200))
		if !errors.Is(err, transport.ErrPermanent) || len(res.Rejected) != 1 || len(res.Accepted) != 0 {
			t.Fatalf("all refused: %+v %v, want ErrPermanent and the refusal", res, err)
		}
	})

	t.Run("Reuse", func(t *testing.T) {
		r := setup(t)
		o := open(t, r.snd, r.env.Mailbox)
		for i := 1; i <= 3; i++ {
			if _, err := send(t, o, transport.Envelope{From: r.from, To: []string{"reuse@example.net"}}, Message("reuse", i, 500)); err != nil {
				t.Fatalf("message %d over one connection: %v", i, err)
			}
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
		o2 := open(t, r.snd, r.env.Mailbox)
		if _, err := send(t, o2, transport.Envelope{From: r.from, To: []string{"reuse@example.net"}}, Message("reuse", 4, 500)); err != nil {
			t.Fatalf("after Close and Open: %v", err)
		}
		got := received(t, r, 4)
		for i, m := range got {
			if !hasHeader(m.Raw, "Message-ID", messageID("reuse", i+1)) {
				t.Fatalf("message %d is not the one sent %d-th", i+1, i+1)
			}
		}
	})

	t.Run("BrokenMidMessage", func(t *testing.T) {
		r := setup(t)
		if r.env.BreakNext == nil {
			t.Skip("the harness cannot break a connection")
		}
		o := open(t, r.snd, r.env.Mailbox)
		r.env.BreakNext()
		_, err := send(t, o, transport.Envelope{From: r.from, To: []string{"x@example.net"}}, Message("broken", 1, 64<<10))
		if !errors.Is(err, transport.ErrBroken) || !transport.Retryable(err) {
			t.Fatalf("a message cut mid-transfer: %v (class %v), want ErrBroken and retryable", err, transport.ClassOf(err))
		}
		var te *transport.Error
		if !errors.As(err, &te) {
			t.Fatalf("not a *transport.Error: %v", err)
		}
		_ = o.Close()
		o2 := open(t, r.snd, r.env.Mailbox)
		if _, err := send(t, o2, transport.Envelope{From: r.from, To: []string{"x@example.net"}}, Message("broken", 2, 100)); err != nil {
			t.Fatalf("after a broken connection: %v", err)
		}
		for _, m := range r.env.Received(t) {
			if hasHeader(m.Raw, "Message-ID", messageID("broken", 1)) {
				t.Fatal("the server kept the message cut in the middle")
			}
		}
	})

	t.Run("Errors", func(t *testing.T) {
		r := setup(t)
		// Errors of a fresh transport (nothing pooled), at Open or at Send.
		try := func(n transport.Net) error {
			ctx, cancel := ctx20()
			defer cancel()
			o, err := r.env.Sender(n).Open(ctx, r.env.Mailbox)
			if err != nil {
				return err
			}
			defer o.Close()
			_, err = o.Send(ctx, transport.Envelope{From: r.from, To: []string{"e@example.net"}}, bytes.NewReader(Message("err", 1, 100)))
			return err
		}
		isClass := func(what string, err error, target error) {
			t.Helper()
			var te *transport.Error
			if !errors.As(err, &te) || !errors.Is(err, target) {
				t.Fatalf("%s: %v (class %v), want a *transport.Error matching %v", what, err, transport.ClassOf(err), target)
			}
		}
		r.env.RefuseLogin(true)
		err := try(transport.Net{})
		r.env.RefuseLogin(false)
		isClass("refused login", err, transport.ErrAuth)
		r.env.SetDown(true)
		err = try(transport.Net{})
		r.env.SetDown(false)
		isClass("server down", err, transport.ErrTemporary)
		isClass("address policy", try(transport.Net{Policy: transport.PublicOnly}), transport.ErrPolicy)
		if err := try(transport.Net{}); err != nil {
			t.Fatalf("after the faults: %v", err)
		}
	})

	t.Run("Check", func(t *testing.T) {
		r := setup(t)
		c, ok := r.snd.(transport.Checker)
		if !ok {
			t.Fatal("the sender does not implement transport.Checker")
		}
		if err := c.Validate(r.env.Mailbox); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		bad := r.env.Mailbox.Clone()
		bad.Description = ""
		if len(mailbox.FieldErrors(c.Validate(bad))) == 0 {
			t.Fatal("Validate accepts a mailbox without a description")
		}
		ctx, cancel := ctx20()
		defer cancel()
		rep, err := c.Check(ctx, r.env.Mailbox)
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		if rep.Kind != r.env.Mailbox.Transport() || rep.Server == "" || rep.Elapsed <= 0 {
			t.Fatalf("report %+v: kind %q, server and elapsed expected", rep, r.env.Mailbox.Transport())
		}
		r.env.RefuseLogin(true)
		_, err = c.Check(ctx, r.env.Mailbox)
		r.env.RefuseLogin(false)
		if !errors.Is(err, transport.ErrAuth) {
			t.Fatalf("Check with refused credentials: %v, want ErrAuth", err)
		}
		if len(r.env.Received(t)) != 0 {
			t.Fatal("Check sent a message")
		}
	})
}
