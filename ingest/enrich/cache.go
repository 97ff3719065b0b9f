package enrich

import (
	"hash/maphash"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
)

// stringCache is a bounded, lock-free cache from short strings (User-Agents, URL paths) to
// the answer worked out from them. It is built like countryCache: a fixed array of sets of
// cacheWays slots, each slot one atomic word (here a pointer to an immutable entry), so a
// reader sees a whole entry or none and never takes a lock; when a set is full, the slot
// chosen by the key's hash is replaced. Memory is therefore fixed by the number of slots and
// the longest key cached, whatever the traffic: a spray of distinct keys only replaces
// entries, and the replaced ones are garbage. A hit costs one hash of the key, a few loads
// and one string comparison, and allocates nothing; a miss allocates the entry and a copy
// of the key (the caller's string may point into a reused request buffer).
type stringCache[V any] struct {
	seed   maphash.Seed
	mask   uint64
	maxKey int
	sets   [][cacheWays]atomic.Pointer[cacheEntry[V]]
}

type cacheEntry[V any] struct {
	hash uint64
	key  string
	val  V
}

const cacheWays = 4

// newStringCache returns a cache of sets×cacheWays entries (sets a power of two) for keys of
// 1 to maxKey bytes.
func newStringCache[V any](sets, maxKey int) *stringCache[V] {
	if sets <= 0 || sets&(sets-1) != 0 {
		panic("enrich: cache sets must be a power of two")
	}
	return &stringCache[V]{
		seed:   maphash.MakeSeed(),
		mask:   uint64(sets - 1),
		maxKey: maxKey,
		sets:   make([][cacheWays]atomic.Pointer[cacheEntry[V]], sets),
	}
}

// cacheable reports whether key may be cached; others are always worked out afresh, so that
// a few huge keys cannot pin much memory.
func (c *stringCache[V]) cacheable(key string) bool { return len(key) > 0 && len(key) <= c.maxKey }

// get returns the answer cached for a cacheable key, and the key's hash for put.
func (c *stringCache[V]) get(key string) (v V, hash uint64, ok bool) {
	hash = maphash.String(c.seed, key)
	set := &c.sets[hash&c.mask]
	for w := range set {
		if e := set[w].Load(); e != nil && e.hash == hash && e.key == key {
			return e.val, hash, true
		}
	}
	return v, hash, false
}

// put caches v for a cacheable key whose hash get returned.
func (c *stringCache[V]) put(key string, hash uint64, v V) {
	e := &cacheEntry[V]{hash: hash, key: strings.Clone(key), val: v}
	set := &c.sets[hash&c.mask]
	for w := range set {
		if set[w].CompareAndSwap(nil, e) {
			return
		}
	}
	set[(hash>>32)%cacheWays].Store(e)
}

// cached returns compute(key), from c when key is cacheable, and counts the lookup as a hit
// or a miss of cache id (a key too long to cache is a miss).
func cached[V any](c *stringCache[V], counts *cacheCounts, id int, key string, compute func(string) V) V {
	if !c.cacheable(key) {
		counts.miss(id)
		return compute(key)
	}
	v, h, ok := c.get(key)
	if ok {
		counts.hit(id)
		return v
	}
	counts.miss(id)
	v = compute(key)
	c.put(key, h, v)
	return v
}

// The caches whose lookups are counted, the values of the cache label.
const (
	cacheAgent = iota
	cachePage
	cacheCountry
	numCaches
)

var cacheNames = [numCaches]string{cacheAgent: "user_agent", cachePage: "page", cacheCountry: "country"}

// cacheCounts counts the lookups of every cache, hits and misses, in striped counters that
// are summed only when /metrics is scraped. One shared counter per cache would be written
// by every core on every beacon, and the cache line bouncing between cores would cost as
// much as the lookup saves; a stripe is picked by the calling goroutine's stack (see
// stripe), so the cores mostly write their own lines.
type cacheCounts struct {
	stripes [countStripes]countStripe
}

const (
	countStripeBits = 6
	countStripes    = 1 << countStripeBits // 8 KiB of counters
)

type countStripe struct {
	n [numCaches][2]atomic.Uint64 // [cache][0 hit, 1 miss]
	_ [128 - numCaches*2*8]byte   // a stripe per pair of cache lines (the adjacent-line prefetcher pairs them)
}

func (c *cacheCounts) hit(cache int)  { c.stripe().n[cache][0].Add(1) }
func (c *cacheCounts) miss(cache int) { c.stripe().n[cache][1].Add(1) }

// stripe picks the calling goroutine's stripe from the address of its stack. Goroutines
// have distinct stacks and a goroutine runs on one core for a whole request, so the two
// cores rarely write the same stripe at once; the address is only a hint (stacks move when
// they grow), which is all striping needs.
func (c *cacheCounts) stripe() *countStripe {
	var here byte
	a := uint64(uintptr(unsafe.Pointer(&here)))
	return &c.stripes[((a>>12)*0x9E3779B97F4A7C15)>>(64-countStripeBits)]
}

// sum returns the hits and misses of one cache so far.
func (c *cacheCounts) sum(cache int) (hits, misses uint64) {
	for i := range c.stripes {
		hits += c.stripes[i].n[cache][0].Load()
		misses += c.stripes[i].n[cache][1].Load()
	}
	return hits, misses
}

// cacheCollector exposes cacheCounts as rumd_enrich_cache_lookups_total{cache,result}.
type cacheCollector struct {
	counts *cacheCounts
	desc   *prometheus.Desc
}

func newCacheCollector(counts *cacheCounts) *cacheCollector {
	return &cacheCollector{counts: counts, desc: prometheus.NewDesc(
		"rumd_enrich_cache_lookups_total",
		"Lookups in enrichment's caches (user_agent: device and bot by User-Agent; page: page group by URL path; country: country by GeoIP record), by result; a key too long to cache counts as a miss.",
		[]string{"cache", "result"}, nil)}
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	for cache, name := range cacheNames {
		hits, misses := c.counts.sum(cache)
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(hits), name, "hit")
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(misses), name, "miss")
	}
}
