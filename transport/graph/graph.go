// Package graph reads and sends a Microsoft 365 (Exchange Online) mailbox
// through Microsoft Graph v1.0: a transport.Source over the delta query of
// a mail folder, with each message's raw MIME ($value) streamed into a
// transport.Spool, and a transport.Sender over sendMail with the raw MIME,
// so the Message-ID, the thread token and every header stay ours.
//
// A mailbox names its user or shared mailbox by UPN or address
// (Credentials.Username, else the mailbox's Address) and its folder by a
// well-known name ("inbox", the default; "INBOX" is taken as "inbox"), a
// top-level folder's display name, or a path of display names separated
// by "/" whose first level may be a well-known name ("inbox/Support"). Tokens come from the mailbox's
// Credentials.OAuth2 (delegated: a user's token with Mail.ReadWrite and
// Mail.Send) or, when it has none, from Config.AppOnly (the client
// credentials grant against the tenant's token endpoint, for shared
// mailboxes).
//
// Change notifications (Config.Notify, Source.NotificationHandler) wake a
// mailbox's session when new mail arrives; the delta query stays the only
// way mail is read, and polling the fallback.
//
// The package speaks plain net/http and golang.org/x/oauth2: it uses a
// dozen Graph calls, and the official SDK would add its generated models
// to every host's binary for them (see README, "Microsoft Graph"). Every request has
// a deadline, every body read is bounded, and every connection is dialled
// through transport.Net, so the host's Dialer and AddressPolicy apply.
//
// Register it under mailbox.TransportGraph:
//
//	transport.Sources{mailbox.TransportGraph: graph.NewSource(cfg)}
//	transport.Senders{mailbox.TransportGraph: graph.NewSender(cfg)}
package graph

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/correio-dev/correio/internal/clientassert"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/internal/rest"
)

// Defaults of Config.
const (
	DefaultBaseURL      = "https://graph.microsoft.com"
	DefaultAuthority    = "https://login.microsoftonline.com"
	DefaultTimeout      = 60 * time.Second
	DefaultPageSize     = 50
	DefaultMaxRetryWait = 30 * time.Second
	// GraphScope is the scope of app-only tokens (application permissions
	// Mail.ReadWrite and Mail.Send granted to the app).
	GraphScope = "https://graph.microsoft.com/.default"
)

// Config configures the Graph transports. The zero Config reaches the
// public Graph endpoint with delegated tokens only.
type Config struct {
	// Net dials every connection (the host's Dialer and AddressPolicy).
	Net transport.Net
	// BaseURL is the Graph endpoint without /v1.0 (default
	// https://graph.microsoft.com; national clouds have their own).
	BaseURL string
	// RootCAs, when set, replaces the system roots (tests).
	RootCAs *x509.CertPool
	// Timeout bounds each request, its body included (default 60 s).
	Timeout time.Duration
	// PageSize is the odata.maxpagesize asked of delta queries (default
	// 50; Graph's own default is 10).
	PageSize int
	// MaxRetryWait: a 429 or 503 whose Retry-After is at most this long
	// is waited out and retried (up to three times); a longer one is
	// returned at once as a Temporary error with RetryAfter set, for the
	// engine to wait. Default 30 s; negative never waits.
	MaxRetryWait time.Duration
	// SpoolMemory and SpoolDir are passed to transport.NewSpool.
	SpoolMemory int64
	SpoolDir    string
	// AppOnly gives app-only tokens (client credentials) to mailboxes
	// without Credentials.OAuth2.
	AppOnly *AppOnly
	// DeliverHeaderRecipients lets the Sender send a message whose To, Cc
	// or Bcc headers name recipients its envelope leaves out (Exchange
	// delivers to them too). By default such a message is refused with
	// ErrRecipients, so a recipient the engine dropped (suppressed,
	// already delivered) is never mailed.
	DeliverHeaderRecipients bool
	// Notify, when set, turns on change notifications for the Source's
	// mailboxes (see NotifyConfig and Source.NotificationHandler); the
	// Sender ignores it.
	Notify *NotifyConfig
}

// AppOnly is an app registration's client credentials in one tenant.
type AppOnly struct {
	// TenantID is the directory (tenant) id or a verified domain.
	TenantID string
	ClientID string
	// ClientSecret is the app's secret; unused with a certificate.
	ClientSecret mailbox.Secret
	// Certificate and PrivateKey (RSA), when set, are a certificate
	// credential instead of the secret: each token request carries a
	// client assertion signed with the key (RFC 7523; the certificate's
	// public part is uploaded to the app registration).
	Certificate *x509.Certificate
	PrivateKey  crypto.Signer
	// Authority is the login endpoint (default
	// https://login.microsoftonline.com).
	Authority string
}

// ErrTooLarge is wrapped by the error of a message larger than the
// mailbox's MaxMessageSize.
var ErrTooLarge = errors.New("graph: message larger than the mailbox limit")

