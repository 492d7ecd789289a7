package webhooks

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// RefusedError is the error of a connection refused before it was made:
// the address it would have reached is not a public one.
type RefusedError struct {
	Addr netip.Addr
	// Kind says what the address is: "a loopback address", ...
	Kind string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refused: %s is %s; set webhooks.allow_private_networks to deliver on-prem", e.Addr, e.Kind)
}

var (
	cgnat    = netip.MustParsePrefix("100.64.0.0/10")
	thisNet  = netip.MustParsePrefix("0.0.0.0/8")
	uniqueV6 = netip.MustParsePrefix("fc00::/7")
	// nat64 embeds an IPv4 address in its last 32 bits; a NAT64 gateway
	// would connect to that address.
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
)

// checkAddress returns a *RefusedError when ip is not a public unicast
// address: loopback, private (RFC 1918 and 100.64/10), link-local,
// unique-local, unspecified, multicast or broadcast, in any of their IPv6
// (IPv4-mapped or NAT64) spellings.
func checkAddress(ip netip.Addr) error {
	orig := ip
	ip = ip.Unmap()
	if ip.Is6() && nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	kind := ""
	switch {
	case !ip.IsValid():
		kind = "not an IP address"
	case ip.IsUnspecified() || ip.Is4() && thisNet.Contains(ip):
		kind = "an unspecified address"
	case ip.IsLoopback():
		kind = "a loopback address"
	case ip.IsLinkLocalUnicast():
		kind = "a link-local address"
	case ip.Is6() && uniqueV6.Contains(ip):
		kind = "a unique-local address"
	case ip.IsPrivate():
		kind = "a private address"
	case ip.Is4() && cgnat.Contains(ip):
		kind = "a shared (CGNAT) address"
	case ip.IsMulticast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast():
		kind = "a multicast address"
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		kind = "the broadcast address"
	default:
		return nil
	}
	return &RefusedError{Addr: orig, Kind: kind}
}

// newDialer returns the dialer of every delivery. Unless private networks
// are allowed, its Control function checks each address just before the
// socket connects to it: that is the address DNS resolved to this time,
// so a name that resolves to a public address when checked and to a
// private one when used (DNS rebinding) gets nowhere.
func newDialer(allowPrivate bool) *net.Dialer {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("refused: cannot check address %q: %w", address, err)
			}
			return checkAddress(ap.Addr())
		}
	}
	return d
}
