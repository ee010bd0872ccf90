package smtp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/smtp"
)

func startServer(t *testing.T, opts mailtest.SMTPOptions) *mailtest.SMTPServer {
	t.Helper()
	s, err := mailtest.NewSMTPServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func box(s *mailtest.SMTPServer, sec mailbox.Security) *mailbox.Mailbox {
	return &mailbox.Mailbox{
		ID: "mb", Description: "test", Kind: mailbox.Outbound, Enabled: true,
		Outbound: &mailbox.OutboundSettings{
			Server:   mailbox.Server{Host: s.Host(), Port: s.Port(), Security: sec, AllowPlaintext: sec == mailbox.SecurityPlaintext},
			From:     mailbox.Identity{Address: "desk@example.com"},
			HELOName: "client.example.com",
		},
	}
}

func newTransport(t *testing.T, ca *mailtest.CA, opts smtp.Options) *smtp.Transport {
	t.Helper()
	if ca != nil {
		opts.RootCAs = ca.Pool()
	}
	if opts.CommandTimeout == 0 {
		opts.CommandTimeout = 10 * time.Second
	}
	tr := smtp.New(opts)
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

type body string

func (b body) WriteTo(w io.Writer) (int64, error) {
	n, err := io.WriteString(w, string(b))
	return int64(n), err
}

const msg = body("From: desk@example.com\r\nTo: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n.dot line\r\n")

func env(to ...string) smtp.Envelope { return smtp.Envelope{From: "desk@example.com", To: to} }

func ca(t *testing.T) *mailtest.CA {
	t.Helper()
	c, err := mailtest.DefaultCA()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSendStartTLSAuthAndReuse(t *testing.T) {
	s := startServer(t, mailtest.SMTPOptions{Security: mailtest.SMTPStartTLS, Users: map[string]string{"u": "p"}})
	mb := box(s, mailbox.SecuritySTARTTLS)
	mb.Outbound.Credentials = mailbox.Credentials{Username: "u", Password: mailbox.NewSecret("p")}
	tr := newTransport(t, ca(t), smtp.Options{})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		res, err := tr.Send(ctx, mb, env("a@example.org"), msg)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Accepted) != 1 || res.Response == "" {
			t.Fatalf("result %+v", res)
		}
	}
	got := s.Messages()
	if len(got) != 3 {
		t.Fatalf("%d messages", len(got))
	}
	m := got[0]
	if !m.TLS || m.User != "u" || m.Mechanism != "PLAIN" || m.Helo != "client.example.com" || m.From != "desk@example.com" {
		t.Fatalf("message %+v", m)
	}
	if !bytes.Contains(m.Data, []byte("\r\n.dot line\r\n")) {
		t.Fatalf("dot stuffing lost: %q", m.Data)
	}
	if n := s.Connections(); n != 1 {
		t.Fatalf("pool should reuse one connection, server saw %d", n)
	}
	if st := tr.Stats("mb"); st.Live != 1 || st.Idle != 1 || st.Max != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMechanisms(t *testing.T) {
	s := startServer(t, mailtest.SMTPOptions{Security: mailtest.SMTPImplicitTLS, Users: map[string]string{"u": "p"}})
	for _, mech := range []mailbox.AuthMechanism{mailbox.AuthPlain, mailbox.AuthLogin, mailbox.AuthCRAMMD5} {
		t.Run(string(mech), func(t *testing.T) {
			mb := box(s, mailbox.SecurityTLS)
			mb.Outbound.Credentials = mailbox.Credentials{Username: "u", Password: mailbox.NewSecret("p"), Mechanism: mech}
			tr := newTransport(t, ca(t), smtp.Options{})
			if _, err := tr.Send(context.Background(), mb, env("a@example.org"), msg); err != nil {
				t.Fatal(err)
			}
			got := s.Messages()
			if m := got[len(got)-1]; m.Mechanism != strings.ToUpper(string(mech)) || !m.TLS {
				t.Fatalf("got %+v", m)
			}
		})
	}
}

type tokens struct {
	mu          sync.Mutex
	toks        []string
	invalidated int
}

func (k *tokens) Token(context.Context) (mailbox.Secret, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return mailbox.NewSecret(k.toks[0]), nil
}

func (k *tokens) InvalidateToken() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.invalidated++
	if len(k.toks) > 1 {
		k.toks = k.toks[1:]
	}
}

func TestXOAUTH2RefreshesOnce(t *testing.T) {
	s := startServer(t, mailtest.SMTPOptions{Security: mailtest.SMTPStartTLS, Tokens: map[string]string{"u@example.com": "fresh"}})
	mb := box(s, mailbox.SecuritySTARTTLS)
	src := &tokens{toks: []string{"stale", "fresh"}}
	mb.Outbound.Credentials = mailbox.Credentials{Username: "u@example.com", OAuth2: src}
	tr := newTransport(t, ca(t), smtp.Options{})
	if _, err := tr.Send(context.Background(), mb, env("a@example.org"), msg); err != nil {
		t.Fatal(err)
	}
	if src.invalidated != 1 {
		t.Fatalf("invalidated %d times", src.invalidated)
	}
	if total, failed := s.AuthAttempts(); total != 2 || failed != 1 {
		t.Fatalf("auth attempts %d failed %d", total, failed)
	}
	// A token refused twice is an auth error, after exactly one retry.
	src2 := &tokens{toks: []string{"bad"}}
	mb2 := box(s, mailbox.SecuritySTARTTLS)
	mb2.ID = "mb2"
	mb2.Outbound.Credentials = mailbox.Credentials{Username: "u@example.com", OAuth2: src2}
	_, err := tr.Send(context.Background(), mb2, env("a@example.org"), msg)
	if !errors.Is(err, transport.ErrAuth) || src2.invalidated != 1 {
		t.Fatalf("err %v, invalidated %d", err, src2.invalidated)
	}
}

func TestFaults(t *testing.T) {
	other, err := mailtest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		opts     mailtest.SMTPOptions
		sec      mailbox.Security
		user     bool
		class    transport.Class
		op       string
		code     int
		trust    *mailtest.CA
		timeouts bool
	}{
		{name: "421 at connect", opts: mailtest.SMTPOptions{Faults: mailtest.SMTPFaults{Greeting: &mailtest.Reply{Code: 421, Enhanced: "4.3.2", Message: "try later"}}}, sec: mailbox.SecurityPlaintext, class: transport.Temporary, op: "greeting", code: 421},
		{name: "451 on RCPT", opts: mailtest.SMTPOptions{Faults: mailtest.SMTPFaults{Rcpt: map[string]mailtest.Reply{"a@example.org": {Code: 451, Enhanced: "4.7.1", Message: "greylisted"}}}}, sec: mailbox.SecurityPlaintext, class: transport.Temporary, op: "rcpt", code: 451},
		{name: "550 on MAIL", opts: mailtest.SMTPOptions{Faults: mailtest.SMTPFaults{Mail: &mailtest.Reply{Code: 550, Message: "sender refused"}}}, sec: mailbox.SecurityPlaintext, class: transport.Permanent, op: "mail", code: 550},
		{name: "drop in DATA", opts: mailtest.SMTPOptions{Faults: mailtest.SMTPFaults{DropInData: true}}, sec: mailbox.SecurityPlaintext, class: transport.Temporary, op: "data"},
		{name: "slower than the deadline", opts: mailtest.SMTPOptions{Faults: mailtest.SMTPFaults{HangInData: true}}, sec: mailbox.SecurityPlaintext, class: transport.Temporary, op: "data", timeouts: true},
		{name: "blackholed", opts: mailtest.SMTPOptions{Faults: mailtest.SMTPFaults{Blackhole: true}}, sec: mailbox.SecurityPlaintext, class: transport.Temporary, op: "greeting", timeouts: true},
		{name: "auth failure", opts: mailtest.SMTPOptions{Security: mailtest.SMTPStartTLS, Users: map[string]string{"u": "other"}}, sec: mailbox.SecuritySTARTTLS, user: true, class: transport.Auth, op: "auth", code: 535},
		{name: "wrong CA starttls", opts: mailtest.SMTPOptions{Security: mailtest.SMTPStartTLS}, sec: mailbox.SecuritySTARTTLS, class: transport.TLS, op: "starttls", trust: other},
		{name: "wrong CA implicit", opts: mailtest.SMTPOptions{Security: mailtest.SMTPImplicitTLS}, sec: mailbox.SecurityTLS, class: transport.TLS, op: "tls", trust: other},
		{name: "no STARTTLS offered", opts: mailtest.SMTPOptions{Security: mailtest.SMTPPlain}, sec: mailbox.SecuritySTARTTLS, class: transport.TLS, op: "starttls"},
		{name: "implicit TLS against plaintext", opts: mailtest.SMTPOptions{}, sec: mailbox.SecurityTLS, class: transport.TLS, op: "tls"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, tc.opts)
			mb := box(s, tc.sec)
			if tc.user {
				mb.Outbound.Credentials = mailbox.Credentials{Username: "u", Password: mailbox.NewSecret("secret-pw")}
			}
			trust := tc.trust
			if trust == nil {
				trust = ca(t)
			}
			o := smtp.Options{}
			if tc.timeouts {
				o.CommandTimeout, o.DataTimeout = 300*time.Millisecond, 300*time.Millisecond
			}
			tr := newTransport(t, trust, o)
			_, err := tr.Send(context.Background(), mb, env("a@example.org"), msg)
			var te *transport.Error
			if !errors.As(err, &te) {
				t.Fatalf("want *transport.Error, got %v", err)
			}
			if te.Class != tc.class || te.Op != tc.op || (tc.code != 0 && te.Code != tc.code) {
				t.Fatalf("got class %v op %q code %d: %v", te.Class, te.Op, te.Code, err)
			}
			if strings.Contains(err.Error(), "secret-pw") {
				t.Fatal("password leaked into the error")
			}
			if te.Hint == "" && te.Code == 0 {
				t.Fatalf("no hint: %v", err)
			}
			if len(s.Messages()) != 0 {
				t.Fatal("message recorded despite the fault")
			}
			if st := tr.Stats("mb"); st.Live != 0 && tc.op != "rcpt" && tc.op != "mail" {
				t.Fatalf("broken connection kept: %+v", st)
			}
		})
	}
}

