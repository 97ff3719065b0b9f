package ratelimit

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func TestBucketsPerAddressAndPrefix(t *testing.T) {
	l, err := New(Options{PerAddr: 10, AddrBurst: 5, PerPrefix: 1, PrefixBurst: 12, MaxTracked: 1000, IPv4PrefixLen: 24, IPv6PrefixLen: 64})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1763683200, 0)
	a := netip.MustParseAddr("192.0.2.7")
	for i := 0; i < 5; i++ {
		if ok, _ := l.Allow(a, now); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	ok, wait := l.Allow(a, now)
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("6th request: ok=%v wait=%v, want refused for 100ms", ok, wait)
	}
	if ok, _ := l.Allow(a, now.Add(100*time.Millisecond)); !ok {
		t.Fatal("a token must be back after 1/rate")
	}
	// Other addresses of the same /24 share the prefix bucket (12, 6 already used).
	refused := 0
	for i := 0; i < 10; i++ {
		if ok, _ := l.Allow(netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", 100+i)), now.Add(100*time.Millisecond)); !ok {
			refused++
		}
	}
	if refused != 4 {
		t.Fatalf("prefix bucket refused %d of 10, want 4", refused)
	}
	// Another network is not affected; IPv4-mapped IPv6 is the same client as IPv4.
	if ok, _ := l.Allow(netip.MustParseAddr("198.51.100.1"), now); !ok {
		t.Fatal("another /24 refused")
	}
	if ok, _ := l.Allow(netip.MustParseAddr("::ffff:192.0.2.7"), now.Add(100*time.Millisecond)); ok {
		t.Fatal("IPv4-mapped address escaped its IPv4 bucket")
	}
}

func TestMemoryIsBounded(t *testing.T) {
	l, _ := New(Options{PerAddr: 1, AddrBurst: 1, PerPrefix: 1, PrefixBurst: 1, MaxTracked: 500, IPv4PrefixLen: 24, IPv6PrefixLen: 64})
	now := time.Now()
	for i := 0; i < 200000; i++ {
		l.Allow(netip.AddrFrom4([4]byte{byte(i >> 16), byte(i >> 8), byte(i), 1}), now)
	}
	if a, p := l.Tracked(); a > 500 || p > 500 {
		t.Fatalf("tracking %d addresses and %d prefixes, cap 500", a, p)
	}
}

func TestOffAndValidate(t *testing.T) {
	if l, err := New(Options{MaxTracked: 1, IPv4PrefixLen: 24, IPv6PrefixLen: 64}); err != nil || l != nil {
		t.Fatalf("both levels off must give no limiter: %v %v", l, err)
	}
	var l *Limiter
	if ok, _ := l.Allow(netip.MustParseAddr("192.0.2.1"), time.Now()); !ok {
		t.Fatal("a nil limiter allows everything")
	}
	for _, o := range []Options{
		{PerAddr: -1, MaxTracked: 1, IPv4PrefixLen: 24, IPv6PrefixLen: 64},
		{PerAddr: 1, AddrBurst: 0, MaxTracked: 1, IPv4PrefixLen: 24, IPv6PrefixLen: 64},
		{PerAddr: 1, AddrBurst: 1, MaxTracked: 0, IPv4PrefixLen: 24, IPv6PrefixLen: 64},
		{PerAddr: 1, AddrBurst: 1, MaxTracked: 1, IPv4PrefixLen: 40, IPv6PrefixLen: 64},
	} {
		if o.Validate() == nil {
			t.Errorf("%+v must be invalid", o)
		}
	}
}

func BenchmarkAllow(b *testing.B) {
	l, _ := New(DefaultOptions())
	now := time.Now()
	addrs := make([]netip.Addr, 1024)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		l.Allow(addrs[i%len(addrs)], now.Add(time.Duration(i)*time.Millisecond))
	}
}
