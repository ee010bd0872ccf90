package gmail_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/mailtest"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/gmail"
	"github.com/correio-dev/correio/transport/internal/resttest"
	"github.com/correio-dev/correio/transport/transporttest"
)

func sendRaw(t *testing.T, snd *gmail.Sender, m *mailbox.Mailbox, env transport.Envelope, raw []byte) (transport.Result, error) {
	t.Helper()
	return resttest.SendRaw(t, snd, m, env, raw)
}

// TestSend: the raw MIME reaches Gmail untouched (our Message-ID and
// headers), envelope recipients the headers do not name go as Bcc, and
// the copy carries the label SENT.
func TestSend(t *testing.T) {
	srv := newServer(t)
	snd := gmail.NewSender(config(t, srv, transport.Net{}))
	raw := transporttest.Message("send", 1, 2000) // To: desk@example.com
	res, err := sendRaw(t, snd, outboundMailbox(), transport.Envelope{From: desk, To: []string{"desk@example.com", "copy@example.net"}}, raw)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if !slices.Equal(res.Accepted, []string{"desk@example.com", "copy@example.net"}) || !strings.HasPrefix(res.Response, "id ") {
		t.Fatalf("result %+v", res)
	}
	sent := srv.Sent()
	if len(sent) != 1 || !bytes.HasSuffix(sent[0].Raw, raw) || !bytes.HasPrefix(sent[0].Raw, []byte("Bcc: copy@example.net\r\n")) {
		t.Fatalf("sent %d messages; the first does not end with the raw message or lacks the Bcc line", len(sent))
	}
	if !slices.Equal(sent[0].To, []string{"desk@example.com", "copy@example.net"}) {
		t.Fatalf("delivered to %v", sent[0].To)
	}
	if l := srv.Labels(desk, sent[0].ID); !slices.Equal(l, []string{"SENT"}) {
		t.Fatalf("the copy's labels %v", l)
	}
	if n := count(srv.Requests(), "POST /upload/gmail/v1/users/desk@example.com/messages/send", "uploadType=media"); n != 1 {
		t.Fatalf("not sent as a media upload: %v", srv.Requests())
	}
}

// TestSendRecipients: a header recipient missing from the envelope is
// refused before anything is sent; Gmail's refusals are classified and
// reported for every recipient.
func TestSendRecipients(t *testing.T) {
	srv := newServer(t)
	snd := gmail.NewSender(config(t, srv, transport.Net{}))
	raw := transporttest.Message("rcpt", 1, 200)
	res, err := sendRaw(t, snd, outboundMailbox(), transport.Envelope{From: desk, To: []string{"other@example.net"}}, raw)
	if !errors.Is(err, gmail.ErrRecipients) || !errors.Is(err, transport.ErrPermanent) || len(res.Rejected) != 1 {
		t.Fatalf("header-only recipient: %+v %v", res, err)
	}
	if len(srv.Sent()) != 0 {
		t.Fatal("a refused message was sent")
	}
	srv.InjectFault("messages/send", 1, mailtest.GmailFault{Status: http.StatusBadRequest, Reason: "invalidArgument"})
	res, err = sendRaw(t, snd, outboundMailbox(), transport.Envelope{From: desk, To: []string{desk}}, raw)
	if !errors.Is(err, transport.ErrPermanent) || len(res.Rejected) != 1 || res.Rejected[0].Err.Enhanced != "invalidArgument" {
		t.Fatalf("invalid recipients: %+v %v", res, err)
	}
	srv.InjectFault("messages/send", 1, mailtest.GmailFault{Status: http.StatusForbidden, Reason: "forbidden"})
	if res, err = sendRaw(t, snd, outboundMailbox(), transport.Envelope{From: desk, To: []string{desk}}, raw); !errors.Is(err, transport.ErrAuth) || len(res.Rejected) != 1 {
		t.Fatalf("403: %+v %v", res, err)
	}
	srv.InjectFault("messages/send", 1, mailtest.GmailFault{Status: http.StatusTooManyRequests, Reason: "rateLimitExceeded", RetryAfter: time.Hour})
	if res, err = sendRaw(t, snd, outboundMailbox(), transport.Envelope{From: desk, To: []string{desk}}, raw); !errors.Is(err, transport.ErrTemporary) || transport.RetryAfter(err) != time.Hour || len(res.Rejected) != 0 {
		t.Fatalf("429: %+v %v", res, err)
	}
	big := transporttest.Message("big", 1, gmail.MaxMessage+10)
	if _, err = sendRaw(t, snd, outboundMailbox(), transport.Envelope{From: desk, To: []string{desk}}, big); !errors.Is(err, transport.ErrPermanent) {
		t.Fatalf("over 36 MB: %v", err)
	}
	if len(srv.Sent()) != 0 {
		t.Fatal("a refused message was sent")
	}
}

