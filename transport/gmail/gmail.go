// Package gmail reads and sends a Google Workspace or Gmail mailbox through
// the Gmail API v1: a transport.Source over users.history.list from a
// historyId cursor (a full listing with users.messages.list when there is
// no cursor yet or Gmail no longer knows it), each message fetched in raw
// format (users.messages.get?format=raw, the base64url MIME) into a
// transport.Spool, post-actions as label changes; a transport.Sender over
// users.messages.send with the raw MIME, so the Message-ID, the thread
// token and every header stay ours; and push: users.watch renewed before it
// expires, and a Cloud Pub/Sub push endpoint (PushHandler) that checks the
// push's OIDC token and wakes the mailbox's session.
//
// A mailbox names its user by address (Credentials.Username, else the
// mailbox's Address) and the label it reads by name or id (Folder; default
// INBOX). Tokens come from the mailbox's Credentials.OAuth2 (a user's token
// with the scopes gmail.modify and gmail.send) or, when it has none, from
// Config.ServiceAccount (a service account with domain-wide delegation:
// a JWT grant with sub = the mailbox's user).
//
// The package speaks plain net/http and golang.org/x/oauth2 (its jwt
// package for service accounts): google.golang.org/api/gmail/v1 would add
// about 13.7 MB to a host's binary (gRPC, protobuf, OpenTelemetry and
// Google's auth stack) for the eleven calls used here; see README. Every
// request has a deadline, every body read is bounded, and every connection
// is dialled through transport.Net, so the host's Dialer and AddressPolicy
// apply.
//
// Register it under mailbox.TransportGmail:
//
//	src := gmail.NewSource(cfg)
//	transport.Sources{mailbox.TransportGmail: src}
//	transport.Senders{mailbox.TransportGmail: gmail.NewSender(cfg)}
//	mux.Handle("/gmail/push", src.PushHandler(pushCfg))
package gmail

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/correio-dev/correio/clock"
	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
	"github.com/correio-dev/correio/transport/internal/rest"
)

// Defaults of Config.
const (
	DefaultBaseURL      = "https://gmail.googleapis.com"
	DefaultTokenURL     = "https://oauth2.googleapis.com/token"
	DefaultTimeout      = 60 * time.Second
	DefaultPageSize     = 100
	DefaultMaxRetryWait = 30 * time.Second
	DefaultBackoff      = time.Second
)

// OAuth scopes (https://developers.google.com/workspace/gmail/api/auth/scopes).
const (
	// ScopeModify reads messages and changes their labels (the Source).
	ScopeModify = "https://www.googleapis.com/auth/gmail.modify"
	// ScopeSend sends messages (the Sender).
	ScopeSend = "https://www.googleapis.com/auth/gmail.send"
)

// Config configures the Gmail transports. The zero Config reaches the
// public endpoint with the mailboxes' own tokens.
type Config struct {
	// Net dials every connection (the host's Dialer and AddressPolicy).
	Net transport.Net
	// BaseURL is the API endpoint without /gmail/v1 (default
	// https://gmail.googleapis.com).
	BaseURL string
	// RootCAs, when set, replaces the system roots (tests).
	RootCAs *x509.CertPool
	// Timeout bounds each request, its body included (default 60 s).
	Timeout time.Duration
	// PageSize is the maxResults of history and message lists (default
	// 100, at most 500).
	PageSize int
	// MaxRetryWait: a throttled request (429, 403 rateLimitExceeded or
	// userRateLimitExceeded) or a 5xx is retried up to three times after
	// Retry-After, or after an exponential backoff (Backoff, doubled each
	// time, plus up to a second of jitter, as Google's error guide says)
	// when the server named no wait, as long as the wait is at most this
	// long; a longer one is returned at once as a Temporary error with
	// RetryAfter set, for the engine to wait. Default 30 s; negative never
	// waits.
	MaxRetryWait time.Duration
	// Backoff is the first wait of the exponential backoff (default 1 s).
	Backoff time.Duration
	// SpoolMemory and SpoolDir are passed to transport.NewSpool.
	SpoolMemory int64
	SpoolDir    string
	// CreateLabels creates a move target label that does not exist; by
	// default a missing label is a Permanent error naming it.
	CreateLabels bool
	// ServiceAccount gives tokens to mailboxes without
	// Credentials.OAuth2.
	ServiceAccount *ServiceAccount
	// DeliverHeaderRecipients lets the Sender send a message whose To, Cc
	// or Bcc headers name recipients its envelope leaves out (Gmail
	// delivers to them too). By default such a message is refused with
	// ErrRecipients.
	DeliverHeaderRecipients bool
	// Watch turns on push: sessions call users.watch and renew it, and
	// PushHandler wakes them.
	Watch *Watch
	// Clock drives watch renewal (default the real clock).
	Clock clock.Clock
	// Logger receives what a host should know (a failed watch renewal,
	// a refused push); default slog.Default().
	Logger *slog.Logger
}