// client is the HTTP side shared by Source and Sender.
type client struct {
	cfg  Config
	base string // BaseURL + "/v1.0"
	http *http.Client
	api  rest.API

	once sync.Once
	app  *transport.OAuth2Tokens

	mu    sync.Mutex
	slots map[string]chan struct{} // per mailbox: requests in flight
}

// MailboxConcurrency is how many requests one Source or Sender has in
// flight per mailbox at most: Exchange Online's limit is four per app and
// mailbox, and a fifth is answered 429.
const MailboxConcurrency = 4

// slot waits for a request slot of user's mailbox and returns its release.
func (c *client) slot(ctx context.Context, user string) (func(), error) {
	c.mu.Lock()
	ch := c.slots[strings.ToLower(user)]
	if ch == nil {
		ch = make(chan struct{}, MailboxConcurrency)
		c.slots[strings.ToLower(user)] = ch
	}
	c.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, &transport.Error{Class: transport.Temporary, Protocol: "graph", Op: "wait", Server: c.server(), Err: ctx.Err()}
	}
}

func newClient(cfg *Config) *client {
	c := &client{slots: map[string]chan struct{}{}}
	if cfg != nil {
		c.cfg = *cfg
	}
	if c.cfg.BaseURL == "" {
		c.cfg.BaseURL = DefaultBaseURL
	}
	c.cfg.BaseURL = strings.TrimSuffix(c.cfg.BaseURL, "/")
	c.base = c.cfg.BaseURL + "/v1.0"
	if c.cfg.Timeout <= 0 {
		c.cfg.Timeout = DefaultTimeout
	}
	if c.cfg.PageSize <= 0 {
		c.cfg.PageSize = DefaultPageSize
	}
	if c.cfg.MaxRetryWait == 0 {
		c.cfg.MaxRetryWait = DefaultMaxRetryWait
	}
	c.http = rest.NewHTTPClient(c.cfg.Net, "graph", c.cfg.RootCAs, c.cfg.Timeout)
	c.api = rest.API{Protocol: "graph", Server: rest.Host(c.cfg.BaseURL), Name: "Microsoft Graph", Endpoint: "the Graph endpoint"}
	return c
}

func (c *client) server() string { return c.api.Server }

// tokens returns the mailbox's token source: its own (delegated), else the
// app-only one.
func (c *client) tokens(cr mailbox.Credentials) (mailbox.TokenSource, string) {
	if cr.OAuth2 != nil {
		return cr.OAuth2, "delegated"
	}
	if c.cfg.AppOnly == nil {
		return nil, ""
	}
	c.once.Do(func() {
		hc := &http.Client{Transport: c.http.Transport, Timeout: c.cfg.Timeout}
		c.app = &transport.OAuth2Tokens{Source: appTokenSource(c.cfg.AppOnly, hc)}
	})
	return c.app, "app-only"
}

// conn is one mailbox's authenticated access.
type conn struct {
	c      *client
	user   string // UPN or address
	tokens mailbox.TokenSource
	auth   string
}

func (c *client) open(cr mailbox.Credentials, address string) (*conn, error) {
	user := cr.Username
	if user == "" {
		user = address
	}
	if user == "" {
		return nil, &transport.Error{Class: transport.Permanent, Protocol: "graph", Op: "open", Server: c.server(),
			Err: errors.New("no mailbox user"), Hint: "set the mailbox's user (UPN) or address"}
	}
	ts, auth := c.tokens(cr)
	if ts == nil {
		return nil, &transport.Error{Class: transport.Auth, Protocol: "graph", Op: "auth", Server: c.server(),
			Err: transport.ErrNoToken, Hint: "give the mailbox an OAuth2 token source, or configure app-only access"}
	}
	return &conn{c: c, user: user, tokens: ts, auth: auth}, nil
}

// userURL is the base of the mailbox's resources.
func (k *conn) userURL() string { return k.c.base + "/users/" + url.PathEscape(k.user) }

// apiError is Graph's error body.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// maxJSON bounds a JSON response.
const maxJSON = 32 << 20

// ErrExpired is wrapped (with transport.ErrCursor) by the error of a delta
// link the server no longer knows.
var ErrExpired = errors.New("graph: delta token expired")

// request is one call.
type request struct {
	op, method, url string
	body            []byte
	contentType     string
	prefer          string
}

// do sends req with a deadline and returns the response, whose body the
// caller reads (within ctx, which do's deadline bounds: the returned cancel
// must be called). Throttling (429, 503) with a short Retry-After is
// waited out; errors are *transport.Error.
func (k *conn) do(ctx context.Context, req request) (*http.Response, context.CancelFunc, error) {
	for attempt := 0; ; attempt++ {
		resp, cancel, err := k.once(ctx, req)
		if err == nil {
			return resp, cancel, nil
		}
		ra := transport.RetryAfter(err)
		if ra <= 0 || attempt >= 3 || k.c.cfg.MaxRetryWait < 0 || ra > k.c.cfg.MaxRetryWait {
			return nil, nil, err
		}
		if !rest.Sleep(ctx, ra) {
			return nil, nil, err
		}
	}
}

