package enrich

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/oschwald/geoip2-golang"
	"github.com/oschwald/maxminddb-golang/v2"

	"rumd/internal/geoipfile"
	"rumd/internal/testutil"
	"rumd/loadtest"
)

// benchDB writes a database of 10,000 IPv4 /24s and 2,000 IPv6 /48s spread over 250
// countries and returns it with 1,024 addresses inside those networks, v4 and v6 mixed.
func benchDB(b *testing.B, layout geoipfile.Layout) (string, []netip.Addr) {
	b.Helper()
	var nets []geoipfile.Network
	var addrs []netip.Addr
	for i := range 12_000 {
		cc := string([]byte{byte('A' + i%250/26), byte('A' + i%250%26)})
		if i < 10_000 {
			nets = append(nets, geoipfile.Network{CIDR: fmt.Sprintf("%d.%d.%d.0/24", 11+i/65536, i/256%256, i%256), Country: cc})
		} else {
			nets = append(nets, geoipfile.Network{CIDR: fmt.Sprintf("2a00:%x::/48", i), Country: cc})
		}
	}
	for i := range 1024 {
		n := i * 7919 % 12_000
		if n < 10_000 {
			addrs = append(addrs, netip.MustParseAddr(fmt.Sprintf("%d.%d.%d.%d", 11+n/65536, n/256%256, n%256, i%250+1)))
		} else {
			addrs = append(addrs, netip.MustParseAddr(fmt.Sprintf("2a00:%x::%x", n, i)))
		}
	}
	return testutil.MustGeoIPFile(b, layout, nets...), addrs
}

// internalEnricher is New for the package's own tests and benchmarks, closed at cleanup.
func internalEnricher(tb testing.TB, opts Options) *Enricher {
	tb.Helper()
	e, err := New(nil, nil, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	return e
}

var sink string

// BenchmarkCountryLookup compares ways of reading a country code, on a Country and on a City
// database: geoip2-golang's Country (the obvious choice, which decodes the whole record into
// a large struct), maxminddb v2 decoding into the small countryRecord, and what Country does
// (that, behind the record-offset cache).
func BenchmarkCountryLookup(b *testing.B) {
	for _, layout := range []geoipfile.Layout{geoipfile.GeoIP2Country, geoipfile.GeoIP2City} {
		path, addrs := benchDB(b, layout)
		ips := make([]net.IP, len(addrs))
		for i, a := range addrs {
			ips[i] = net.IP(a.AsSlice())
		}
		b.Run(layout.String()+"/geoip2-golang", func(b *testing.B) {
			db, err := geoip2.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				c, err := db.Country(ips[i%len(ips)])
				if err != nil {
					b.Fatal(err)
				}
				sink = c.Country.IsoCode
			}
		})
		b.Run(layout.String()+"/maxminddb-uncached", func(b *testing.B) {
			db, err := maxminddb.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				var rec countryRecord
				if err := db.Lookup(addrs[i%len(addrs)]).Decode(&rec); err != nil {
					b.Fatal(err)
				}
				sink = rec.code()
			}
		})
		b.Run(layout.String()+"/maxminddb-cached", func(b *testing.B) {
			e := internalEnricher(b, Options{GeoIPPath: path})
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				sink = e.Country(addrs[i%len(addrs)], "", "")
			}
		})
	}
}

func BenchmarkCountry(b *testing.B) {
	path, addrs := benchDB(b, geoipfile.GeoIP2Country)
	e := internalEnricher(b, Options{GeoIPPath: path, TrustedProxies: []string{"10.0.0.0/8"}, CountryHeader: "CF-IPCountry"})
	peer := netip.MustParseAddr("10.1.2.3")
	xffs := make([]string, len(addrs))
	for i, a := range addrs {
		xffs[i] = a.String() + ", 10.9.9.9"
	}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			sink = e.Country(addrs[i%len(addrs)], "", "")
		}
	})
	b.Run("behind-proxy", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			sink = e.Country(peer, xffs[i%len(xffs)], "")
		}
	})
	b.Run("cdn-header", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = e.Country(peer, "198.51.100.1", "DE")
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var s string
			for i := 0; pb.Next(); i++ {
				s = e.Country(addrs[i%len(addrs)], "", "")
			}
			_ = s
		})
	})
}

