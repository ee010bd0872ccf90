package pop3_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/pop3"
)

type staticToken string

func (s staticToken) Token(context.Context) (mailbox.Secret, error) {
	return mailbox.NewSecret(string(s)), nil
}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// listOne opens a session for m and returns the messages listed.
func listAll(t *testing.T, src *pop3.Source, m *mailbox.Mailbox) ([]transport.Item, error) {
	t.Helper()
	s, err := src.Open(ctx5(t), m)
	if err != nil {
		return nil, err
	}
	defer s.Close(context.Background())
	from, _, err := s.Resume(ctx5(t), "", false)
	if err != nil {
		return nil, err
	}
	return s.List(ctx5(t), from)
}

func TestTLSAndAuth(t *testing.T) {
	ca, err := mailtest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	scfg, err := ca.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := mailtest.NewCA()
	trusted := &pop3.Config{TLSConfig: ca.ClientConfig(""), Timeout: 5 * time.Second}
	untrusted := &pop3.Config{TLSConfig: other.ClientConfig(""), Timeout: 5 * time.Second}
	raw := []byte("From: a@example.com\r\nSubject: hi\r\nMessage-ID: <1@x>\r\n\r\n.leading dot\r\nbody\r\n")

	for _, c := range []struct {
		name  string
		opts  mailtest.POP3Options
		sec   mailbox.Security
		mech  mailbox.AuthMechanism
		token bool
		cfg   *pop3.Config
		class transport.Class // 0: works
	}{
		{"implicit-tls-plain", mailtest.POP3Options{TLSConfig: scfg, ImplicitTLS: true}, mailbox.SecurityTLS, "", false, trusted, 0},
		{"stls-userpass", mailtest.POP3Options{TLSConfig: scfg, NoSASL: true}, mailbox.SecuritySTARTTLS, "", false, trusted, 0},
		{"stls-login", mailtest.POP3Options{TLSConfig: scfg}, mailbox.SecuritySTARTTLS, mailbox.AuthLogin, false, trusted, 0},
		{"xoauth2", mailtest.POP3Options{TLSConfig: scfg, ImplicitTLS: true}, mailbox.SecurityTLS, "", true, trusted, 0},
		{"no-capa", mailtest.POP3Options{TLSConfig: scfg, ImplicitTLS: true, NoCAPA: true}, mailbox.SecurityTLS, "", false, trusted, 0},
		{"untrusted-cert", mailtest.POP3Options{TLSConfig: scfg, ImplicitTLS: true}, mailbox.SecurityTLS, "", false, untrusted, transport.TLS},
		{"stls-untrusted", mailtest.POP3Options{TLSConfig: scfg}, mailbox.SecuritySTARTTLS, "", false, untrusted, transport.TLS},
		{"stls-not-offered", mailtest.POP3Options{}, mailbox.SecuritySTARTTLS, "", false, trusted, transport.TLS},
		{"xoauth2-not-offered", mailtest.POP3Options{TLSConfig: scfg, ImplicitTLS: true, NoSASL: true}, mailbox.SecurityTLS, "", true, trusted, transport.Auth},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := newServer(t, &c.opts)
			srv.SetToken("alice", "tok-123")
			if _, err := srv.Deliver("alice", raw); err != nil {
				t.Fatal(err)
			}
			m := inbound("localhost", srv.Port())
			m.Inbound.Server = mailbox.Server{Host: "localhost", Port: srv.Port(), Security: c.sec}
			m.Inbound.Credentials.Mechanism = c.mech
			if c.token {
				m.Inbound.Credentials.Password = mailbox.Secret{}
				m.Inbound.Credentials.OAuth2 = staticToken("tok-123")
			}
			items, err := listAll(t, pop3.NewSource(c.cfg), m)
			if c.class != 0 {
				if transport.ClassOf(err) != c.class {
					t.Fatalf("err %v (class %v), want class %v", err, transport.ClassOf(err), c.class)
				}
				if srv.Logins() != 0 {
					t.Fatal("logged in although the connection is refused")
				}
				return
			}
			if err != nil || len(items) != 1 || items[0].Size != int64(len(raw)) {
				t.Fatalf("items %+v, err %v", items, err)
			}
			if srv.Logins() != 1 {
				t.Fatalf("%d logins", srv.Logins())
			}
		})
	}
}

func TestAuthRefused(t *testing.T) {
	srv := newServer(t, nil)
	m := inbound(srv.Host(), srv.Port())
	m.Inbound.Credentials.Password = mailbox.NewSecret("wrong-password-42")
	_, err := listAll(t, pop3.NewSource(&pop3.Config{Timeout: 5 * time.Second}), m)
	if !errors.Is(err, transport.ErrAuth) {
		t.Fatalf("err %v, want ErrAuth", err)
	}
	if strings.Contains(err.Error(), "wrong-password-42") {
		t.Fatalf("the error shows the password: %v", err)
	}
}

