package webhook

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"testing"
)

func TestIsPrivate(t *testing.T) {
	private := []string{
		"127.0.0.1", "127.255.0.9", "::1", "10.0.0.1", "172.16.5.4", "192.168.1.1",
		"fc00::1", "fd12:3456::1", "169.254.169.254", "fe80::1", "100.64.0.1",
		"100.127.255.254", "224.0.0.1", "ff02::1", "0.0.0.0", "::", "0.1.2.3",
		"255.255.255.255", "::ffff:127.0.0.1", "::ffff:10.1.2.3", "64:ff9b::a00:1",
		"64:ff9b::7f00:1", "198.18.0.1", "192.0.0.8", "fec0::1",
	}
	public := []string{
		"93.184.216.34", "8.8.8.8", "100.63.255.255", "100.128.0.1", "172.32.0.1",
		"2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "203.0.113.10",
	}
	for _, s := range private {
		if !IsPrivate(netip.MustParseAddr(s)) {
			t.Errorf("IsPrivate(%s) = false, want true", s)
		}
	}
	for _, s := range public {
		if IsPrivate(netip.MustParseAddr(s)) {
			t.Errorf("IsPrivate(%s) = true, want false", s)
		}
	}
}

func TestCheckHostRefusesPrivateTargets(t *testing.T) {
	r := newResolver("internal.test", "10.0.0.1", "public.test", "203.0.113.10",
		"metadata.test", "169.254.169.254")
	r.set("mixed.test", "203.0.113.10", "192.168.0.7")
	g := NewGuard(r, false)
	ctx := context.Background()
	for _, host := range []string{"127.0.0.1", "::1", "169.254.169.254", "internal.test",
		"metadata.test", "mixed.test", "0.0.0.0"} {
		if err := g.CheckHost(ctx, host); !errors.Is(err, ErrPrivateTarget) {
			t.Errorf("CheckHost(%s) = %v, want ErrPrivateTarget", host, err)
		}
	}
	for _, host := range []string{"public.test", "203.0.113.10", "unknown.test"} {
		if err := g.CheckHost(ctx, host); err != nil {
			t.Errorf("CheckHost(%s) = %v, want nil", host, err)
		}
	}
	if err := NewGuard(r, true).CheckHost(ctx, "internal.test"); err != nil {
		t.Errorf("with private targets allowed: %v", err)
	}
}

// TestDialRefusesPrivateTargets dials a listening loopback port: the guard
// must refuse before any connection is made, for an address literal and for
// a name that resolves to a private address.
func TestDialRefusesPrivateTargets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	accepted := make(chan string, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c.RemoteAddr().String()
			c.Close()
		}
	}()
	r := newResolver("loop.test", "127.0.0.1", "internal.test", "10.0.0.1")
	g := NewGuard(r, false)
	ctx := context.Background()
	for _, host := range []string{"127.0.0.1", "loop.test", "internal.test", "::1"} {
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		if _, err := g.DialContext(ctx, "tcp", addr); !errors.Is(err, ErrPrivateTarget) {
			t.Errorf("dial %s: %v, want ErrPrivateTarget", addr, err)
		}
	}
	conn, err := NewGuard(r, true).DialContext(ctx, "tcp",
		net.JoinHostPort("loop.test", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("dial with private targets allowed: %v", err)
	}
	defer conn.Close()
	// The listener accepts in arrival order: the first connection it saw
	// must be the allowed one.
	if first := <-accepted; first != conn.LocalAddr().String() {
		t.Errorf("the listener first accepted %s, not the allowed dial", first)
	}
}

// TestControlChecksTheConnectedAddress covers the second line of defence:
// the dialer's Control hook refuses a private address even when asked
// directly.
func TestControlChecksTheConnectedAddress(t *testing.T) {
	g := NewGuard(nil, false)
	if err := g.control("tcp", "127.0.0.1:80", nil); !errors.Is(err, ErrPrivateTarget) {
		t.Errorf("control(127.0.0.1) = %v", err)
	}
	if err := g.control("tcp", "[::ffff:a00:1]:443", nil); !errors.Is(err,
		ErrPrivateTarget) {
		t.Errorf("control(mapped 10.0.0.1) = %v", err)
	}
	if err := g.control("tcp", "203.0.113.10:443", nil); err != nil {
		t.Errorf("control(public) = %v", err)
	}
}
