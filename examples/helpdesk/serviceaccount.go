package main

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"

	"github.com/correio-dev/correio/connect"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/store/secrets"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/gmail"
)

// A Google Workspace mailbox read and sent from with the Gmail API can use
// a service account with domain-wide delegation instead of a person's
// sign-in: the Workspace administrator grants the account's client ID the
// scopes gmail.modify and gmail.send in the Admin console
// (developers.google.com/identity/protocols/oauth2/service-account
// #delegatingauthority), and every token is a JWT bearer grant (RFC 7523
// 2.1) whose sub is the mailbox's address. The key file's JSON is pasted
// on the form or read from a path on the server; it is sealed with the
// same keyring as the passwords (store/secrets, bound to the mailbox and
// field) and kept in the settings; the form never shows it again, only
// the account's client_email.

// authService is the login method of a service account.
const authService = "service"

func saKey(id mailbox.ID) string { return "auth.sa." + string(id) }

// saPlace is where a mailbox's key is sealed (the AAD binds it there).
func saPlace(id mailbox.ID) secrets.Place {
	return secrets.Place{Mailbox: id, Field: "gmail.service_account"}
}

// Errors of the service-account fields.
var (
	errSANoKeyring = errors.New("no keyring to seal the service account key with")
	errSANone      = errors.New("paste the service account's key file (JSON) or give its path")
)

// serviceAccountFromForm reads the key from the form: the pasted JSON, or
// the file at the path given. It returns nil, nil when neither is given.
func serviceAccountFromForm(v url.Values) (*gmail.ServiceAccount, []byte, *mailbox.FieldError) {
	raw := strings.TrimSpace(v.Get("auth.sakey"))
	path := "auth.sakey"
	if raw == "" && strings.TrimSpace(v.Get("auth.safile")) != "" {
		path = "auth.safile"
		b, err := os.ReadFile(strings.TrimSpace(v.Get("auth.safile")))
		if err != nil {
			return nil, nil, &mailbox.FieldError{Path: path, Code: mailbox.CodeInvalid, Message: "the key file cannot be read"}
		}
		raw = strings.TrimSpace(string(b))
	}
	if raw == "" {
		return nil, nil, nil
	}
	sa, err := gmail.ServiceAccountFromJSON([]byte(raw))
	if err != nil {
		// The parser's message names the fields, never the key.
		return nil, nil, &mailbox.FieldError{Path: path, Code: mailbox.CodeInvalid,
			Message: "not a service account key file (type service_account, client_email, private_key)"}
	}
	return sa, []byte(raw), nil
}

// checkServiceAccount is the form's check of the method: a key must be
// given, or already be saved.
func (a *App) checkServiceAccount(ctx context.Context, id mailbox.ID, v url.Values) []*mailbox.FieldError {
	if v.Get("auth") != authService {
		return nil
	}
	_, _, fe := serviceAccountFromForm(v)
	switch {
	case fe != nil:
		return []*mailbox.FieldError{fe}
	case a.oauth == nil || a.oauth.keys == nil:
		return []*mailbox.FieldError{{Path: "auth.sakey", Code: mailbox.CodeInvalid, Message: errSANoKeyring.Error()}}
	}
	if strings.TrimSpace(v.Get("auth.sakey")) == "" && strings.TrimSpace(v.Get("auth.safile")) == "" && a.oauth.serviceEmail(ctx, id) == "" {
		return []*mailbox.FieldError{{Path: "auth.sakey", Code: mailbox.CodeRequired, Message: errSANone.Error()}}
	}
	return nil
}

// saveServiceAccount seals and keeps a new key (none given: the saved one
// stays).
func (a *App) saveServiceAccount(ctx context.Context, id mailbox.ID, v url.Values) error {
	sa, raw, fe := serviceAccountFromForm(v)
	if fe != nil {
		return fe
	}
	if sa == nil {
		return nil
	}
	sealed, err := a.oauth.keys.Seal(ctx, saPlace(id), mailbox.NewSecret(string(raw)))
	if err != nil {
		return err
	}
	a.oauth.source(id).InvalidateToken()
	return a.oauth.settings.Save(ctx, saKey(id), url.Values{"email": {sa.Email}, "sealed": {base64.StdEncoding.EncodeToString(sealed)}})
}

// serviceEmail is the client_email of a mailbox's saved key ("" when none).
func (o *oauthSetup) serviceEmail(ctx context.Context, id mailbox.ID) string {
	if o == nil || o.settings == nil {
		return ""
	}
	v, err := o.settings.Load(ctx, saKey(id))
	if err != nil || v == nil || v.Get("sealed") == "" {
		return ""
	}
	return v.Get("email")
}

// serviceAccount opens a mailbox's saved key (nil, nil when none).
func (o *oauthSetup) serviceAccount(ctx context.Context, id mailbox.ID) (*gmail.ServiceAccount, error) {
	if o.settings == nil || o.keys == nil {
		return nil, nil
	}
	v, err := o.settings.Load(ctx, saKey(id))
	if err != nil || v == nil || v.Get("sealed") == "" {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(v.Get("sealed"))
	if err != nil {
		return nil, err
	}
	raw, err := o.keys.Open(ctx, saPlace(id), b)
	if err != nil {
		return nil, err
	}
	return gmail.ServiceAccountFromJSON([]byte(raw.Reveal()))
}

// serviceTokens is the token source acting as user with sa's domain-wide
// delegation, for the Gmail API scopes.
func (o *oauthSetup) serviceTokens(sa *gmail.ServiceAccount, user string) mailbox.TokenSource {
	tokenURL := sa.TokenURL
	if tokenURL == "" {
		tokenURL = gmail.DefaultTokenURL
	}
	cfg := &jwt.Config{Email: sa.Email, PrivateKey: []byte(sa.PrivateKey.Reveal()), PrivateKeyID: sa.PrivateKeyID,
		Subject: user, Scopes: []string{connect.GoogleGmailModify, connect.GoogleGmailSend}, TokenURL: tokenURL}
	hc := o.httpClient
	if hc == nil {
		hc = http.DefaultClient
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	return &transport.OAuth2Tokens{Source: cfg.TokenSource(ctx)}
}
