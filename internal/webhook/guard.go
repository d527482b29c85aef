package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrPrivateTarget is returned when a webhook URL resolves to an address
// that must not be reached from the server (loopback, private networks,
// cloud metadata and the like).
var ErrPrivateTarget = errors.New("webhook URL targets a private address")

// Resolver looks up the addresses of a host name. *net.Resolver is one;
// tests use a fixed table.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Guard keeps webhook traffic away from private addresses. CheckHost
// vets a URL's host when an endpoint is saved; DialContext is the dialer of
// the delivery client and refuses, at every attempt, to connect anywhere
// but a checked public address: it resolves the host itself, checks every
// address and dials the checked address, so a DNS answer that changes
// between the check and the connection cannot redirect it.
type Guard struct {
	allowPrivate bool
	resolver     Resolver
	dialer       *net.Dialer
	// private classifies addresses; IsPrivate unless a test replaces it.
	private func(netip.Addr) bool
}

// NewGuard returns a guard using r for name lookups (net.DefaultResolver
// when nil). With allowPrivate (WEBHOOK_ALLOW_PRIVATE_TARGETS) it checks
// nothing.
func NewGuard(r Resolver, allowPrivate bool) *Guard {
	if r == nil {
		r = net.DefaultResolver
	}
	g := &Guard{allowPrivate: allowPrivate, resolver: r, private: IsPrivate}
	g.dialer = &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second,
		Control: g.control}
	return g
}

// CheckHost refuses a host (a name or an address literal) that is or
// resolves to a private address, with ErrPrivateTarget. A name that does
// not resolve now is accepted: every delivery checks again.
func (g *Guard) CheckHost(ctx context.Context, host string) error {
	if g.allowPrivate {
		return nil
	}
	addrs, err := g.lookup(ctx, host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if g.private(a) {
			return ErrPrivateTarget
		}
	}
	return nil
}

// DialContext connects to addr (host:port) through a checked address. It
// fails with ErrPrivateTarget when any address of the host is private, so
// a name mixing public and private answers is refused as a whole.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("webhook dial %s: %w", addr, err)
	}
	addrs, err := g.lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	if !g.allowPrivate {
		for _, a := range addrs {
			if g.private(a) {
				return nil, ErrPrivateTarget
			}
		}
	}
	var errs []error
	for _, a := range addrs {
		conn, err := g.dialer.DialContext(ctx, network,
			net.JoinHostPort(a.String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// lookup returns the addresses of host: the literal itself, or the answers
// of the resolver.
func (g *Guard) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	addrs, err := g.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolve webhook host %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("resolve webhook host %s: no addresses", host)
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	return addrs, nil
}

// control runs just before each connection and checks the address once
// more, as a second line behind DialContext's own check.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	if g.allowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil || g.private(ap.Addr().Unmap()) {
		return ErrPrivateTarget
	}
	return nil
}

// blockedPrefixes are the ranges IsPrivate refuses beyond what netip
// classifies: "this network", carrier-grade NAT, IETF protocol
// assignments, benchmarking, the reserved class E block with the
// broadcast address, and the deprecated IPv6 site-local range.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("fec0::/10"),
}

// nat64 is the well-known NAT64 prefix; its addresses embed an IPv4
// address, which is checked in turn.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// IsPrivate reports whether a must not be a webhook target: loopback,
// private and unique-local, link-local (where cloud metadata services
// live), carrier-grade NAT, multicast, unspecified, and the other reserved
// ranges of blockedPrefixes. IPv4-mapped and NAT64 addresses are judged by
// the IPv4 address they carry.
func IsPrivate(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() {
		return true
	}
	if nat64.Contains(a) {
		b := a.As16()
		return IsPrivate(netip.AddrFrom4([4]byte(b[12:])))
	}
	if a.IsLoopback() || a.IsPrivate() || a.IsUnspecified() || a.IsMulticast() ||
		a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() {
		return true
	}
	for _, p := range blockedPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
