// Package ratelimit holds the token buckets that keep one client, or one network, from
// flooding the public ingest path: one bucket per client address and one per network prefix
// (/24 for IPv4, /64 for IPv6), kept in bounded LRU caches so that memory cannot grow with
// the number of distinct addresses a flood uses.
package ratelimit

import (
	"fmt"
	"math"
	"net/netip"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Options configures the limiter. A rate of 0 turns that level off.
type Options struct {
	PerAddr       float64 // requests per second per client address
	AddrBurst     int
	PerPrefix     float64 // requests per second per /24 or /64
	PrefixBurst   int
	MaxTracked    int // addresses (and, separately, prefixes) remembered
	IPv4PrefixLen int
	IPv6PrefixLen int
}

// DefaultOptions allow a busy NAT'd office but not a flood: 20/s (burst 200) per address,
// 500/s (burst 5000) per prefix, 100,000 of each tracked.
func DefaultOptions() Options {
	return Options{PerAddr: 20, AddrBurst: 200, PerPrefix: 500, PrefixBurst: 5000, MaxTracked: 100000, IPv4PrefixLen: 24, IPv6PrefixLen: 64}
}

// Validate checks the options.
func (o Options) Validate() error {
	if o.PerAddr < 0 || o.PerPrefix < 0 || math.IsNaN(o.PerAddr) || math.IsNaN(o.PerPrefix) {
		return fmt.Errorf("rate limits must be ≥ 0 (0 = off), got %v and %v", o.PerAddr, o.PerPrefix)
	}
	if (o.PerAddr > 0 && o.AddrBurst < 1) || (o.PerPrefix > 0 && o.PrefixBurst < 1) {
		return fmt.Errorf("a rate limit needs a burst of at least 1")
	}
	if o.MaxTracked < 1 || o.MaxTracked > 10_000_000 {
		return fmt.Errorf("rate limit tracking size must be 1..10,000,000, got %d", o.MaxTracked)
	}
	if o.IPv4PrefixLen < 8 || o.IPv4PrefixLen > 32 || o.IPv6PrefixLen < 16 || o.IPv6PrefixLen > 128 {
		return fmt.Errorf("prefix lengths out of range: /%d for IPv4, /%d for IPv6", o.IPv4PrefixLen, o.IPv6PrefixLen)
	}
	return nil
}

// Limiter decides whether a client may send one more request.
type Limiter struct {
	opts     Options
	addrs    *lru.Cache[netip.Addr, *bucket]
	prefixes *lru.Cache[netip.Prefix, *bucket]
}

type bucket struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// take refills the bucket for the time since its last use and takes one token; when empty
// it returns how long until a token is back.
func (b *bucket) take(now time.Time, rate float64, burst int) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last.IsZero() {
		b.tokens = float64(burst)
	} else if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = math.Min(float64(burst), b.tokens+dt*rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / rate * float64(time.Second))
}

// New builds a limiter; nil when both levels are off.
func New(opts Options) (*Limiter, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.PerAddr == 0 && opts.PerPrefix == 0 {
		return nil, nil
	}
	l := &Limiter{opts: opts}
	var err error
	if l.addrs, err = lru.New[netip.Addr, *bucket](opts.MaxTracked); err != nil {
		return nil, err
	}
	if l.prefixes, err = lru.New[netip.Prefix, *bucket](opts.MaxTracked); err != nil {
		return nil, err
	}
	return l, nil
}

// Allow takes a token for client a from its address bucket and its prefix bucket. When
// either is empty it returns false and how long to wait.
func (l *Limiter) Allow(a netip.Addr, now time.Time) (bool, time.Duration) {
	if l == nil || !a.IsValid() {
		return true, 0
	}
	a = a.Unmap()
	if l.opts.PerAddr > 0 {
		if ok, wait := get(l.addrs, a).take(now, l.opts.PerAddr, l.opts.AddrBurst); !ok {
			return false, wait
		}
	}
	if l.opts.PerPrefix > 0 {
		bits := l.opts.IPv6PrefixLen
		if a.Is4() {
			bits = l.opts.IPv4PrefixLen
		}
		p, _ := a.Prefix(bits)
		if ok, wait := get(l.prefixes, p).take(now, l.opts.PerPrefix, l.opts.PrefixBurst); !ok {
			return false, wait
		}
	}
	return true, 0
}

// Tracked is the number of addresses and prefixes remembered.
func (l *Limiter) Tracked() (addrs, prefixes int) {
	if l == nil {
		return 0, 0
	}
	return l.addrs.Len(), l.prefixes.Len()
}

func get[K comparable](c *lru.Cache[K, *bucket], k K) *bucket {
	if b, ok := c.Get(k); ok {
		return b
	}
	b := &bucket{}
	if prev, ok, _ := c.PeekOrAdd(k, b); ok {
		return prev
	}
	return b
}
