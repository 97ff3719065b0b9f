package enrich

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"rumd/internal/geoipfile"
	"rumd/internal/testutil"
	"rumd/loadtest"
)

// cacheRules has a rule of every kind, so that cached page groups are checked against
// templates, wildcards and regular expressions as well as the default rule.
var cacheRules = []PageRule{
	{Match: "/"},
	{Match: "/questions/:id"},
	{Match: "/static/*", Name: "static"},
	{Match: `re:^/users/\d+(/|$)`, Name: "/users/:id"},
}

// agentParts and urlParts are what random User-Agents and URLs are made of: the tokens the
// classifiers look for (in several cases), browser and crawler User-Agents, identifiers of
// every kind the default rule collapses, separators, and bytes that are dropped.
var (
	agentParts = func() []string {
		p := []string{"Mozilla/5.0 (", "; ", ") ", "cu", "CU", "é", "\xff", "\x00", " ", "/1.0"}
		for _, t := range deviceTokens {
			p = append(p, t.token, strings.ToLower(t.token))
		}
		for _, t := range botTokens {
			p = append(p, t, strings.ToUpper(t))
		}
		p = append(p, benchUAs...)
		p = append(p, loadtest.BotUAs...)
		for _, d := range loadtest.Devices {
			p = append(p, d.UAs...)
		}
		return p
	}()
	urlParts = []string{
		"https://", "HTTP://", "//", "example.com", ":8443", "/", "/", "/", "?", "#", "&x=1",
		"questions", "static", "users", "Questions", "42", "0", "123456",
		"3f2504e0-4f89-11d3-9a0c-0305e82c3301", "9fceb02d0ae598e95dc970b74767f19372d61af8",
		"cafe", "about:", "data:", "é", "\xc3", "\xff", "\x00", " ", "\t", ":id",
	}
)

func randomString(r *rand.Rand, parts []string, maxParts int) string {
	var b strings.Builder
	for range r.IntN(maxParts + 1) {
		b.WriteString(parts[r.IntN(len(parts))])
	}
	return b.String()
}

// withTinyCaches shrinks e's User-Agent and page caches to one set of cacheWays entries, so
// that nearly every lookup replaces an entry and every key shares a set with others.
func withTinyCaches(e *Enricher) *Enricher {
	e.agents = newStringCache[agentAnswer](1, maxAgentKey)
	e.pageCache = newStringCache[string](1, maxPageKey)
	return e
}

// checkCached fails unless the cached answers for ua, hint and url, asked twice, are the
// answers worked out without a cache.
func checkCached(t testing.TB, e *Enricher, ua, hint, url string) {
	wantDevice, wantBot := e.Device(ua, hint), IsBot(ua)
	wantGroup := e.pathGroup(urlPath(url))
	for try := range 2 {
		if d, bot := e.Agent(ua, hint); d != wantDevice || bot != wantBot {
			t.Fatalf("call %d: Agent(%q, %q) = %q, %v; uncached %q, %v", try+1, ua, hint, d, bot, wantDevice, wantBot)
		}
		if g := e.PageGroup(url); g != wantGroup {
			t.Fatalf("call %d: PageGroup(%q) = %q; uncached %q", try+1, url, g, wantGroup)
		}
	}
}

// TestCachedAnswersProperty compares cached and uncached answers for random User-Agents
// and URLs from several goroutines at once, with full-size caches and with tiny ones in
// which entries are replaced all the time. A few keys are longer than the caches take.
func TestCachedAnswersProperty(t *testing.T) {
	for _, tiny := range []bool{false, true} {
		e := internalEnricher(t, Options{PageRules: cacheRules})
		if tiny {
			withTinyCaches(e)
		}
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(w), 7))
				// A small pool of keys, so that keys come back and are answered by the cache.
				uas := make([]string, 64)
				urls := make([]string, 64)
				for i := range uas {
					uas[i] = randomString(r, agentParts, 8)
					urls[i] = randomString(r, urlParts, 12)
				}
				uas[0] = strings.Repeat("Mobile ", maxAgentKey/7+1)
				urls[0] = "/" + strings.Repeat("questions/", maxPageKey/10+1)
				hints := []string{"", "?0", "?1"}
				for range 5000 {
					checkCached(t, e, uas[r.IntN(len(uas))], hints[r.IntN(3)], urls[r.IntN(len(urls))])
				}
			})
		}
		wg.Wait()
		hits, misses := e.counts.sum(cacheAgent)
		if hits == 0 || misses == 0 {
			t.Errorf("tiny caches %v: %d User-Agent hits and %d misses; the test must see both", tiny, hits, misses)
		}
		hits, misses = e.counts.sum(cachePage)
		if hits == 0 || misses == 0 {
			t.Errorf("tiny caches %v: %d page hits and %d misses; the test must see both", tiny, hits, misses)
		}
	}
}

// FuzzCachedAnswers checks that the caches never change an answer: each input is looked up
// twice (the second time from the cache) in tiny caches that earlier inputs keep filling.
func FuzzCachedAnswers(f *testing.F) {
	f.Add(benchUAs[0], "", "https://example.com/questions/42?tab=votes")
	f.Add("Mozilla/5.0 (compatible; Googlebot/2.1)", "?1", "/users/7/x")
	f.Add("", "?0", "")
	f.Add("CUBOT Mobile", "?1", "//cdn.example.com/static/app.js")
	f.Add("Tablet PC Android", "", "/carts/3f2504e0-4f89-11d3-9a0c-0305e82c3301/")
	e, err := New(nil, nil, Options{PageRules: cacheRules})
	if err != nil {
		f.Fatal(err)
	}
	withTinyCaches(e)
	f.Fuzz(func(t *testing.T, ua, hint, url string) {
		checkCached(t, e, ua, hint, url)
	})
}

