package transport

import (
	"fmt"
	"net/netip"
)

// PublicOnly refuses every address that is not a public unicast address,
// or that embeds or reaches one that is not: use it for mailboxes an end
// user typed in, so the library cannot be turned against the host's own
// network (loopback, the private ranges, the cloud metadata address
// 169.254.169.254, ...).
//
// The reference is the IANA IPv4 and IPv6 Special-Purpose Address
// Registries. Refused are, for IPv4: 0.0.0.0/8, 10/8, 100.64/10 (shared
// CGNAT), 127/8, 169.254/16, 172.16/12, 192.0.0.0/24, 192.0.2.0/24,
// 192.88.99.0/24 (6to4 relays), 192.168/16, 198.18/15 (benchmarking),
// 198.51.100.0/24, 203.0.113.0/24, multicast 224/4, 240/4 and
// 255.255.255.255. For IPv6, only global unicast 2000::/3 is allowed, minus
// 2001::/23 (Teredo, benchmarking, ORCHID, ...), 2001:db8::/32 and
// 3fff::/20 (documentation); everything outside 2000::/3 is refused
// (unspecified, loopback, IPv4-compatible ::/96, IPv4-translated, the
// discard prefixes, ULA fc00::/7, link-local fe80::/10, site-local
// fec0::/10, multicast ff00::/8, SRv6 5f00::/16, the local-use NAT64
// 64:ff9b:1::/48). Addresses that embed an IPv4 address are judged by it:
// IPv4-mapped ::ffff:0:0/96, NAT64 64:ff9b::/96 (so 64:ff9b::a9fe:a9fe,
// the metadata address through a NAT64 gateway, is refused) and 6to4
// 2002::/16.
var PublicOnly AddressPolicy = AddressPolicyFunc(publicOnly)

func publicOnly(host string, a netip.Addr) error {
	if why := nonPublic(a); why != "" {
		return fmt.Errorf("%w: %s resolves to %s (%s)", ErrAddressRefused, host, a, why)
	}
	return nil
}

type special struct {
	p   netip.Prefix
	why string
}

func prefixes(list ...string) []special {
	out := make([]special, 0, len(list)/2)
	for i := 0; i < len(list); i += 2 {
		out = append(out, special{netip.MustParsePrefix(list[i]), list[i+1]})
	}
	return out
}

var (
	specialV4 = prefixes(
		"0.0.0.0/8", "this network",
		"10.0.0.0/8", "private",
		"100.64.0.0/10", "shared address space",
		"127.0.0.0/8", "loopback",
		"169.254.0.0/16", "link-local",
		"172.16.0.0/12", "private",
		"192.0.0.0/24", "IETF protocol assignments",
		"192.0.2.0/24", "documentation",
		"192.88.99.0/24", "6to4 relay anycast",
		"192.168.0.0/16", "private",
		"198.18.0.0/15", "benchmarking",
		"198.51.100.0/24", "documentation",
		"203.0.113.0/24", "documentation",
		"224.0.0.0/4", "multicast",
		"240.0.0.0/4", "reserved",
		"255.255.255.255/32", "limited broadcast",
	)
	globalV6  = netip.MustParsePrefix("2000::/3")
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
	specialV6 = prefixes(
		"2001::/23", "IETF protocol assignments (Teredo, benchmarking, ORCHID)",
		"2001:db8::/32", "documentation",
		"3fff::/20", "documentation",
	)
)

// nonPublic says why a is not a public address, or "" when it is.
func nonPublic(a netip.Addr) string {
	if !a.IsValid() {
		return "invalid"
	}
	if a.Zone() != "" {
		return "scoped address"
	}
	if a.Is4In6() {
		if why := nonPublic(a.Unmap()); why != "" {
			return "IPv4-mapped " + why
		}
		return ""
	}
	if a.Is4() {
		for _, s := range specialV4 {
			if s.p.Contains(a) {
				return s.why
			}
		}
		return ""
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		if why := nonPublic(netip.AddrFrom4([4]byte(b[12:16]))); why != "" {
			return "NAT64 of " + why
		}
		return ""
	case !globalV6.Contains(a):
		return ipv6Why(a)
	case sixToFour.Contains(a):
		if why := nonPublic(netip.AddrFrom4([4]byte(b[2:6]))); why != "" {
			return "6to4 of " + why
		}
		return ""
	}
	for _, s := range specialV6 {
		if s.p.Contains(a) {
			return s.why
		}
	}
	return ""
}

// ipv6Why names the kind of an IPv6 address outside global unicast.
func ipv6Why(a netip.Addr) string {
	switch {
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsMulticast():
		return "multicast"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsPrivate():
		return "unique local"
	}
	b := a.As16()
	switch {
	case b[0] == 0xfe && b[1]&0xc0 == 0xc0:
		return "site-local"
	case netip.MustParsePrefix("::/96").Contains(a):
		return "IPv4-compatible"
	}
	return "not global unicast"
}
