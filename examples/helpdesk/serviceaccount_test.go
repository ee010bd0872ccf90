package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/gmail"
)

const saEmail = "desk@project.iam.gserviceaccount.com"

// saKeyJSON is a key file as Google Cloud issues it, for the local Gmail
// server's token endpoint.
func saKeyJSON(t *testing.T, tokenURL string) ([]byte, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{"type": "service_account", "project_id": "desk", "private_key_id": "k1",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "client_email": saEmail,
		"client_id": "1234567890", "token_uri": tokenURL})
	return b, key
}

// TestServiceAccountForGmailMailbox: a Gmail API mailbox signs in with a
// service account's domain-wide delegation: the key pasted (or read from
// a path) is sealed with the password keyring, never shown again, and
// gives the Gmail transport tokens acting as the mailbox's address.
func TestServiceAccountForGmailMailbox(t *testing.T) {
	e := newOAuthEnv(t, mailtest.OAuthOptions{})
	ctx := context.Background()
	gs := mailtest.NewGmailServer()
	t.Cleanup(gs.Close)
	gs.AddUser(oauthAccount)
	keyJSON, key := saKeyJSON(t, gs.TokenURL())
	gs.AddServiceAccount(saEmail, &key.PublicKey, gmail.ScopeModify, gmail.ScopeSend)
	pool := x509.NewCertPool()
	pool.AddCert(gs.Certificate())
	e.app.oauth.httpClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	c := e.client()

	form := oauthInboundForm()
	form.Set("auth", authService)
	resp, body := e.post(c, e.srv.URL+"/mailboxes/new?lang=en", form)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `href="#f-auth-sakey"`) || strings.Contains(body, `href="#f-auth-tenant"`) {
		t.Fatalf("service account without a key: %d\n%s", resp.StatusCode, body)
	}
	form.Set("auth.sakey", `{"type":"authorized_user","client_id":"x","private_key":"-----BEGIN PRIVATE KEY-----secret-bytes"}`)
	resp, body = e.post(c, e.srv.URL+"/mailboxes/new?lang=en", form)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `href="#f-auth-sakey"`) || strings.Contains(body, "secret-bytes") {
		t.Fatalf("a key file of another kind: %d (echoed: %v)\n%s", resp.StatusCode, strings.Contains(body, "secret-bytes"), body)
	}
	form.Set("auth.sakey", string(keyJSON))
	if resp, body = e.post(c, e.srv.URL+"/mailboxes/new?lang=en", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save with a key: %d\n%s", resp.StatusCode, body)
	}
	m := e.setTransport("Contoso support", mailbox.TransportGmail)

	// The key is sealed: not in the database file, not on the form.
	var k struct {
		PrivateKey string `json:"private_key"`
	}
	_ = json.Unmarshal(keyJSON, &k)
	pemLine := strings.Split(k.PrivateKey, "\n")[1]
	for _, f := range []string{e.dbPath, e.dbPath + "-wal"} {
		if b, _ := os.ReadFile(f); bytes.Contains(b, []byte(pemLine)) {
			t.Fatalf("the private key is stored in clear in %s", filepath.Base(f))
		}
	}
	_, page := e.get(c, e.srv.URL+"/mailboxes/"+string(m.ID)+"?lang=pt-BR")
	if strings.Contains(page, pemLine) || !strings.Contains(page, "Uma chave de "+saEmail+" está salva") ||
		!strings.Contains(page, `id="auth-service" checked`) {
		t.Fatalf("edit form:\n%s", page)
	}

	// The Gmail transport gets tokens acting as the mailbox.
	src := gmail.NewSource(&gmail.Config{BaseURL: gs.URL, RootCAs: pool, Timeout: 30 * time.Second})
	rep, err := transport.Sources{mailbox.TransportGmail: src}.Check(ctx, m)
	if err != nil || rep.Fact("auth") != "oauth2" {
		t.Fatalf("Gmail check with the service account's tokens: %v (auth %q)", err, rep.Fact("auth"))
	}

	// Saving again without a key keeps it; a key from a file replaces it.
	edit := oauthInboundForm()
	edit.Set("auth", authService)
	if resp, body = e.post(c, e.srv.URL+"/mailboxes/"+string(m.ID)+"?lang=en", edit); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save without a new key: %d\n%s", resp.StatusCode, body)
	}
	if e.app.oauth.serviceEmail(ctx, m.ID) != saEmail {
		t.Fatal("the saved key was lost")
	}
	path := filepath.Join(t.TempDir(), "key.json")
	other, otherKey := saKeyJSON(t, gs.TokenURL())
	other = bytes.Replace(other, []byte(saEmail), []byte("other@project.iam.gserviceaccount.com"), 1)
	gs.AddServiceAccount("other@project.iam.gserviceaccount.com", &otherKey.PublicKey, gmail.ScopeModify, gmail.ScopeSend)
	if err := os.WriteFile(path, other, 0o600); err != nil {
		t.Fatal(err)
	}
	edit.Set("auth.safile", path)
	if resp, body = e.post(c, e.srv.URL+"/mailboxes/"+string(m.ID)+"?lang=en", edit); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save with a key file: %d\n%s", resp.StatusCode, body)
	}
	if got := e.app.oauth.serviceEmail(ctx, m.ID); got != "other@project.iam.gserviceaccount.com" {
		t.Fatalf("key from the file: account %q", got)
	}
	m = e.setTransport("Contoso support", mailbox.TransportGmail)
	if _, err := (transport.Sources{mailbox.TransportGmail: src}).Check(ctx, m); err != nil {
		t.Fatalf("Gmail check with the key from the file: %v", err)
	}

	// Back to a password: the key is forgotten.
	edit = oauthInboundForm()
	edit.Set("auth", authPassword)
	edit.Set("inbound.credentials.password", "pw")
	if resp, body = e.post(c, e.srv.URL+"/mailboxes/"+string(m.ID)+"?lang=en", edit); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save with a password: %d\n%s", resp.StatusCode, body)
	}
	if v, _ := e.app.oauth.settings.Load(ctx, saKey(m.ID)); v.Get("sealed") != "" || v.Get("email") != "" {
		t.Fatal("the key outlived the login method")
	}
}