// ErrTooLarge is wrapped by the error of a message larger than the
// mailbox's MaxMessageSize.
var ErrTooLarge = errors.New("gmail: message larger than the mailbox limit")

// ErrExpired is wrapped (with transport.ErrCursor) by the error of a
// historyId Gmail no longer knows (404 from users.history.list).
var ErrExpired = errors.New("gmail: startHistoryId expired")

// client is the HTTP side shared by Source and Sender.
type client struct {
	cfg  Config
	base string // BaseURL + "/gmail/v1/users/"
	http *http.Client
	api  rest.API
	clk  clock.Clock
	log  *slog.Logger

	mu  sync.Mutex
	sas map[string]*transport.OAuth2Tokens // service-account tokens by user
}

func newClient(cfg *Config) *client {
	c := &client{sas: map[string]*transport.OAuth2Tokens{}}
	if cfg != nil {
		c.cfg = *cfg
	}
	if c.cfg.BaseURL == "" {
		c.cfg.BaseURL = DefaultBaseURL
	}
	c.cfg.BaseURL = strings.TrimSuffix(c.cfg.BaseURL, "/")
	c.base = c.cfg.BaseURL + "/gmail/v1/users/"
	if c.cfg.Timeout <= 0 {
		c.cfg.Timeout = DefaultTimeout
	}
	if c.cfg.PageSize <= 0 {
		c.cfg.PageSize = DefaultPageSize
	}
	c.cfg.PageSize = min(c.cfg.PageSize, 500)
	if c.cfg.MaxRetryWait == 0 {
		c.cfg.MaxRetryWait = DefaultMaxRetryWait
	}
	if c.cfg.Backoff <= 0 {
		c.cfg.Backoff = DefaultBackoff
	}
	c.clk = clock.OrReal(c.cfg.Clock)
	c.log = c.cfg.Logger
	if c.log == nil {
		c.log = slog.Default()
	}
	c.http = rest.NewHTTPClient(c.cfg.Net, "gmail", c.cfg.RootCAs, c.cfg.Timeout)
	c.api = rest.API{Protocol: "gmail", Server: rest.Host(c.cfg.BaseURL), Name: "the Gmail API", Endpoint: "the Gmail API endpoint"}
	return c
}

func (c *client) server() string { return c.api.Server }

func (c *client) errorf(class transport.Class, op string, err error, hint string) *transport.Error {
	return c.api.Errorf(class, op, err, hint)
}

// conn is one mailbox's authenticated access.
type conn struct {
	c      *client
	user   string // the address
	tokens mailbox.TokenSource
	auth   string
}

func (c *client) open(cr mailbox.Credentials, address string, scopes []string) (*conn, error) {
	user := cr.Username
	if user == "" {
		user = address
	}
	if user == "" {
		return nil, c.errorf(transport.Permanent, "open", errors.New("no mailbox user"), "set the mailbox's user (its address) or its address")
	}
	if cr.OAuth2 != nil {
		return &conn{c: c, user: user, tokens: cr.OAuth2, auth: "oauth2"}, nil
	}
	if c.cfg.ServiceAccount == nil {
		return nil, &transport.Error{Class: transport.Auth, Protocol: "gmail", Op: "auth", Server: c.server(),
			Err: transport.ErrNoToken, Hint: "give the mailbox an OAuth2 token source, or configure a service account with domain-wide delegation"}
	}
	ts, err := c.serviceTokens(user, scopes)
	if err != nil {
		return nil, err
	}
	return &conn{c: c, user: user, tokens: ts, auth: "service account"}, nil
}

// userURL is the base of the mailbox's resources.
func (k *conn) userURL() string { return k.c.base + url.PathEscape(k.user) }

// apiError is Google's error body.
type apiError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Errors  []struct {
			Reason string `json:"reason"`
			Domain string `json:"domain"`
		} `json:"errors"`
		Status string `json:"status"`
	} `json:"error"`
}

// maxJSON bounds a JSON answer without a message.
const maxJSON = 16 << 20

// request is one call.
type request struct {
	op, method, url string
	body            []byte
	contentType     string
	// notFound is what a 404 means: ErrExpired for history, else a
	// Permanent error (a message gone).
	history bool
}

// do sends req with a deadline and returns the response, whose body the
// caller reads within the returned cancel. Throttling and 5xx (but a send's:
// it may have gone out) are retried after Retry-After or an exponential
// backoff (Google's error guide:
// https://developers.google.com/workspace/gmail/api/guides/handle-errors).
func (k *conn) do(ctx context.Context, req request) (*http.Response, context.CancelFunc, error) {
	for attempt := 0; ; attempt++ {
		resp, cancel, err := k.once(ctx, req)
		if err == nil {
			return resp, cancel, nil
		}
		var te *transport.Error
		if !errors.As(err, &te) || te.Class != transport.Temporary || te.Code == 0 || errors.Is(err, transport.ErrCursor) {
			return nil, nil, err
		}
		if req.op == "send" && te.Code >= 500 {
			return nil, nil, err // it may have been sent: the engine decides
		}
		wait := te.RetryAfter
		if wait <= 0 {
			wait = k.c.cfg.Backoff<<attempt + time.Duration(rand.Int64N(int64(min(time.Second, k.c.cfg.Backoff))+1))
			te.RetryAfter = wait
		}
		if attempt >= 3 || k.c.cfg.MaxRetryWait < 0 || wait > k.c.cfg.MaxRetryWait {
			return nil, nil, err
		}
		if !rest.Sleep(ctx, wait) {
			return nil, nil, err
		}
	}
}