func TestPartialRecipients(t *testing.T) {
	s := startServer(t, mailtest.SMTPOptions{Faults: mailtest.SMTPFaults{Rcpt: map[string]mailtest.Reply{
		"b@example.org": {Code: 550, Enhanced: "5.1.1", Message: "no such user"},
	}}})
	tr := newTransport(t, nil, smtp.Options{})
	res, err := tr.Send(context.Background(), box(s, mailbox.SecurityPlaintext), env("a@example.org", "b@example.org", "c@example.org"), msg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Accepted) != 2 || len(res.Rejected) != 1 {
		t.Fatalf("result %+v", res)
	}
	r := res.Rejected[0]
	if r.Address != "b@example.org" || r.Err.Class != transport.Permanent || r.Err.Code != 550 || r.Err.Enhanced != "5.1.1" {
		t.Fatalf("rejected %+v %v", r, r.Err)
	}
	got := s.Messages()
	if len(got) != 1 || strings.Join(got[0].To, ",") != "a@example.org,c@example.org" {
		t.Fatalf("server got %+v", got)
	}
	// The connection survives refused recipients and is reused.
	if _, err := tr.Send(context.Background(), box(s, mailbox.SecurityPlaintext), env("a@example.org"), msg); err != nil {
		t.Fatal(err)
	}
	if s.Connections() != 1 {
		t.Fatalf("%d connections", s.Connections())
	}
}

