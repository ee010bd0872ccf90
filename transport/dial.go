package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Dialer makes network connections. *net.Dialer implements it; a host
// replaces it to go through a proxy, and tests to inject faults.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Resolver looks host names up. *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// AddressPolicy decides whether a mailbox may connect to an address. It is
// given the host as configured and every address it resolved to.
type AddressPolicy interface {
	Allow(host string, addr netip.Addr) error
}

// AddressPolicyFunc adapts a function to AddressPolicy.
type AddressPolicyFunc func(host string, addr netip.Addr) error

// Allow implements AddressPolicy.
func (f AddressPolicyFunc) Allow(host string, addr netip.Addr) error { return f(host, addr) }

// ErrAddressRefused is wrapped by the policies below.
var ErrAddressRefused = errors.New("transport: address refused by policy")

// AllowAll lets every address through (the default: mailboxes configured
// by an administrator).
var AllowAll AddressPolicy = AddressPolicyFunc(func(string, netip.Addr) error { return nil })

// Net bundles how a transport reaches servers. The zero Net dials with a
// net.Dialer using DefaultKeepAlive, the system resolver, AllowAll and a
// 30 s dial timeout.
type Net struct {
	Dialer   Dialer
	Resolver Resolver
	Policy   AddressPolicy
	// DialTimeout bounds each dial (default 30 s).
	DialTimeout time.Duration
}

// DefaultDialTimeout bounds a dial when Net.DialTimeout is zero.
const DefaultDialTimeout = 30 * time.Second

// DefaultKeepAlive returns the TCP keep-alive of the connections the zero
// Net dials: the first probe after 2 idle minutes (under the 4 minutes after
// which some load balancers and NATs drop an idle connection), then every
// 30 s, the connection given up after 5 unanswered probes. Go's own
// default probes every 15 s: 10,000 idle connections opened together
// send bursts of 10,000 probes 4 times a minute, which cost CPU and, on
// loopback, overflowed the kernel's backlog (net.core.netdev_max_backlog)
// until sessions were aborted (BenchmarkPush). A host that supplies its
// own Dialer sets its own.
func DefaultKeepAlive() net.KeepAliveConfig {
	return net.KeepAliveConfig{Enable: true, Idle: 2 * time.Minute, Interval: 30 * time.Second, Count: 5}
}

// Dial resolves host, checks every address against the policy, then dials
// the checked addresses in order (never the name again, so DNS cannot
// change the answer between the check and the dial). Errors are *Error of
// class Policy or Temporary.
func (n Net) Dial(ctx context.Context, protocol, host string, port int) (net.Conn, error) {
	server := net.JoinHostPort(host, fmt.Sprint(port))
	timeout := n.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	policy := n.Policy
	if policy == nil {
		policy = AllowAll
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		res := n.Resolver
		if res == nil {
			res = net.DefaultResolver
		}
		addrs, err = res.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, &Error{Class: Temporary, Protocol: protocol, Op: "resolve", Server: server, Err: err, Hint: "check the server host name"}
		}
	}
	for _, a := range addrs {
		if err := policy.Allow(host, a); err != nil {
			return nil, &Error{Class: Policy, Protocol: protocol, Op: "dial", Server: server, Err: err, Hint: "this server address is not allowed"}
		}
	}
	d := n.Dialer
	if d == nil {
		d = &net.Dialer{KeepAliveConfig: DefaultKeepAlive()}
	}
	var lastErr error
	for _, a := range addrs {
		conn, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(a, uint16(port)).String())
		if err == nil {
			return conn, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	if lastErr == nil {
		lastErr = errors.New("no address")
	}
	return nil, &Error{Class: Temporary, Protocol: protocol, Op: "dial", Server: server, Err: lastErr, Hint: "the server cannot be reached; check host, port and firewall"}
}