func BenchmarkClientAddr(b *testing.B) {
	e := internalEnricher(b, Options{TrustedProxies: []string{"10.0.0.0/8", "2001:db8:aaaa::/48"}})
	peer := netip.MustParseAddr("10.1.2.3")
	b.ReportAllocs()
	var a netip.Addr
	for b.Loop() {
		a = e.ClientAddr(peer, "203.0.113.66, 198.51.100.9, 10.0.0.7")
	}
	_ = a
}

var benchUAs = []string{
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.56",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0",
	"Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
}

func BenchmarkDevice(b *testing.B) {
	e := internalEnricher(b, Options{})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sink = e.Device(benchUAs[i%len(benchUAs)], "")
	}
}

var botSink bool

// BenchmarkIsBot runs on browser User-Agents, the common case and the slowest one: the
// whole string is scanned without finding a token.
func BenchmarkIsBot(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		botSink = IsBot(benchUAs[i%len(benchUAs)])
	}
}

func BenchmarkPageGroup(b *testing.B) {
	rules := []PageRule{
		{Match: "/"},
		{Match: "/questions/:id"},
		{Match: "/questions/:id/:slug", Name: "/questions/:id"},
		{Match: "/static/*", Name: "static"},
		{Match: "/tags/:tag"},
		{Match: "/users/:id/:name", Name: "/users/:id"},
	}
	regexRules := append([]PageRule{{Match: `re:^/api/v\d+/`, Name: "api"}}, rules...)
	for _, bc := range []struct {
		name  string
		rules []PageRule
		url   string
	}{
		{"default-rule", nil, "https://example.com/orders/123456/items/7?ref=mail#top"},
		{"template", rules, "https://example.com/questions/42/how-to-exit-vim?tab=votes"},
		{"template-miss-default", rules, "https://example.com/products/9fceb02d0ae598e95dc970b74767f19372d61af8/reviews"},
		{"regex-first", regexRules, "https://example.com/users/42/alice"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := internalEnricher(b, Options{PageRules: bc.rules})
			b.ReportAllocs()
			for b.Loop() {
				sink = e.PageGroup(bc.url)
			}
		})
	}
	b.Run("parallel-default-rule", func(b *testing.B) {
		e := internalEnricher(b, Options{})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var s string
			for pb.Next() {
				s = e.PageGroup("https://example.com/orders/123456/items/7?ref=mail#top")
			}
			_ = s
		})
	})
}

// BenchmarkEnrich is the whole enrichment of one beacon, as the ingest handler calls it.
func BenchmarkEnrich(b *testing.B) {
	path, addrs := benchDB(b, geoipfile.GeoIP2Country)
	e := internalEnricher(b, Options{GeoIPPath: path, PageRules: []PageRule{{Match: "/questions/:id"}}})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		var bot bool
		if sink, bot = e.Agent(benchUAs[i%len(benchUAs)], "?0"); bot {
			b.Fatal("browser taken for a bot")
		}
		sink = e.Country(addrs[i%len(addrs)], "", "")
		sink = e.PageGroup("https://example.com/questions/42?tab=votes")
	}
}

// benchViews draws n page views of the load tool's population (80,000 raw URLs ranked by a
// Zipf law over its page templates, its user-agent mix, 20 countries), writes the tool's
// GeoIP file and returns an enricher that reads it and trusts loopback, as a load run
// configures rumd, with each view's X-Forwarded-For.
func benchViews(b *testing.B, n int) (*Enricher, []loadtest.View) {
	b.Helper()
	pop, err := loadtest.NewPopulation(80_000)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	z := pop.NewZipf(r)
	views := make([]loadtest.View, n)
	for i := range views {
		views[i] = pop.Draw(r, z)
	}
	geo := filepath.Join(b.TempDir(), "geo.mmdb")
	if err := loadtest.WriteGeoIP(geo, "geoip2-country"); err != nil {
		b.Fatal(err)
	}
	return internalEnricher(b, Options{GeoIPPath: geo, TrustedProxies: []string{"127.0.0.1/32"}}), views
}