func TestPlaintextNeedsOptIn(t *testing.T) {
	s := startServer(t, mailtest.SMTPOptions{})
	mb := box(s, mailbox.SecurityPlaintext)
	mb.Outbound.Server.AllowPlaintext = false
	tr := newTransport(t, nil, smtp.Options{})
	_, err := tr.Send(context.Background(), mb, env("a@example.org"), msg)
	if !errors.Is(err, transport.ErrPolicy) {
		t.Fatalf("got %v", err)
	}
	if s.Connections() != 0 {
		t.Fatal("connected despite the policy")
	}
}

func TestPoolCapAndIdleTimeout(t *testing.T) {
	s := startServer(t, mailtest.SMTPOptions{})
	mb := box(s, mailbox.SecurityPlaintext)
	mb.Outbound.MaxConnections = 2
	// The idle timeout must not pass between c1.Release and the next Conn
	// (that reuse is asserted), which a loaded machine can stretch past
	// 50 ms; a second still lets the test wait for it below.
	tr := newTransport(t, nil, smtp.Options{IdleTimeout: time.Second})
	ctx := context.Background()
	c1, err := tr.Conn(ctx, mb)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := tr.Conn(ctx, mb)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := tr.Conn(short, mb); !errors.Is(err, transport.ErrTemporary) {
		t.Fatalf("third connection beyond the cap: %v", err)
	}
	c1.Release()
	c3, err := tr.Conn(ctx, mb)
	if err != nil {
		t.Fatal(err)
	}
	if s.Connections() != 2 {
		t.Fatalf("released connection not reused: %d", s.Connections())
	}
	c2.Release()
	c3.Release()
	// Idle connections close after the idle timeout.
	deadline := time.Now().Add(30 * time.Second)
	for tr.Stats("mb").Live != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("idle connections not closed: %+v", tr.Stats("mb"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// And a later send dials again.
	if _, err := tr.Send(ctx, mb, env("a@example.org"), msg); err != nil {
		t.Fatal(err)
	}
}

func TestProbe(t *testing.T) {
	s := startServer(t, mailtest.SMTPOptions{Security: mailtest.SMTPStartTLS, Users: map[string]string{"u": "p"}, Domain: "mx.example.net"})
	mb := box(s, mailbox.SecuritySTARTTLS)
	mb.Outbound.Credentials = mailbox.Credentials{Username: "u", Password: mailbox.NewSecret("p")}
	tr := newTransport(t, ca(t), smtp.Options{})
	rep, err := tr.Probe(context.Background(), mb)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rep.Greeting, "220 mx.example.net") || rep.TLSVersion == "" || !rep.Authenticated || rep.AuthMechanism != "PLAIN" {
		t.Fatalf("report %+v", rep)
	}
	if len(s.Messages()) != 0 {
		t.Fatal("probe sent a message")
	}
	mb.Outbound.Credentials.Password = mailbox.NewSecret("wrong")
	rep, err = tr.Probe(context.Background(), mb)
	if !errors.Is(err, transport.ErrAuth) || rep.TLSVersion == "" || rep.Authenticated {
		t.Fatalf("report %+v err %v", rep, err)
	}
}

// Regression: over implicit TLS the greeting was read from the raw
// connection, so the report held TLS handshake bytes instead of "220 ...".
func TestProbeImplicitTLSGreeting(t *testing.T) {
	s := startServer(t, mailtest.SMTPOptions{Security: mailtest.SMTPImplicitTLS, Domain: "mx.example.net"})
	tr := newTransport(t, ca(t), smtp.Options{})
	rep, err := tr.Probe(context.Background(), box(s, mailbox.SecurityTLS))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rep.Greeting, "220 mx.example.net") || rep.TLSVersion == "" {
		t.Fatalf("greeting %q tls %q", rep.Greeting, rep.TLSVersion)
	}
}

