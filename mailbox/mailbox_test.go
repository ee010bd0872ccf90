package mailbox_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
)

func validInbound() *mailbox.Mailbox {
	return &mailbox.Mailbox{
		ID: "in-1", Description: "Support ACME", Kind: mailbox.Inbound, Enabled: true,
		Address: "support@acme.example",
		Inbound: &mailbox.InboundSettings{
			Server:      mailbox.Server{Host: "imap.acme.example", Port: 993},
			Credentials: mailbox.Credentials{Username: "support", Password: mailbox.NewSecret("hunter2")},
		},
	}
}

func validOutbound() *mailbox.Mailbox {
	return &mailbox.Mailbox{
		ID: "out-1", Description: "ACME outbound", Kind: mailbox.Outbound, Enabled: true,
		Outbound: &mailbox.OutboundSettings{
			Server:      mailbox.Server{Host: "smtp.acme.example", Port: 587, Security: mailbox.SecuritySTARTTLS},
			Credentials: mailbox.Credentials{Username: "noreply", Password: mailbox.NewSecret("s3cret")},
			From:        mailbox.Identity{Name: "ACME Service Desk", Address: "noreply@acme.example"},
		},
	}
}

func codes(err error) []string {
	var out []string
	for _, fe := range mailbox.FieldErrors(err) {
		out = append(out, fe.Path+"="+string(fe.Code))
	}
	slices.Sort(out)
	return out
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(m *mailbox.Mailbox) *mailbox.Mailbox
		want   []string // path=code, sorted; nil means valid
	}{
		{"valid inbound", func(m *mailbox.Mailbox) *mailbox.Mailbox { return validInbound() }, nil},
		{"valid outbound", func(m *mailbox.Mailbox) *mailbox.Mailbox { return validOutbound() }, nil},
		{"description required", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validInbound()
			m.Description = "  "
			return m
		}, []string{"description=required"}},
		{"kind required", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validInbound()
			m.Kind = mailbox.KindUnset
			m.Inbound = nil
			return m
		}, []string{"kind=required"}},
		{"other kind settings rejected", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validInbound()
			m.Outbound = validOutbound().Outbound
			return m
		}, []string{"outbound=not_allowed"}},
		{"outbound without settings", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validOutbound()
			m.Outbound = nil
			m.Inbound = validInbound().Inbound
			return m
		}, []string{"inbound=not_allowed", "outbound=required"}},
		{"port out of range", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validOutbound()
			m.Outbound.Server.Port = 70000
			return m
		}, []string{"outbound.server.port=out_of_range"}},
		{"negative port", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validInbound()
			m.Inbound.Server.Port = -1
			return m
		}, []string{"inbound.server.port=out_of_range"}},
		{"host required", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validInbound()
			m.Inbound.Server.Host = ""
			return m
		}, []string{"inbound.server.host=required"}},
		{"host with spaces", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validInbound()
			m.Inbound.Server.Host = "imap acme"
			return m
		}, []string{"inbound.server.host=invalid"}},
		{"host with the port", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validInbound()
			m.Inbound.Server.Host = "imap.acme.example:993"
			return m
		}, []string{"inbound.server.host=invalid"}},
		{"host an IPv6 literal", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validInbound()
			m.Inbound.Server.Host = "2001:db8::993"
			return m
		}, nil},
		{"plaintext without opt-in", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validInbound()
			m.Inbound.Server.Security = mailbox.SecurityPlaintext
			return m
		}, []string{"inbound.server.security=insecure"}},
		{"plaintext with opt-in", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validInbound()
			m.Inbound.Server.Security = mailbox.SecurityPlaintext
			m.Inbound.Server.AllowPlaintext = true
			return m
		}, nil},
		{"unknown security", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validOutbound()
			m.Outbound.Server.Security = "ssl3"
			return m
		}, []string{"outbound.server.security=unsupported"}},
		{"bad from address", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validOutbound()
			m.Outbound.From.Address = "not an address"
			return m
		}, []string{"outbound.from.address=bad_address"}},
		{"from with display name refused in address field", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validOutbound()
			m.Outbound.From.Address = "ACME <noreply@acme.example>"
			return m
		}, []string{"outbound.from.address=bad_address"}},
		{"from falls back to mailbox address", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validOutbound()
			m.Outbound.From.Address = ""
			m.Address = "desk@acme.example"
			return m
		}, nil},
		{"from required", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validOutbound()
			m.Outbound.From.Address = ""
			return m
		}, []string{"outbound.from.address=required"}},
		{"header injection in sender name", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validOutbound()
			m.Outbound.From.Name = "ACME\r\nBcc: victim@example.com"
			return m
		}, []string{"outbound.from.name=control_chars"}},
		{"bad reply-to", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validOutbound()
			m.Outbound.ReplyTo = "@@"
			return m
		}, []string{"outbound.reply_to=bad_address"}},
		{"move needs folder", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validInbound()
			m.Inbound.PostAction = mailbox.PostMove
			return m
		}, []string{"inbound.move_to=required"}},
		{"move to the folder read", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validInbound()
			m.Inbound.PostAction = mailbox.PostMove
			m.Inbound.MoveTo = "INBOX"
			return m
		}, []string{"inbound.move_to=conflict"}},
		{"retention without keep", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validInbound()
			m.Inbound.PostAction = mailbox.PostDelete
			m.Inbound.KeepFor = 24 * time.Hour
			return m
		}, []string{"inbound.keep_for=conflict"}},
		{"negative retention", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validInbound()
			m.Inbound.PostAction = mailbox.PostKeep
			m.Inbound.KeepFor = -time.Hour
			return m
		}, []string{"inbound.keep_for=out_of_range"}},
		{"move target without move", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validInbound()
			m.Inbound.MoveTo = "Done"
			return m
		}, []string{"inbound.move_to=conflict"}},
		{"unknown post action, start and idle", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validInbound()
			m.Inbound.PostAction = "archive"
			m.Inbound.StartFrom = "yesterday"
			m.Inbound.Idle = "maybe"
			return m
		}, []string{"inbound.idle=unsupported", "inbound.post_action=unsupported", "inbound.start_from=unsupported"}},
		{"credentials required", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validInbound()
			m.Inbound.Credentials = mailbox.Credentials{}
			return m
		}, []string{"inbound.credentials.password=required", "inbound.credentials.username=required"}},
		{"xoauth2 needs a token source", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validInbound()
			m.Inbound.Credentials = mailbox.Credentials{Username: "u", Mechanism: mailbox.AuthXOAUTH2}
			return m
		}, []string{"inbound.credentials.oauth2=required"}},
		{"imap needs auth", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validInbound()
			m.Inbound.Credentials = mailbox.Credentials{Mechanism: mailbox.AuthNone}
			return m
		}, []string{"inbound.credentials.mechanism=unsupported"}},
		{"smtp relay without auth", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validOutbound()
			m.Outbound.Credentials = mailbox.Credentials{Mechanism: mailbox.AuthNone}
			return m
		}, nil},
		{"rate limit half set", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validOutbound()
			m.Outbound.RateLimit = mailbox.Rate{N: 10}
			return m
		}, []string{"outbound.rate_limit=invalid"}},
		{"rate limit and connections", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validOutbound()
			m.Outbound.RateLimit = mailbox.Rate{N: 100, Per: time.Minute}
			m.Outbound.MaxConnections = 101
			return m
		}, []string{"outbound.max_connections=out_of_range"}},
		{"every problem at once", func(*mailbox.Mailbox) *mailbox.Mailbox {
			m := validOutbound()
			m.Description = ""
			m.Address = "x"
			m.Outbound.Server.Port = 0
			m.Outbound.Server.Host = ""
			m.Outbound.Server.Security = mailbox.SecurityPlaintext
			m.Outbound.HELOName = "bad name!"
			return m
		}, []string{"address=bad_address", "description=required", "outbound.helo_name=invalid", "outbound.server.host=required", "outbound.server.security=insecure"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.mutate(nil)
			err := m.Validate()
			got := codes(err)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Validate() = %v (err %v), want %v", got, err, tt.want)
			}
			if tt.want != nil {
				var fe *mailbox.FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("errors.As(*FieldError) failed on %v", err)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	in := validInbound().Inbound
	if in.FolderOrDefault() != "INBOX" || in.PollIntervalOrDefault() != time.Minute || in.MaxMessageSizeOrDefault() != 50<<20 {
		t.Fatalf("inbound defaults wrong: %q %v %d", in.FolderOrDefault(), in.PollIntervalOrDefault(), in.MaxMessageSizeOrDefault())
	}
	cases := []struct {
		s       mailbox.Server
		tlsPort int
		want    mailbox.Security
	}{
		{mailbox.Server{Port: 993}, 993, mailbox.SecurityTLS},
		{mailbox.Server{Port: 0}, 993, mailbox.SecurityTLS},
		{mailbox.Server{Port: 143}, 993, mailbox.SecuritySTARTTLS},
		{mailbox.Server{Port: 587}, 465, mailbox.SecuritySTARTTLS},
		{mailbox.Server{Port: 25, Security: mailbox.SecurityPlaintext}, 465, mailbox.SecurityPlaintext},
	}
	for _, c := range cases {
		if got := c.s.Effective(c.tlsPort); got != c.want {
			t.Errorf("Effective(%+v) = %q, want %q", c.s, got, c.want)
		}
	}
	out := &mailbox.OutboundSettings{Server: mailbox.Server{Security: mailbox.SecuritySTARTTLS}}
	if out.Port() != 587 || out.MaxConnectionsOrDefault() != 2 {
		t.Fatalf("outbound defaults: port %d conns %d", out.Port(), out.MaxConnectionsOrDefault())
	}
	in2 := &mailbox.InboundSettings{Server: mailbox.Server{Security: mailbox.SecuritySTARTTLS}}
	if in2.Port() != 143 {
		t.Fatalf("imap starttls default port %d", in2.Port())
	}
}

func TestClone(t *testing.T) {
	m := validOutbound()
	c := m.Clone()
	c.Outbound.From.Name = "changed"
	if m.Outbound.From.Name == "changed" {
		t.Fatal("Clone shares outbound settings")
	}
}

func TestSecretNeverPrints(t *testing.T) {
	const pw = "correct-horse-battery"
	m := validInbound()
	m.Inbound.Credentials.Password = mailbox.NewSecret(pw)
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("mailbox", "password", m.Inbound.Credentials.Password, "creds", m.Inbound.Credentials)
	js, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	outputs := []string{
		fmt.Sprint(m.Inbound.Credentials.Password),
		fmt.Sprintf("%v %+v %#v %s %q %x %X", m.Inbound.Credentials.Password, m.Inbound.Credentials.Password,
			m.Inbound.Credentials.Password, m.Inbound.Credentials.Password, m.Inbound.Credentials.Password,
			m.Inbound.Credentials.Password, m.Inbound.Credentials.Password),
		fmt.Sprintf("%v %+v %#v", *m.Inbound, m.Inbound.Credentials, m.Inbound.Credentials),
		m.String(),
		buf.String(),
		string(js),
	}
	for i, o := range outputs {
		if strings.Contains(o, pw) {
			t.Errorf("output %d leaks the secret: %s", i, o)
		}
	}
	if !strings.Contains(outputs[0], "REDACTED") {
		t.Errorf("secret not shown as redacted: %q", outputs[0])
	}
	if m.Inbound.Credentials.Password.Reveal() != pw {
		t.Fatal("Reveal lost the value")
	}
}

func TestSecretJSONRoundTrip(t *testing.T) {
	var s mailbox.Secret
	if err := json.Unmarshal([]byte(`"abc"`), &s); err != nil || s.Reveal() != "abc" {
		t.Fatalf("unmarshal: %v %q", err, s.Reveal())
	}
	if err := json.Unmarshal([]byte(`"[REDACTED]"`), &s); err == nil {
		t.Fatal("redacted placeholder accepted as a secret")
	}
	if err := json.Unmarshal([]byte(`42`), &s); err == nil {
		t.Fatal("number accepted as a secret")
	}
	if !mailbox.NewSecret("").IsZero() || mailbox.NewSecret("").String() != "" {
		t.Fatal("empty secret should be zero and print empty")
	}
}

func TestKindStrings(t *testing.T) {
	for _, k := range []mailbox.Kind{mailbox.Inbound, mailbox.Outbound} {
		got, err := mailbox.ParseKind(k.String())
		if err != nil || got != k {
			t.Fatalf("round trip %v: %v %v", k, got, err)
		}
	}
	if _, err := mailbox.ParseKind("sideways"); err == nil {
		t.Fatal("unknown kind accepted")
	}
}
