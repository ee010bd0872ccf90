package correio_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/correio-dev/correio/contract"
	"github.com/correio-dev/correio/inbound"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/outbound"
	"github.com/correio-dev/correio/store"
	"github.com/correio-dev/correio/store/memory"
	"github.com/correio-dev/correio/store/secrets"
	"github.com/correio-dev/correio/store/sqlite"
	"github.com/correio-dev/correio/store/sqlstore"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/imap"
	"github.com/correio-dev/correio/transport/smtp"
)

// The secrets of the leak test: a password that is not ASCII (IMAP sends
// it as a literal), an OAuth2 access token, refresh token and client
// secret.
const (
	leakUser     = "leak-user@example.com"
	leakPassword = "Zq9-pässwörd-7731"
	leakToken    = "ya29.LEAK-access-token-4242"
	leakRefresh  = "1//LEAK-refresh-token-99"
	leakClient   = "LEAK-client-secret-55"
)

// leakNeedles are the forms a leak would take: each secret as is, IMAP
// quoted, and base64 (standard, unpadded and URL alphabets) alone and in
// the SASL blobs a server echoes (PLAIN, LOGIN, XOAUTH2).
func leakNeedles() map[string]string {
	n := map[string]string{}
	blobs := map[string]string{
		"password":      leakPassword,
		"token":         leakToken,
		"refresh token": leakRefresh,
		"client secret": leakClient,
		"PLAIN blob":    "\x00" + leakUser + "\x00" + leakPassword,
		"PLAIN blob+id": leakUser + "\x00" + leakUser + "\x00" + leakPassword,
		"XOAUTH2 blob":  "user=" + leakUser + "\x01auth=Bearer " + leakToken + "\x01\x01",
	}
	for name, b := range blobs {
		if !strings.Contains(name, "blob") {
			n[b] = name
		}
		for encName, enc := range map[string]*base64.Encoding{"base64": base64.StdEncoding, "raw base64": base64.RawStdEncoding, "url base64": base64.URLEncoding} {
			n[enc.EncodeToString([]byte(b))] = encName + " " + name
		}
	}
	return n
}

// syncBuffer collects an output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// outputs gathers everything the library gave the host, each rendered
// with every fmt verb and as JSON.
type outputs struct {
	mu   sync.Mutex
	list map[string][]string // source -> texts
}