func TestPolicyRefusesLoopback(t *testing.T) {
	s := startServer(t, mailtest.SMTPOptions{})
	tr := newTransport(t, nil, smtp.Options{Net: transport.Net{Policy: transport.PublicOnly}})
	_, err := tr.Probe(context.Background(), box(s, mailbox.SecurityPlaintext))
	if !errors.Is(err, transport.ErrPolicy) || s.Connections() != 0 {
		t.Fatalf("got %v", err)
	}
}

func TestPooledConnectionDroppedByServerIsRedialed(t *testing.T) {
	s := startServer(t, mailtest.SMTPOptions{})
	mb := box(s, mailbox.SecurityPlaintext)
	tr := newTransport(t, nil, smtp.Options{})
	ctx := context.Background()
	if _, err := tr.Send(ctx, mb, env("a@example.org"), msg); err != nil {
		t.Fatal(err)
	}
	s.DropConnections() // the idle pooled connection dies server-side
	if _, err := tr.Send(ctx, mb, env("b@example.org"), msg); err != nil {
		t.Fatalf("send over a dropped pooled connection: %v", err)
	}
	if s.Connections() != 2 || len(s.Messages()) != 2 {
		t.Fatalf("connections %d messages %d", s.Connections(), len(s.Messages()))
	}
	if st := tr.Stats("mb"); st.Live != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSettingsChangeRetiresThePool(t *testing.T) {
	s := startServer(t, mailtest.SMTPOptions{})
	mb := box(s, mailbox.SecurityPlaintext)
	tr := newTransport(t, nil, smtp.Options{})
	ctx := context.Background()
	if _, err := tr.Send(ctx, mb, env("a@example.org"), msg); err != nil {
		t.Fatal(err)
	}
	changed := mb.Clone()
	changed.Outbound.HELOName = "new.example.com"
	if _, err := tr.Send(ctx, changed, env("a@example.org"), msg); err != nil {
		t.Fatal(err)
	}
	got := s.Messages()
	if s.Connections() != 2 || got[1].Helo != "new.example.com" {
		t.Fatalf("connections %d helo %q", s.Connections(), got[1].Helo)
	}
}