func (k *conn) once(ctx context.Context, req request) (*http.Response, context.CancelFunc, error) {
	call := rest.Call{Op: req.op, Method: req.method, URL: req.url, Body: req.body, ContentType: req.contentType}
	return k.c.api.Do(ctx, k.c.http, k.c.cfg.Timeout, k.tokens, call, nil,
		func(resp *http.Response) *transport.Error { return k.c.statusError(req, resp) })
}

// netError classifies a failure below HTTP.
func (c *client) netError(op string, err error) error { return c.api.NetError(op, err) }

// reason returns errors[0].reason of a Google error body.
func (ae *apiError) reason() string {
	if len(ae.Error.Errors) > 0 {
		return ae.Error.Errors[0].Reason
	}
	return ""
}

// statusError maps an HTTP error answer to a transport class, per
// Google's error guide: 401 a bad token; 403 with rateLimitExceeded or
// userRateLimitExceeded, and 429, throttling; other 403s a missing
// permission or delegation; 404 an unknown message, or for
// history.list an expired startHistoryId; 5xx temporary.
func (c *client) statusError(req request, resp *http.Response) *transport.Error {
	var ae apiError
	rest.DecodeError(resp.Body, &ae)
	reason := ae.reason()
	e := &transport.Error{Protocol: "gmail", Op: req.op, Server: c.server(), Code: resp.StatusCode, Enhanced: reason,
		Message: ae.Error.Message, Err: fmt.Errorf("HTTP %d %s", resp.StatusCode, reason)}
	throttled := resp.StatusCode == http.StatusTooManyRequests ||
		(resp.StatusCode == http.StatusForbidden && (reason == "rateLimitExceeded" || reason == "userRateLimitExceeded" || reason == "dailyLimitExceeded"))
	switch {
	case throttled && reason == "dailyLimitExceeded":
		e.Class, e.Hint = transport.Temporary, "the project's daily Gmail API quota is used up; raise it in the Google Cloud console"
		e.RetryAfter = max(rest.RetryAfter(resp.Header.Get("Retry-After"), time.Now()), time.Hour)
	case throttled:
		e.Class, e.Hint = transport.Temporary, "Gmail is throttling this mailbox; retried later"
		e.RetryAfter = rest.RetryAfter(resp.Header.Get("Retry-After"), time.Now())
	case resp.StatusCode == http.StatusNotFound && req.history:
		e.Class, e.Err = transport.Temporary, fmt.Errorf("%w: %w", transport.ErrCursor, ErrExpired)
		e.Hint = "the historyId is too old; the label is listed again"
	case resp.StatusCode == http.StatusUnauthorized:
		e.Class, e.Hint = transport.Auth, "the access token was refused; authorise the mailbox again"
	case resp.StatusCode == http.StatusForbidden:
		e.Class, e.Hint = transport.Auth, "access denied: grant the scopes gmail.modify and gmail.send (for a service account, domain-wide delegation of them in the Admin console)"
	case resp.StatusCode >= 500:
		e.Class, e.Hint = transport.Temporary, "the Gmail API is unavailable; retried later"
		e.RetryAfter = rest.RetryAfter(resp.Header.Get("Retry-After"), time.Now())
	default:
		e.Class = transport.Permanent
	}
	return e
}

// json sends req and decodes a bounded JSON answer into v (nil: discard).
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

func errCode(err error) int { return rest.ErrCode(err) }

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
		add(path+".credentials.username", mailbox.CodeRequired, "Gmail needs the mailbox's address (username, or the mailbox address)")
	default:
		if a, perr := mail.ParseAddress(user); perr != nil || a.Address != user {
			add(path+".credentials.username", mailbox.CodeInvalid, "the Gmail user must be an e-mail address")
		}
	}
	if !cr.Password.IsZero() {
		add(path+".credentials.password", mailbox.CodeNotAllowed, "the Gmail API authenticates with OAuth2 tokens, not passwords")
	}
	if cr.OAuth2 == nil && c.cfg.ServiceAccount == nil {
		add(path+".credentials.oauth2", mailbox.CodeRequired, "Gmail needs an OAuth2 token source or the transport's service account")
	}
	if sa := c.cfg.ServiceAccount; cr.OAuth2 == nil && sa != nil && (sa.Email == "" || sa.PrivateKey.IsZero()) {
		add(path+".credentials.oauth2", mailbox.CodeInvalid, "the service account needs its client email and private key")
	}
	return rest.AddFieldErrors(err, fes)
}