func (o *outputs) add(source string, v any) {
	j, err := json.Marshal(v)
	if err != nil {
		j = []byte(err.Error())
	}
	s := fmt.Sprintf("%s\n%v\n%+v\n%#v\n%q\n%x\n", v, v, v, v, v, v) + string(j)
	if e, ok := v.(error); ok && e != nil {
		s += "\n" + e.Error()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.list[source] = append(o.list[source], s)
}

// credCatalog is the host's catalog: the SQLite one, with the OAuth2 token
// source attached to the mailbox that uses it (token sources live in the
// host, not in the database).
type credCatalog struct {
	*sqlstore.Catalog
	tokens map[mailbox.ID]mailbox.TokenSource
}

func (c credCatalog) Mailbox(id mailbox.ID) (*mailbox.Mailbox, bool) {
	m, ok := c.Catalog.Mailbox(id)
	if !ok || c.tokens[id] == nil {
		return m, ok
	}
	m = m.Clone()
	m.Outbound.Credentials.OAuth2 = c.tokens[id]
	return m, true
}

// TestNoSecretInAnyOutput runs both engines against servers that refuse
// the logins, some quoting the client's credentials back, with known
// secrets; then searches every output for them: errors (Probe, Health,
// events), Health in every fmt verb and JSON, events, the slog lines, the
// IMAP Debug trace, the outbox records and the SQLite files on disk.
func TestNoSecretInAnyOutput(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	out := &outputs{list: map[string][]string{}}
	var logs, trace syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	// The token endpoint gives the access token for the refresh token.
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600,"refresh_token":%q}`, leakToken, leakRefresh)
	}))
	defer tokenSrv.Close()
	newTokens := func() *transport.OAuth2Tokens {
		return transport.NewOAuth2Tokens(&oauth2.Config{ClientID: "leak-client", ClientSecret: leakClient,
			Endpoint: oauth2.Endpoint{TokenURL: tokenSrv.URL}}, &oauth2.Token{RefreshToken: leakRefresh})
	}

	key := make([]byte, 32)
	_, _ = rand.Read(key)
	keys, err := secrets.NewKeyring("k1", map[string][]byte{"k1": key})
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "correio.db"), sqlite.Options{Secrets: keys})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cat := st.Catalog()

	// IMAP: one server quoting the credentials, one refusing them.
	echoIMAP, err := mailtest.NewIMAPServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer echoIMAP.Close()
	echoIMAP.AddUser(leakUser, leakPassword)
	echoIMAP.SetToken(leakUser, leakToken)
	echoIMAP.SetLoginEcho(true)
	refIMAP, err := mailtest.NewIMAPServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer refIMAP.Close()
	refIMAP.AddUser(leakUser, leakPassword)
	refIMAP.SetLoginRefused(true)

	in := func(id string, srv *mailtest.IMAPServer, cr mailbox.Credentials) *mailbox.Mailbox {
		return &mailbox.Mailbox{ID: mailbox.ID(id), Description: id, Kind: mailbox.Inbound, Enabled: true,
			Inbound: &mailbox.InboundSettings{Server: mailbox.Server{Host: srv.Host(), Port: srv.Port(), Security: mailbox.SecurityPlaintext, AllowPlaintext: true},
				Credentials: cr}}
	}
	pw := mailbox.NewSecret(leakPassword)
	inboxes := []*mailbox.Mailbox{
		in("in-login-echo", echoIMAP, mailbox.Credentials{Username: leakUser, Password: pw, Mechanism: mailbox.AuthLogin}),
		in("in-plain-echo", echoIMAP, mailbox.Credentials{Username: leakUser, Password: pw, Mechanism: mailbox.AuthPlain}),
		in("in-xoauth2-echo", echoIMAP, mailbox.Credentials{Username: leakUser, Mechanism: mailbox.AuthXOAUTH2, OAuth2: newTokens()}),
		in("in-login-refused", refIMAP, mailbox.Credentials{Username: leakUser, Password: pw, Mechanism: mailbox.AuthLogin}),
	}
	for _, m := range inboxes {
		if m.Inbound.Credentials.OAuth2 == nil { // the stored ones: sealed in the file
			if err := cat.PutMailbox(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}

	// SMTP: one server quoting the AUTH data, one refusing it.
	ca, err := mailtest.DefaultCA()
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]string{leakUser: leakPassword}
	toks := map[string]string{leakUser: leakToken}
	echoSMTP, err := mailtest.NewSMTPServer(mailtest.SMTPOptions{Security: mailtest.SMTPStartTLS, CA: ca, Users: users, Tokens: toks, Faults: mailtest.SMTPFaults{EchoAuth: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer echoSMTP.Close()
	refSMTP, err := mailtest.NewSMTPServer(mailtest.SMTPOptions{Security: mailtest.SMTPStartTLS, CA: ca, Users: users, Faults: mailtest.SMTPFaults{RejectAuth: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer refSMTP.Close()
	outb := func(id string, srv *mailtest.SMTPServer, cr mailbox.Credentials) *mailbox.Mailbox {
		return &mailbox.Mailbox{ID: mailbox.ID(id), Description: id, Kind: mailbox.Outbound, Enabled: true,
			Outbound: &mailbox.OutboundSettings{Server: mailbox.Server{Host: srv.Host(), Port: srv.Port(), Security: mailbox.SecuritySTARTTLS},
				Credentials: cr, From: mailbox.Identity{Address: "desk@example.com"}, HELOName: "client.example.com"}}
	}
	outboxes := []*mailbox.Mailbox{
		outb("out-plain-echo", echoSMTP, mailbox.Credentials{Username: leakUser, Password: pw, Mechanism: mailbox.AuthPlain}),
		outb("out-login-echo", echoSMTP, mailbox.Credentials{Username: leakUser, Password: pw, Mechanism: mailbox.AuthLogin}),
		outb("out-xoauth2-echo", echoSMTP, mailbox.Credentials{Username: leakUser, Mechanism: mailbox.AuthXOAUTH2, OAuth2: newTokens()}),
		outb("out-plain-refused", refSMTP, mailbox.Credentials{Username: leakUser, Password: pw, Mechanism: mailbox.AuthPlain}),
	}
	for _, m := range outboxes {
		if err := cat.PutMailbox(ctx, m); err != nil {
			t.Fatalf("%s: %v", m.ID, err)
		}
	}
	if err := cat.PutContract(ctx, &contract.Contract{ID: "acme", Name: "ACME", OutboundMailbox: "out-plain-echo"}); err != nil {
		t.Fatal(err)
	}
	if err := cat.SaveRefreshToken(ctx, "out-xoauth2-echo", mailbox.NewSecret(leakRefresh)); err != nil {
		t.Fatal(err)
	}
	xoTokens := newTokens()
	out.add("token source", xoTokens)
	hostCat := credCatalog{Catalog: cat, tokens: map[mailbox.ID]mailbox.TokenSource{"out-xoauth2-echo": xoTokens}}

	// The engines.
	imapCfg := &imap.Config{Timeout: 5 * time.Second, Debug: &trace, Logger: logger}
	// The poller's catalog also holds the XOAUTH2 mailbox, whose token
	// source lives in the host.
	inCat := memory.NewCatalog()
	for _, m := range inboxes {
		if err := inCat.PutMailbox(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	poller, err := inbound.New(inbound.Options{Store: st.Inbound(), Catalog: inCat, IMAP: imapCfg, Logger: logger,
		Handler: inbound.HandlerFunc(func(context.Context, *inbound.Delivery) error { return nil }),
		OnEvent: func(e inbound.Event) { out.add("inbound event", e) }})
	if err != nil {
		t.Fatal(err)
	}
	tr := smtp.New(smtp.Options{RootCAs: ca.Pool(), CommandTimeout: 5 * time.Second, Logger: logger})
	sender, err := outbound.New(outbound.Options{Outbox: st.Outbox(), Catalog: hostCat, Transport: tr, Logger: logger,
		OnEvent: func(e outbound.Event) { out.add("outbound event", e) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range outboxes {
		id, err := sender.Enqueue(ctx, store.Message{Mailbox: m.ID, Subject: "Request opened", Text: "Hello",
			To: []store.Address{{Address: "customer@example.org"}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	runCtx, stopPoller := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- poller.Run(runCtx) }()

	// Wait until every mailbox failed at least once, with its reason.
	deadline := time.Now().Add(20 * time.Second)
	for {
		failed := 0
		for _, m := range inboxes {
			if h, err := poller.Health(ctx, m.ID); err == nil && h.LastError != "" {
				failed++
			}
		}
		for _, id := range ids {
			if r, err := st.Outbox().Get(ctx, id); err == nil && r.LastError != "" {
				failed++
			}
		}
		if failed == len(inboxes)+len(ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d mailboxes failed in time", failed, len(inboxes)+len(ids))
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Everything the host can read.
	echoed := 0
	for _, m := range inboxes {
		h, _ := poller.Health(ctx, m.ID)
		out.add("inbound health", h)
		t.Logf("%s: %s", m.ID, h.LastError)
		if strings.Contains(h.LastError, "Authentication failed: ") {
			echoed++
		}
		rep, err := poller.Probe(ctx, m)
		out.add("inbound probe", err)
		out.add("inbound probe report", rep)
		if err == nil {
			t.Errorf("%s: probe succeeded", m.ID)
		}
	}
	inAll, _ := poller.HealthAll(ctx)
	out.add("inbound health all", inAll)
	for i, m := range outboxes {
		h, err := sender.Health(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		out.add("outbound health", h)
		t.Logf("%s: %s", m.ID, h.LastError)
		if strings.Contains(h.LastError, "Authentication failed: ") {
			echoed++
		}
		r, err := st.Outbox().Get(ctx, ids[i])
		if err != nil {
			t.Fatal(err)
		}
		out.add("outbox record", r)
		probeBox, _ := hostCat.Mailbox(m.ID)
		rep, err := tr.Probe(ctx, probeBox)
		out.add("smtp probe", err)
		out.add("smtp probe report", rep)
		if err == nil {
			t.Errorf("%s: probe succeeded", m.ID)
		}
	}
	all, err := sender.HealthAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out.add("outbound health all", all)
	out.add("mailbox", inboxes[2])
	out.add("mailbox", outboxes[0])

	stopPoller()
	if err := <-done; err != nil && err != context.Canceled {
		t.Logf("poller: %v", err)
	}
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = sender.Stop(stopCtx)
	out.add("slog", logs.String())
	out.add("imap debug trace", trace.String())

	// The servers did quote the credentials, so the test saw them pass.
	if echoed != 6 {
		t.Errorf("%d of the 6 echoing mailboxes report the server's quoted refusal", echoed)
	}
	if !strings.Contains(trace.String(), "Authentication failed: LOGIN") || !strings.Contains(trace.String(), transport.Redacted) {
		t.Errorf("the trace does not show the redacted echo:\n%s", trace.String())
	}

	needles := leakNeedles()
	for source, texts := range out.list {
		for _, s := range texts {
			for needle, what := range needles {
				if strings.Contains(s, needle) {
					t.Errorf("%s shows the %s: %s", source, what, excerpt(s, needle))
				}
			}
		}
	}
	// The database files, WAL included, while open and after closing.
	checkFiles := func(when string) {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		if len(files) == 0 {
			t.Fatal("no database file")
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for needle, what := range needles {
				if bytes.Contains(b, []byte(needle)) {
					t.Errorf("%s %s holds the %s", when, filepath.Base(f), what)
				}
			}
		}
	}
	checkFiles("open")
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	checkFiles("closed")
	if len(out.list["inbound event"]) == 0 || len(out.list["outbound event"]) == 0 || !strings.Contains(logs.String(), "Authentication failed") {
		t.Errorf("outputs missing: %d inbound events, %d outbound events, logs %d bytes", len(out.list["inbound event"]), len(out.list["outbound event"]), len(logs.String()))
	}
}

func excerpt(s, needle string) string {
	i := strings.Index(s, needle)
	from, to := max(i-80, 0), min(i+len(needle)+80, len(s))
	return s[from:to]
}