func serviceAccountKey(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// TestServiceAccount: a mailbox without its own token acts through the
// service account's domain-wide delegation: a JWT grant (RS256, the
// account as iss, the mailbox's address as sub, the transport's scope)
// whose token reaches that mailbox only; an account not delegated the
// scope, or signing with another key, is refused as Auth.
func TestServiceAccount(t *testing.T) {
	srv := newServer(t)
	srv.AddUser("sales@example.com")
	const saEmail = "correio@project.iam.gserviceaccount.com"
	key, keyPEM := serviceAccountKey(t)
	srv.AddServiceAccount(saEmail, &key.PublicKey, gmail.ScopeModify)
	file, _ := json.Marshal(map[string]string{"type": "service_account", "client_email": saEmail, "private_key": string(keyPEM),
		"private_key_id": "k1", "token_uri": srv.TokenURL()})
	sa, err := gmail.ServiceAccountFromJSON(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config(t, srv, transport.Net{})
	cfg.ServiceAccount = sa
	src := gmail.NewSource(cfg)
	ctx := context.Background()
	for _, user := range []string{desk, "sales@example.com"} {
		m := inboundMailbox()
		m.Address, m.Inbound.Credentials = user, mailbox.Credentials{}
		if err := src.Validate(m); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Deliver(user, transporttest.Message("sa-"+user, 1, 100)); err != nil {
			t.Fatal(err)
		}
		s := openSession(t, src, m)
		from, _, err := s.Resume(ctx, "", false)
		if err != nil {
			t.Fatal(err)
		}
		items, err := s.List(ctx, from)
		if err != nil || len(items) != 1 {
			t.Fatalf("%s through the service account: %d %v", user, len(items), err)
		}
		rep, err := src.Check(ctx, m)
		if err != nil || rep.Fact("auth") != "service account" || rep.Fact("user") != user {
			t.Fatalf("Check: %+v %v", rep, err)
		}
	}
	if n := count(srv.Requests(), "POST /token", ""); n != 2 {
		t.Fatalf("%d token grants, want one per mailbox", n)
	}
	// The scope gmail.send is not delegated: the Sender is refused.
	out := outboundMailbox()
	out.Outbound.Credentials = mailbox.Credentials{}
	if _, err := gmail.NewSender(cfg).Open(ctx, out); !errors.Is(err, transport.ErrAuth) {
		t.Fatalf("an undelegated scope: %v", err)
	}
	// Another key.
	_, otherPEM := serviceAccountKey(t)
	cfg2 := config(t, srv, transport.Net{})
	cfg2.ServiceAccount = &gmail.ServiceAccount{Email: saEmail, PrivateKey: mailbox.NewSecret(string(otherPEM)), TokenURL: srv.TokenURL()}
	m := inboundMailbox()
	m.Inbound.Credentials = mailbox.Credentials{}
	if _, err := gmail.NewSource(cfg2).Open(ctx, m); !errors.Is(err, transport.ErrAuth) || strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Fatalf("another key: %v", err)
	}
	if _, err := gmail.ServiceAccountFromJSON([]byte(`{"type":"authorized_user"}`)); err == nil {
		t.Fatal("a user credential file read as a service account")
	}
}

// TestSenderCheck: a token that may only send (403
// insufficientPermissions on the profile) passes Check with a warning;
// a refused token fails it.
func TestSenderCheck(t *testing.T) {
	srv := newServer(t)
	snd := gmail.NewSender(config(t, srv, transport.Net{}))
	ctx := context.Background()
	srv.InjectFault("/profile", 1, mailtest.GmailFault{Status: http.StatusForbidden, Reason: "insufficientPermissions"})
	rep, err := snd.Check(ctx, outboundMailbox())
	if err != nil || len(rep.Warnings) < 2 || rep.Fact("user") != desk {
		t.Fatalf("a send-only token: %+v %v", rep, err)
	}
	srv.SetTokensRefused(true)
	if _, err := snd.Check(ctx, outboundMailbox()); !errors.Is(err, transport.ErrAuth) {
		t.Fatalf("a refused token: %v", err)
	}
	if len(srv.Sent()) != 0 {
		t.Fatal("Check sent a message")
	}
}
