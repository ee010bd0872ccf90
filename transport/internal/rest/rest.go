// Package rest is the HTTP plumbing the REST transports (transport/graph
// and transport/gmail) share: the http.Client dialled through
// transport.Net, one authenticated request with its deadline, the
// classification of failures below HTTP, Retry-After, bounded JSON
// answers, the envelope recipients of a raw MIME message added as Bcc, and
// the timing of a Check. What each API means by its status codes and
// error bodies stays in its own package.
package rest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/correio-dev/correio/mailbox"
	"github.com/correio-dev/correio/transport"
)

// MaxErrBody bounds what is read of an error answer (or of an answer
// whose body is not wanted).
const MaxErrBody = 64 << 10

// NewHTTPClient returns the client of a REST transport: every connection
// is dialled through n as protocol (the host's Dialer and AddressPolicy),
// TLS 1.2 or later against roots (nil: the system's), response headers
// within timeout, and redirects are not followed.
func NewHTTPClient(n transport.Net, protocol string, roots *x509.CertPool, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			p, err := strconv.Atoi(port)
			if err != nil {
				return nil, err
			}
			return n.Dial(ctx, protocol, host, p)
		},
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Host is the host of an endpoint URL (the Server of its errors), or the
// URL itself when it does not parse.
func Host(baseURL string) string {
	u, err := url.Parse(baseURL)
	if err != nil {
		return baseURL
	}
	return u.Host
}

// RetryAfter parses Retry-After (RFC 9110, section 10.2.3): delta seconds
// or an HTTP date, at most a day; anything else is 0.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(min(n, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), 24*time.Hour)
	}
	return 0
}

// Sleep waits d, or until ctx is done (then it returns false).
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	select {
	case <-ctx.Done():
		t.Stop()
		return false
	case <-t.C:
		return true
	}
}

// API names an endpoint in the errors about it.
type API struct {
	Protocol string // transport.Error.Protocol: "graph", "gmail"
	Server   string // transport.Error.Server: the endpoint's host
	// Name starts the hints of an unreachable endpoint and of a bad
	// answer ("Microsoft Graph", "the Gmail API").
	Name string
	// Endpoint is the subject of the hint of an untrusted certificate
	// ("the Graph endpoint").
	Endpoint string
}

// Errorf returns an error of the API.
func (a *API) Errorf(class transport.Class, op string, err error, hint string) *transport.Error {
	return &transport.Error{Class: class, Protocol: a.Protocol, Op: op, Server: a.Server, Err: err, Hint: hint}
}

// NetError classifies a failure below HTTP: the dial's own error (policy,
// resolve) as it is, a certificate not trusted as TLS, anything else as a
// Temporary error of a broken connection.
func (a *API) NetError(op string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		return te // the dial's own (policy, resolve)
	}
	var ue *x509.UnknownAuthorityError
	var he x509.HostnameError
	var ce *tls.CertificateVerificationError
	var re tls.RecordHeaderError
	if errors.As(err, &ue) || errors.As(err, &he) || errors.As(err, &ce) || errors.As(err, &re) {
		return a.Errorf(transport.TLS, op, err, a.Endpoint+"'s certificate is not trusted")
	}
	return transport.Broken(a.Errorf(transport.Temporary, op, err, a.Name+" could not be reached"))
}

// DecodeJSON decodes the JSON answer r, read up to limit bytes, into v;
// with v nil it reads and drops up to MaxErrBody. An answer cut short is
// a NetError, one that is not JSON of v's shape a Protocol error.
func (a *API) DecodeJSON(ctx context.Context, r io.Reader, limit int64, op string, v any) error {
	if v == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(r, MaxErrBody))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(r, limit)).Decode(v); err != nil {
		if ctx.Err() != nil || errors.Is(err, io.ErrUnexpectedEOF) {
			return a.NetError(op, err)
		}
		return a.Errorf(transport.Protocol, op, err, a.Name+" answered something that is not the expected JSON")
	}
	return nil
}

