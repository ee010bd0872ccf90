package transport_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/correio-dev/correio/transport"
)

// TestPublicOnlyRanges walks the IANA IPv4 and IPv6 special-purpose
// registries: one address at each edge of every range is refused, the
// public neighbours are allowed.
func TestPublicOnlyRanges(t *testing.T) {
	refused := []struct{ rng, first, last string }{
		// IPv4 special-purpose registry.
		{"0.0.0.0/8 this network", "0.0.0.0", "0.255.255.255"},
		{"0.0.0.1", "0.0.0.1", "0.0.0.1"},
		{"10.0.0.0/8", "10.0.0.0", "10.255.255.255"},
		{"100.64.0.0/10 shared", "100.64.0.0", "100.127.255.255"},
		{"127.0.0.0/8 loopback", "127.0.0.1", "127.255.255.255"},
		{"169.254.0.0/16 link-local", "169.254.0.0", "169.254.255.255"},
		{"169.254.169.254 metadata", "169.254.169.254", "169.254.169.254"},
		{"172.16.0.0/12", "172.16.0.0", "172.31.255.255"},
		{"192.0.0.0/24 IETF", "192.0.0.0", "192.0.0.255"},
		{"192.0.2.0/24 TEST-NET-1", "192.0.2.0", "192.0.2.255"},
		{"192.88.99.0/24 6to4 relay", "192.88.99.0", "192.88.99.255"},
		{"192.168.0.0/16", "192.168.0.0", "192.168.255.255"},
		{"198.18.0.0/15 benchmarking", "198.18.0.0", "198.19.255.255"},
		{"198.51.100.0/24 TEST-NET-2", "198.51.100.0", "198.51.100.255"},
		{"203.0.113.0/24 TEST-NET-3", "203.0.113.0", "203.0.113.255"},
		{"224.0.0.0/4 multicast", "224.0.0.0", "239.255.255.255"},
		{"240.0.0.0/4 reserved", "240.0.0.0", "255.255.255.254"},
		{"255.255.255.255 broadcast", "255.255.255.255", "255.255.255.255"},
		// IPv6 special-purpose registry and what lies outside 2000::/3.
		{"::/128 unspecified", "::", "::"},
		{"::1/128 loopback", "::1", "::1"},
		{"::/96 IPv4-compatible", "::7f00:1", "::ffff:ffff"},
		{"::ffff:0:0/96 mapped private", "::ffff:10.0.0.1", "::ffff:127.0.0.1"},
		{"::ffff:0:0/96 mapped metadata", "::ffff:169.254.169.254", "::ffff:0.0.0.1"},
		{"::ffff:0:0:0/96 translated", "::ffff:0:8.8.8.8", "::ffff:0:127.0.0.1"},
		{"64:ff9b::/96 NAT64 private", "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1"},
		{"64:ff9b::/96 NAT64 10/8", "64:ff9b::10.1.2.3", "64:ff9b::192.168.1.1"},
		{"64:ff9b::/96 NAT64 reserved", "64:ff9b::0.0.0.1", "64:ff9b::255.255.255.255"},
		{"64:ff9b:1::/48 local NAT64", "64:ff9b:1::", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff"},
		{"100::/64 discard", "100::", "100::ffff:ffff:ffff:ffff"},
		{"2001::/32 Teredo", "2001::", "2001:0:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"2001:2::/48 benchmarking", "2001:2::", "2001:2:0:ffff:ffff:ffff:ffff:ffff"},
		{"2001:10::/28 ORCHID", "2001:10::", "2001:1f:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"2001::/23 IETF", "2001:100::", "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"2001:db8::/32 documentation", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"3fff::/20 documentation", "3fff::", "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"2002::/16 6to4 of private", "2002:a00:1::1", "2002:c0a8:101::1"},
		{"2002::/16 6to4 of loopback", "2002:7f00:1::", "2002:a9fe:a9fe::1"},
		{"2002::/16 6to4 of this network", "2002::", "2002:0:1::"},
		{"5f00::/16 SRv6", "5f00::", "5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"fc00::/7 unique local", "fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"fe80::/10 link-local", "fe80::1", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"fe80::1%eth0 scoped", "fe80::1%eth0", "fe80::1%1"},
		{"fec0::/10 site-local", "fec0::1", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"ff00::/8 multicast", "ff02::1", "ff0e::1"},
		{"outside 2000::/3", "4000::1", "1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
	}
	for _, c := range refused {
		for _, a := range []string{c.first, c.last} {
			err := transport.PublicOnly.Allow("mail.example", netip.MustParseAddr(a))
			if !errors.Is(err, transport.ErrAddressRefused) {
				t.Errorf("%s: %s allowed (err %v)", c.rng, a, err)
			}
		}
	}
	if err := transport.PublicOnly.Allow("h", netip.Addr{}); !errors.Is(err, transport.ErrAddressRefused) {
		t.Error("the zero Addr is allowed")
	}
	allowed := []struct{ rng, addr string }{
		{"below 10/8", "9.255.255.255"},
		{"above 10/8", "11.0.0.0"},
		{"below 100.64/10", "100.63.255.255"},
		{"above 100.64/10", "100.128.0.0"},
		{"below 172.16/12", "172.15.255.255"},
		{"above 172.16/12", "172.32.0.0"},
		{"192.0.1.x", "192.0.1.1"},
		{"above 198.18/15", "198.20.0.0"},
		{"below 198.18/15", "198.17.255.255"},
		{"below multicast", "223.255.255.255"},
		{"public", "93.184.216.34"},
		{"public", "8.8.8.8"},
		{"mapped public", "::ffff:8.8.8.8"},
		{"NAT64 of public", "64:ff9b::808:808"},
		{"6to4 of public", "2002:808:808::1"},
		{"global unicast", "2606:2800:220:1:248:1893:25c8:1946"},
		{"first real 2001 allocation", "2001:200::1"},
		{"Google", "2001:4860:4860::8888"},
		{"below 3fff::/20", "3ffe:ffff::1"},
		{"above 3fff::/20", "3fff:1000::1"},
		{"above 2001:db8::/32", "2001:db9::1"},
	}
	for _, c := range allowed {
		if err := transport.PublicOnly.Allow("mail.example", netip.MustParseAddr(c.addr)); err != nil {
			t.Errorf("%s: %s refused: %v", c.rng, c.addr, err)
		}
	}
}