func (k *conn) once(ctx context.Context, req request) (*http.Response, context.CancelFunc, error) {
	call := rest.Call{Op: req.op, Method: req.method, URL: req.url, Body: req.body, ContentType: req.contentType, Prefer: req.prefer}
	hold := func(ctx context.Context) (func(), error) { return k.c.slot(ctx, k.user) }
	return k.c.api.Do(ctx, k.c.http, k.c.cfg.Timeout, k.tokens, call, hold,
		func(resp *http.Response) *transport.Error { return k.c.statusError(req.op, resp) })
}

// netError classifies a failure below HTTP.
func (c *client) netError(op string, err error) error { return c.api.NetError(op, err) }

// statusError maps an HTTP error response to a transport class.
func (c *client) statusError(op string, resp *http.Response) *transport.Error {
	var ae apiError
	rest.DecodeError(resp.Body, &ae)
	e := &transport.Error{Protocol: "graph", Op: op, Server: c.server(), Code: resp.StatusCode, Enhanced: ae.Error.Code,
		Message: ae.Error.Message, Err: fmt.Errorf("HTTP %d %s", resp.StatusCode, ae.Error.Code)}
	code := strings.ToLower(ae.Error.Code)
	switch {
	case resp.StatusCode == http.StatusGone || code == "syncstatenotfound" || code == "resyncrequired" || code == "syncstateinvalid":
		e.Class, e.Err = transport.Temporary, fmt.Errorf("%w: %w", transport.ErrCursor, ErrExpired)
		e.Hint = "the delta token expired; the folder is read again"
	case resp.StatusCode == http.StatusUnauthorized:
		e.Class, e.Hint = transport.Auth, "the access token was refused; authorise the mailbox again"
	case resp.StatusCode == http.StatusForbidden:
		e.Class, e.Hint = transport.Auth, "access denied: grant Mail.ReadWrite and Mail.Send (and for app-only access an application access policy that includes this mailbox)"
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable ||
		resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusGatewayTimeout || resp.StatusCode == http.StatusInternalServerError:
		e.Class, e.Hint = transport.Temporary, "Microsoft Graph is throttling or unavailable; retried later"
		e.RetryAfter = rest.RetryAfter(resp.Header.Get("Retry-After"), time.Now())
	case resp.StatusCode >= 500:
		e.Class = transport.Temporary
	case resp.StatusCode == http.StatusNotFound && code == "errorinvaliduser":
		e.Class, e.Hint = transport.Permanent, "no such user or shared mailbox in the tenant"
	default:
		e.Class = transport.Permanent
	}
	return e
}

// json GETs (or sends) req and decodes a bounded JSON answer into v.
func (k *conn) json(ctx context.Context, req request, v any) error {
	resp, cancel, err := k.do(ctx, req)
	if err != nil {
		return err
	}
	defer cancel()
	defer resp.Body.Close()
	return k.c.api.DecodeJSON(ctx, resp.Body, maxJSON, req.op, v)
}

func jsonBody(v any) []byte { return rest.JSONBody(v) }

// validate checks what both transports read: m.Validate, the user and the
// token.
func (c *client) validate(m *mailbox.Mailbox, path string, cr mailbox.Credentials) error {
	err := m.Validate()
	var fes []*mailbox.FieldError
	add := func(p string, code mailbox.Code, msg string) {
		fes = append(fes, &mailbox.FieldError{Path: p, Code: code, Message: msg})
	}
	user := cr.Username
	if user == "" && m != nil {
		user = m.Address
	}
	switch {
	case user == "":
		add(path+".credentials.username", mailbox.CodeRequired, "Graph needs the mailbox's user principal name or address (username, or the mailbox address)")
	default:
		if _, perr := mail.ParseAddress(user); perr != nil {
			add(path+".credentials.username", mailbox.CodeInvalid, "the Graph user must be a user principal name or an e-mail address")
		}
	}
	if !cr.Password.IsZero() {
		add(path+".credentials.password", mailbox.CodeNotAllowed, "Graph authenticates with OAuth2 tokens, not passwords")
	}
	if cr.OAuth2 == nil && c.cfg.AppOnly == nil {
		add(path+".credentials.oauth2", mailbox.CodeRequired, "Graph needs an OAuth2 token source (delegated) or the transport's app-only credentials")
	}
	if a := c.cfg.AppOnly; cr.OAuth2 == nil && a != nil && (a.TenantID == "" || a.ClientID == "" ||
		(a.ClientSecret.IsZero() && (a.Certificate == nil || a.PrivateKey == nil))) {
		add(path+".credentials.oauth2", mailbox.CodeInvalid, "app-only access needs a tenant id, a client id and a client secret or certificate")
	} else if cr.OAuth2 == nil && a != nil && a.Certificate != nil {
		if err := (clientassert.Signer{Certificate: a.Certificate, Key: a.PrivateKey}).Check(); err != nil {
			add(path+".credentials.oauth2", mailbox.CodeInvalid, "the app-only certificate cannot sign: an RSA private key of the certificate is required")
		}
	}
	return rest.AddFieldErrors(err, fes)
}