// TestFetchDotStuffingAndDelete: a line starting with a dot arrives
// intact, and delete removes the message from the maildrop at once.
func TestFetchDotStuffingAndDelete(t *testing.T) {
	srv := newServer(t, nil)
	raw := []byte("Subject: dots\r\nMessage-ID: <d@x>\r\n\r\n.\r\n..two\r\n.x\r\nend\r\n")
	if _, err := srv.Deliver("alice", raw); err != nil {
		t.Fatal(err)
	}
	src := pop3.NewSource(&pop3.Config{Timeout: 5 * time.Second})
	s, err := src.Open(ctx5(t), inbound(srv.Host(), srv.Port()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	items, err := s.List(ctx5(t), "")
	if err != nil || len(items) != 1 {
		t.Fatalf("%+v %v", items, err)
	}
	var got []byte
	err = s.Fetch(ctx5(t), items, func(sp *transport.Spool) {
		defer sp.Close()
		b := make([]byte, sp.Size())
		_, _ = sp.Reader().Read(b)
		got = b
	})
	if err != nil || string(got) != string(raw) {
		t.Fatalf("fetched %q, %v", got, err)
	}
	if err := s.Apply(ctx5(t), transport.Action{Kind: mailbox.PostDelete}, []string{items[0].ID}); err != nil {
		t.Fatal(err)
	}
	if n, _ := srv.Messages("alice"); n != 0 {
		t.Fatalf("%d messages left after delete", n)
	}
	if err := s.Apply(ctx5(t), transport.Action{Kind: mailbox.PostDelete}, []string{items[0].ID}); err != nil {
		t.Fatalf("delete twice: %v", err)
	}
	if err := s.Apply(ctx5(t), transport.Action{Kind: mailbox.PostSeen}, []string{"x"}); !errors.Is(err, transport.ErrUnsupported) {
		t.Fatalf("seen: %v", err)
	}
}

func TestValidate(t *testing.T) {
	src := pop3.NewSource(nil)
	m := inbound("pop.example.com", 995)
	m.Inbound.Server = mailbox.Server{Host: "pop.example.com"}
	if err := src.Validate(m); err != nil {
		t.Fatalf("valid mailbox: %v", err)
	}
	for _, c := range []struct {
		path string
		set  func(*mailbox.InboundSettings)
	}{
		{"inbound.post_action", func(in *mailbox.InboundSettings) { in.PostAction = mailbox.PostSeen }},
		{"inbound.post_action", func(in *mailbox.InboundSettings) { in.PostAction, in.MoveTo = mailbox.PostMove, "Done" }},
		{"inbound.folder", func(in *mailbox.InboundSettings) { in.Folder = "Archive" }},
		{"inbound.server.host", func(in *mailbox.InboundSettings) { in.Server.Host = "" }},
		{"inbound.credentials.password", func(in *mailbox.InboundSettings) { in.Credentials.Password = mailbox.Secret{} }},
		{"inbound.start_from", func(in *mailbox.InboundSettings) { in.StartFrom = mailbox.StartUnseen }},
		{"inbound.keep_for", func(in *mailbox.InboundSettings) { in.PostAction, in.KeepFor = mailbox.PostDelete, time.Hour }},
		{"inbound.keep_for", func(in *mailbox.InboundSettings) { in.KeepFor = -time.Hour }},
	} {
		mm := *m
		in := *m.Inbound
		c.set(&in)
		mm.Inbound = &in
		err := src.Validate(&mm)
		var ve *mailbox.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("%s: %v", c.path, err)
		}
		found := false
		for _, fe := range ve.Errors {
			found = found || fe.Path == c.path
		}
		if !found {
			t.Errorf("%s: no field error in %v", c.path, err)
		}
	}
	// Registered under its kind, the registry's Validate reaches it.
	reg := transport.Sources{mailbox.TransportPOP3: src}
	mm := *m
	in := *m.Inbound
	in.PostAction = mailbox.PostSeen
	mm.Inbound = &in
	if err := reg.Validate(&mm); err == nil || !strings.Contains(err.Error(), "post_action") {
		t.Fatalf("through Sources: %v", err)
	}
}

func TestCheck(t *testing.T) {
	for _, noUIDL := range []bool{false, true} {
		srv := newServer(t, &mailtest.POP3Options{NoUIDL: noUIDL})
		for range 2 {
			if _, err := srv.Deliver("alice", []byte("Subject: x\r\n\r\nbody\r\n")); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := pop3.NewSource(&pop3.Config{Timeout: 5 * time.Second}).Check(ctx5(t), inbound(srv.Host(), srv.Port()))
		if err != nil {
			t.Fatal(err)
		}
		want := "uidl"
		if noUIDL {
			want = "content-hash"
		}
		if rep.Kind != mailbox.TransportPOP3 || rep.Fact("messages") != "2" || rep.Fact("cursor") != want ||
			!strings.Contains(rep.Fact("capabilities"), "SASL PLAIN XOAUTH2") || strings.Contains(rep.Fact("capabilities"), "UIDL") == noUIDL {
			t.Fatalf("report %+v", rep)
		}
		if _, ok := rep.Detail.(pop3.ProbeReport); !ok {
			t.Fatalf("detail %T", rep.Detail)
		}
		if n, _ := srv.Messages("alice"); n != 2 {
			t.Fatal("check changed the maildrop")
		}
	}
}

func TestCursor(t *testing.T) {
	c := pop3.MakeCursor(false, []string{"a1", "b2"})
	if c != "pop3/1:u:a1 b2" {
		t.Fatalf("cursor %q", c)
	}
	hash, ids, err := pop3.ParseCursor(c)
	if err != nil || hash || len(ids) != 2 {
		t.Fatalf("%v %v %v", hash, ids, err)
	}
	// The timed form of a retention: "<unix>,<id>", 0 for no time.
	if hash, ids, err := pop3.ParseCursor("pop3/1:ht:1772445600,sha256-ab 0,sha256-cd"); err != nil || !hash || len(ids) != 2 || ids[0] != "sha256-ab" || ids[1] != "sha256-cd" {
		t.Fatalf("timed: %v %v %v", hash, ids, err)
	}
	for _, bad := range []transport.Cursor{"pop3/2:u:a", "imap/1:1:2", "pop3/1:x:a", "pop3/1:a", "pop3/1:ut:a1", "pop3/1:ut:-5,a1", "pop3/1:ut:12,"} {
		if _, _, err := pop3.ParseCursor(bad); !errors.Is(err, transport.ErrCursor) {
			t.Errorf("ParseCursor(%q): %v", bad, err)
		}
	}
}

// TestMaxList: a large maildrop is listed in slices; the cursor of the
// last item of one slice lists the next.
func TestMaxList(t *testing.T) {
	srv := newServer(t, nil)
	for i := range 7 {
		if _, err := srv.Deliver("alice", []byte("Subject: "+string(rune('a'+i))+"\r\n\r\nx\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	src := pop3.NewSource(&pop3.Config{Timeout: 5 * time.Second, MaxList: 3})
	s, err := src.Open(ctx5(t), inbound(srv.Host(), srv.Port()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	var cur transport.Cursor
	seen := map[string]bool{}
	for _, want := range []int{3, 3, 1, 0} {
		items, err := s.List(ctx5(t), cur)
		if err != nil || len(items) != want {
			t.Fatalf("listed %d (%v), want %d", len(items), err, want)
		}
		for _, it := range items {
			if seen[it.ID] {
				t.Fatalf("%s listed twice", it.ID)
			}
			seen[it.ID] = true
			cur = it.Cursor
		}
	}
}

// TestXOAUTH2Refused: a refused token is an Auth error that does not
// show the token, and a refreshing token source is asked once more.
func TestXOAUTH2Refused(t *testing.T) {
	srv := newServer(t, nil)
	srv.SetToken("alice", "good-token-123")
	m := inbound(srv.Host(), srv.Port())
	m.Inbound.Credentials.Password = mailbox.Secret{}
	src := &refreshing{tokens: []string{"stale-token-456", "good-token-123"}}
	m.Inbound.Credentials.OAuth2 = src
	if _, err := listAll(t, pop3.NewSource(&pop3.Config{Timeout: 5 * time.Second}), m); err != nil {
		t.Fatalf("refresh once: %v", err)
	}
	if src.invalidated != 1 {
		t.Fatalf("invalidated %d times", src.invalidated)
	}
	m.Inbound.Credentials.OAuth2 = staticToken("wrong-token-789")
	_, err := listAll(t, pop3.NewSource(&pop3.Config{Timeout: 5 * time.Second}), m)
	if !errors.Is(err, transport.ErrAuth) || strings.Contains(err.Error(), "wrong-token-789") {
		t.Fatalf("err %v", err)
	}
}

type refreshing struct {
	tokens      []string
	invalidated int
}

func (r *refreshing) Token(context.Context) (mailbox.Secret, error) {
	return mailbox.NewSecret(r.tokens[min(r.invalidated, len(r.tokens)-1)]), nil
}

func (r *refreshing) InvalidateToken() { r.invalidated++ }