// DecodeError decodes an error answer's body into v as far as it goes
// (a body that is not JSON leaves v as it is).
func DecodeError(r io.Reader, v any) {
	b, _ := io.ReadAll(io.LimitReader(r, MaxErrBody))
	_ = json.Unmarshal(b, v)
}

// Call is one request.
type Call struct {
	Op, Method, URL string
	Body            []byte
	ContentType     string
	Prefer          string
}

// Do sends one call with the bearer token of tokens, within timeout, and
// returns a response below 300, whose body the caller reads before it
// calls the returned cancel. hold, when set, is called once the token is
// there and returns the release of what the call holds (a request slot),
// which cancel calls. A status of 300 or more is turned into an error by
// classify (the body is closed after it); a 401 classified as Auth also
// invalidates the token. Every error is a *transport.Error.
func (a *API) Do(ctx context.Context, hc *http.Client, timeout time.Duration, tokens mailbox.TokenSource, call Call,
	hold func(context.Context) (func(), error), classify func(*http.Response) *transport.Error) (*http.Response, context.CancelFunc, error) {
	tok, err := transport.AccessToken(ctx, tokens)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.Protocol == "" {
			c := *te
			c.Protocol, c.Server = a.Protocol, a.Server
			return nil, nil, &c
		}
		return nil, nil, err
	}
	release := func() {}
	if hold != nil {
		if release, err = hold(ctx); err != nil {
			return nil, nil, err
		}
	}
	rctx, cancelCtx := context.WithTimeout(ctx, timeout)
	var done sync.Once
	cancel := func() { done.Do(func() { cancelCtx(); release() }) }
	var body io.Reader
	if call.Body != nil {
		body = bytes.NewReader(call.Body)
	}
	hr, err := http.NewRequestWithContext(rctx, call.Method, call.URL, body)
	if err != nil {
		cancel()
		return nil, nil, a.Errorf(transport.Permanent, call.Op, err, "")
	}
	hr.Header.Set("Authorization", "Bearer "+tok.Reveal())
	hr.Header.Set("Accept", "application/json")
	if call.ContentType != "" {
		hr.Header.Set("Content-Type", call.ContentType)
	}
	if call.Prefer != "" {
		hr.Header.Set("Prefer", call.Prefer)
	}
	resp, err := hc.Do(hr)
	if err != nil {
		cancel()
		return nil, nil, a.NetError(call.Op, err)
	}
	if resp.StatusCode < 300 {
		return resp, cancel, nil
	}
	defer cancel()
	defer resp.Body.Close()
	e := classify(resp)
	if e.Class == transport.Auth && resp.StatusCode == http.StatusUnauthorized {
		if r, ok := tokens.(mailbox.TokenRefresher); ok {
			r.InvalidateToken()
		}
	}
	return nil, nil, e
}

// JSONBody is the JSON of v (a map or struct of plain values).
func JSONBody(v any) []byte { b, _ := json.Marshal(v); return b }

// ErrCode is the HTTP status of err's *transport.Error, or 0.
func ErrCode(err error) int {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// AddFieldErrors adds fes to err, the error of mailbox.Validate (nil, or
// a *mailbox.ValidationError).
func AddFieldErrors(err error, fes []*mailbox.FieldError) error {
	if len(fes) == 0 {
		return err
	}
	var ve *mailbox.ValidationError
	if errors.As(err, &ve) {
		ve.Errors = append(ve.Errors, fes...)
		return ve
	}
	return &mailbox.ValidationError{Errors: fes}
}

// Check times a transport.Checker's Check of an API endpoint (TLS).
type Check struct {
	Report transport.Report
	start  time.Time
}

// StartCheck starts the report of a Check.
func StartCheck(kind mailbox.TransportKind, server string) *Check {
	return &Check{Report: transport.Report{Kind: kind, Server: server, Security: mailbox.SecurityTLS}, start: time.Now()}
}

// Done stamps the elapsed time on the report and returns it with err.
func (c *Check) Done(err error) (transport.Report, error) {
	c.Report.Elapsed = max(time.Since(c.start), time.Nanosecond)
	return c.Report, err
}