// TestCacheMemoryBounded sprays distinct keys as long as the caches take, ten times their
// capacity in bytes, and checks that the heap keeps only about what the caches can hold.
func TestCacheMemoryBounded(t *testing.T) {
	e := internalEnricher(t, DefaultOptions())
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	const n = 60_000
	ua := []byte(strings.Repeat("Mozilla/5.0 (X11; Linux x86_64) ", maxAgentKey/33) + "Spray/")
	// The paths end in a number, so that they all have one page group and the spray fills
	// the page cache, not the interner of groups.
	url := []byte("https://example.com/" + strings.Repeat("p/", (maxPageKey-10)/2) + "1")
	before := heap()
	for i := range n {
		k := []byte{byte('a' + i%26), byte('a' + i/26%26), byte('a' + i/676%26), byte('a' + i/17576%26)}
		e.Agent(string(append(ua, k...)), "")
		e.PageGroup(string(strconv.AppendInt(url, int64(100_000+i), 10)))
	}
	grown := int64(heap()) - int64(before)
	// What the caches may hold: every slot full with an entry and its key, rounded up.
	bound := int64(agentCacheSets*cacheWays*(maxAgentKey+64)+pageCacheSets*cacheWays*(maxPageKey+64)) + 1<<20
	sprayed := int64(n * (len(ua) + len(url)))
	t.Logf("sprayed %d MB of keys; the heap grew by %.1f MB, bound %.1f MB", sprayed>>20, float64(grown)/(1<<20), float64(bound)/(1<<20))
	if grown > bound {
		t.Errorf("the heap grew by %d bytes after a spray of %d distinct keys; the caches hold at most %d", grown, n, bound)
	}
	// Positive control: the spray went through the caches, and the last keys are cached.
	if _, misses := e.counts.sum(cacheAgent); misses < n {
		t.Fatalf("%d User-Agent misses for %d distinct User-Agents", misses, n)
	}
	if _, misses := e.counts.sum(cachePage); misses < n {
		t.Fatalf("%d page misses for %d distinct paths", misses, n)
	}
	if sprayed < 5*bound {
		t.Fatalf("the spray (%d bytes) is too small to show a bound of %d", sprayed, bound)
	}
	last := string(append(ua, 'z', 'z', 'z', 'z'))
	e.Agent(last, "")
	h0, _ := e.counts.sum(cacheAgent)
	e.Agent(last, "")
	if h, _ := e.counts.sum(cacheAgent); h != h0+1 {
		t.Error("a User-Agent just looked up was not answered by the cache")
	}
}

// TestCacheMetrics checks rumd_enrich_cache_lookups_total: exact counts from one goroutine,
// exact totals from many (the counters are striped), and long keys counted as misses.
func TestCacheMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	geo := testutil.MustGeoIPFile(t, geoipfile.GeoIP2Country, geoipfile.Network{CIDR: "192.0.2.0/24", Country: "DE"})
	e, err := New(nil, reg, Options{GeoIPPath: geo})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	lookups := func(cache, result string) float64 {
		t.Helper()
		return testutil.MustMetric(t, reg, "rumd_enrich_cache_lookups_total", "cache", cache, "result", result)
	}
	want := func(cache string, hits, misses float64) {
		t.Helper()
		if h, m := lookups(cache, "hit"), lookups(cache, "miss"); h != hits || m != misses {
			t.Errorf("%s cache: %v hits, %v misses; want %v, %v", cache, h, m, hits, misses)
		}
	}
	want("user_agent", 0, 0)
	for range 3 {
		e.Agent(benchUAs[0], "")
		e.PageGroup("https://example.com/questions/42?tab=votes")
		if c := e.Country(netip.MustParseAddr("192.0.2.7"), "", ""); c != "DE" {
			t.Fatalf("Country = %q, want DE", c)
		}
	}
	want("user_agent", 2, 1)
	want("page", 2, 1)
	want("country", 2, 1)

	long := strings.Repeat("x", maxAgentKey+1)
	e.Agent(long, "")
	e.Agent(long, "")
	want("user_agent", 2, 3)

	const workers, each = 8, 10_000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				e.Agent(benchUAs[(w+i)%len(benchUAs)], "")
			}
		})
	}
	wg.Wait()
	// The other four browsers miss at least once each.
	if h, m := lookups("user_agent", "hit"), lookups("user_agent", "miss"); h+m != 5+workers*each || m < 3+4 {
		t.Errorf("after %d more lookups from %d goroutines: %v hits + %v misses; want %d in all, and at least 7 misses",
			workers*each, workers, h, m, 5+workers*each)
	}
}

// TestStringCacheCollisions fills a cache of two sets with many keys from many goroutines and
// checks that a hit always returns the value stored for that very key.
func TestStringCacheCollisions(t *testing.T) {
	c := newStringCache[string](2, 64)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			hits := 0
			for range 20_000 {
				k := string(rune('a' + r.IntN(20)))
				if v, h, ok := c.get(k); ok {
					if v != "v"+k {
						t.Errorf("get(%q) = %q", k, v)
						return
					}
					hits++
				} else {
					c.put(k, h, "v"+k)
				}
			}
			if hits == 0 {
				t.Error("no hit in 20,000 lookups of 20 keys")
			}
		})
	}
	wg.Wait()
	if c.cacheable("") || c.cacheable(strings.Repeat("k", 65)) || !c.cacheable(strings.Repeat("k", 64)) {
		t.Error("cacheable is wrong about empty or long keys")
	}
}