var loopback = netip.MustParseAddr("127.0.0.1")

// BenchmarkPopulation runs each request-side enrichment over the load tool's population,
// one view after the other, on one core ("serial") and on every core ("parallel", where
// shared cache lines show). "client" is what the pipeline does per request and beacon:
// address, country, device and bot, page group.
func BenchmarkPopulation(b *testing.B) {
	e, views := benchViews(b, 20_000)
	steps := []struct {
		name  string
		fn    func(v *loadtest.View)
		cache int // whose hit rate is reported; -1 for none
	}{
		{"agent", func(v *loadtest.View) {
			if sink, botSink = e.Agent(v.UA, ""); botSink {
				b.Fatalf("browser %q taken for a bot", v.UA)
			}
		}, cacheAgent},
		// agent-scan is what Agent saves: both scans of the User-Agent on every call.
		{"agent-scan", func(v *loadtest.View) {
			botSink = IsBot(v.UA)
			sink = e.Device(v.UA, "")
		}, -1},
		{"page", func(v *loadtest.View) { sink = e.PageGroup(v.URL) }, cachePage},
		// page-uncached is what the page cache saves.
		{"page-uncached", func(v *loadtest.View) { sink = e.pathGroup(urlPath(v.URL)) }, -1},
		{"country", func(v *loadtest.View) { sink = e.Country(loopback, v.IP, "") }, cacheCountry},
		{"client", func(v *loadtest.View) {
			_ = e.ClientAddr(loopback, v.IP)
			sink = e.Country(loopback, v.IP, "")
			sink, botSink = e.Agent(v.UA, "")
			sink = e.PageGroup(v.URL)
		}, -1},
	}
	for _, st := range steps {
		b.Run(st.name+"/serial", func(b *testing.B) {
			defer reportHits(b, e, st.cache)()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				st.fn(&views[i])
				if i++; i == len(views) {
					i = 0
				}
			}
		})
		b.Run(st.name+"/parallel", func(b *testing.B) {
			defer reportHits(b, e, st.cache)()
			b.ReportAllocs()
			var start atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				i := int(start.Add(7919)) % len(views)
				for pb.Next() {
					st.fn(&views[i])
					if i++; i == len(views) {
						i = 0
					}
				}
			})
		})
	}
}

// reportHits reports the hit rate of cache (if not -1) over what runs until the function
// it returns is called.
func reportHits(b *testing.B, e *Enricher, cache int) func() {
	if cache < 0 {
		return func() {}
	}
	h0, m0 := e.counts.sum(cache)
	return func() {
		h, m := e.counts.sum(cache)
		if n := h - h0 + m - m0; n > 0 {
			b.ReportMetric(100*float64(h-h0)/float64(n), "hit%")
		}
	}
}

// BenchmarkCacheSpray is the worst case of the caches: every key is new (a crawler walking
// product ids, a spray of made-up User-Agents), so every lookup misses and its entry
// replaces another. "uncached" is the same work without the cache.
func BenchmarkCacheSpray(b *testing.B) {
	e := internalEnricher(b, Options{})
	const n = 1 << 16
	urls, uas := make([]string, n), make([]string, n)
	for i := range n {
		urls[i] = fmt.Sprintf("https://example.com/p%d/items/%d", i, i*7919)
		uas[i] = fmt.Sprintf("%s Spray/%d", benchUAs[i%len(benchUAs)], i)
	}
	b.Run("page", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			sink = e.PageGroup(urls[i%n])
		}
	})
	b.Run("page-uncached", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			sink = e.pathGroup(urlPath(urls[i%n]))
		}
	})
	b.Run("agent", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			sink, botSink = e.Agent(uas[i%n], "")
		}
	})
	b.Run("agent-scan", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			botSink = IsBot(uas[i%n])
			sink = e.Device(uas[i%n], "")
		}
	})
}
