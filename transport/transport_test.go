package transport_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/correio-dev/correio/transport"
)

func TestErrorClasses(t *testing.T) {
	err := fmt.Errorf("sending: %w", &transport.Error{Class: transport.Temporary, Protocol: "smtp", Op: "rcpt", Server: "mx:25", Code: 451, Enhanced: "4.7.1", Message: "try later"})
	if !errors.Is(err, transport.ErrTemporary) || errors.Is(err, transport.ErrPermanent) {
		t.Fatal("class sentinel matching broken")
	}
	if transport.ClassOf(err) != transport.Temporary || !transport.Retryable(err) {
		t.Fatal("ClassOf/Retryable")
	}
	if transport.Retryable(&transport.Error{Class: transport.Auth}) {
		t.Fatal("auth errors must not be retried blindly")
	}
	if !transport.Retryable(errors.New("unclassified")) {
		t.Fatal("unclassified errors are retried")
	}
	if s := err.Error(); !strings.Contains(s, "451 4.7.1 try later") || !strings.Contains(s, "smtp rcpt mx:25") {
		t.Fatalf("message %q", s)
	}
	for code, want := range map[int]transport.Class{421: transport.Temporary, 451: transport.Temporary, 550: transport.Permanent, 535: transport.Auth, 530: transport.Auth, 250: transport.Protocol} {
		if got := transport.SMTPClass(code); got != want {
			t.Errorf("SMTPClass(%d) = %v, want %v", code, got, want)
		}
	}
}

func TestPublicOnly(t *testing.T) {
	for _, a := range []string{"127.0.0.1", "10.1.2.3", "192.168.0.1", "172.16.5.5", "169.254.1.1", "::1", "fe80::1", "0.0.0.0", "100.64.0.1", "::ffff:127.0.0.1", "fd00::1"} {
		if err := transport.PublicOnly.Allow("h", netip.MustParseAddr(a)); !errors.Is(err, transport.ErrAddressRefused) {
			t.Errorf("%s allowed", a)
		}
	}
	for _, a := range []string{"93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"} {
		if err := transport.PublicOnly.Allow("h", netip.MustParseAddr(a)); err != nil {
			t.Errorf("%s refused: %v", a, err)
		}
	}
}

type fixedResolver map[string][]netip.Addr

func (f fixedResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

type countingDialer struct {
	n    atomic.Int32
	addr atomic.Value
}

func (d *countingDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	d.n.Add(1)
	d.addr.Store(address)
	return (&net.Dialer{}).DialContext(ctx, network, address)
}

func TestNetDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	res := fixedResolver{"mail.test": {netip.MustParseAddr("127.0.0.1")}}
	d := &countingDialer{}
	n := transport.Net{Dialer: d, Resolver: res}
	conn, err := n.Dial(context.Background(), "imap", "mail.test", port)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if got := d.addr.Load().(string); got != fmt.Sprintf("127.0.0.1:%d", port) {
		t.Fatalf("dialled %s, want the resolved and checked address", got)
	}
	// The policy is applied to resolved addresses, before any dial.
	n.Policy = transport.PublicOnly
	_, err = n.Dial(context.Background(), "imap", "mail.test", port)
	if !errors.Is(err, transport.ErrPolicy) || !errors.Is(err, transport.ErrAddressRefused) || d.n.Load() != 1 {
		t.Fatalf("policy: %v (dials %d)", err, d.n.Load())
	}
	// Unknown host: temporary resolve error.
	_, err = n.Dial(context.Background(), "smtp", "nowhere.test", port)
	var te *transport.Error
	if !errors.As(err, &te) || te.Op != "resolve" || te.Class != transport.Temporary {
		t.Fatalf("resolve error: %v", err)
	}
	// A refused connection is temporary.
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln2.Addr().(*net.TCPAddr).Port
	ln2.Close()
	_, err = transport.Net{}.Dial(context.Background(), "smtp", "127.0.0.1", dead)
	if !errors.Is(err, transport.ErrTemporary) {
		t.Fatalf("refused: %v", err)
	}
}

func TestNetDialTimeout(t *testing.T) {
	// A dialer that never answers until its context ends: the dial timeout
	// must end it.
	blocking := dialFunc(func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	_, err := transport.Net{Dialer: blocking, DialTimeout: 20 * time.Millisecond}.Dial(context.Background(), "imap", "127.0.0.1", 1)
	if !errors.Is(err, transport.ErrTemporary) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v", err)
	}
}

type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func (f dialFunc) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return f(ctx, network, addr)
}

func TestOAuth2TokensRefreshAndInvalidate(t *testing.T) {
	var refreshes atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.Form.Get("refresh_token") == "rt-refused-7" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_grant"}`)
			return
		}
		n := refreshes.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"at-%d","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-%d"}`, n, n)
	}))
	defer srv.Close()
	cfg := &oauth2.Config{ClientID: "c", ClientSecret: "s", Endpoint: oauth2.Endpoint{TokenURL: srv.URL}}
	var rotated []string
	src := transport.NewOAuth2Tokens(cfg, &oauth2.Token{AccessToken: "at-0", RefreshToken: "rt-0", Expiry: time.Now().Add(time.Hour)})
	src.OnRotate = func(tok *oauth2.Token) { rotated = append(rotated, tok.RefreshToken) }
	ctx := context.Background()
	tok, err := src.Token(ctx)
	if err != nil || tok.Reveal() != "at-0" || refreshes.Load() != 0 {
		t.Fatalf("cached token: %v %v", tok.Reveal(), err)
	}
	src.InvalidateToken()
	tok, err = src.Token(ctx)
	if err != nil || tok.Reveal() != "at-1" {
		t.Fatalf("after invalidate: %q %v", tok.Reveal(), err)
	}
	if len(rotated) != 1 || rotated[0] != "rt-1" {
		t.Fatalf("rotation not reported: %v", rotated)
	}
	if tok.String() == "at-1" {
		t.Fatal("token prints in clear")
	}
	// A refused refresh token is an auth error that says what to do.
	bad := transport.NewOAuth2Tokens(cfg, &oauth2.Token{RefreshToken: "rt-refused-7"})
	_, err = bad.Token(ctx)
	if !errors.Is(err, transport.ErrAuth) || !errors.Is(err, transport.ErrReauthRequired) {
		t.Fatalf("revoked: %v", err)
	}
	if strings.Contains(err.Error(), "rt-refused-7") {
		t.Fatalf("error leaks the refresh token: %v", err)
	}
	if got := string(transport.XOAUTH2("u@x", tok)); got != "user=u@x\x01auth=Bearer at-1\x01\x01" {
		t.Fatalf("XOAUTH2 = %q", got)
	}
}

func TestRetryAfter(t *testing.T) {
	err := fmt.Errorf("graph: %w", &transport.Error{Class: transport.Temporary, Code: 429, RetryAfter: 30 * time.Second})
	if transport.RetryAfter(err) != 30*time.Second || transport.RetryAfter(errors.New("x")) != 0 {
		t.Fatal("RetryAfter not found in the chain")
	}
}
