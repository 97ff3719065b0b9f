package ingest_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"rumd/aggregator"
	"rumd/ingest"
	"rumd/ingest/enrich"
	"rumd/internal/geoipfile"
	"rumd/internal/testutil"
	"rumd/loadtest"
	"rumd/storage"
)

// mustPipeline is the pipeline as rumd serve builds it: a real enricher with the GeoIP file
// at geo ("" for none), the default aggregator views over a Badger store in a temp dir.
func mustPipeline(b testing.TB, geo string, trusted []string) (*ingest.Pipeline, *aggregator.Aggregator) {
	b.Helper()
	db, err := storage.Open(b.TempDir(), nil, nil, storage.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close(context.Background()) })
	agg, err := aggregator.Open(nil, nil, db, aggregator.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { agg.Close(context.Background()) })
	eo := enrich.DefaultOptions()
	eo.GeoIPPath, eo.TrustedProxies = geo, trusted
	enr, err := enrich.New(nil, nil, eo)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { enr.Close() })
	p, err := ingest.New(nil, nil, enr, agg, ingest.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	return p, agg
}

// BenchmarkInProcessPath measures one beacon's whole in-process cost through the pipeline's
// one entry point, as the HTTP handler calls it: client enrichment (address, country, device,
// bot), decode, validate, page group, derive, every sketch add of the default views, and the
// pipeline's own counters. docs/design.md budgets it at 5 µs and 5 allocations.
//
// "one" repeats a single beacon (every cache warm); "population" cycles through the load
// tool's own pool of good beacons (Zipf pages over tens of thousands of URLs, 20 countries
// through the tool's GeoIP file, its user-agent mix), which is what a load run sends.
func BenchmarkInProcessPath(b *testing.B) {
	b.Run("one", func(b *testing.B) {
		geo := testutil.MustGeoIPFile(b, geoipfile.GeoIP2Country, geoipfile.Network{CIDR: "1.2.3.0/24", Country: "DE"})
		p, _ := mustPipeline(b, geo, []string{"127.0.0.1/32"})
		now := time.Now()
		body := testutil.MustJSON(b, testutil.Beacon(now, "https://example.com/questions/4242?tab=votes", 312.5, 1830))
		req := ingest.Request{
			Peer:         netip.MustParseAddr("127.0.0.1"),
			ForwardedFor: "1.2.3.4",
			UserAgent:    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
		}
		var res ingest.Result
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			cl := p.Client(&req)
			p.Body(body, &cl, now, &res)
			if len(res.Refused) > 0 {
				b.Fatal(res.Refused[0])
			}
		}
	})
	b.Run("population", func(b *testing.B) {
		p, pool, reqs, now := mustPopulation(b, loadtest.BuildPool)
		var res ingest.Result
		i := 0
		for b.Loop() {
			it := &pool.Items[i]
			cl := p.Client(&reqs[i])
			p.Body(it.Body, &cl, now, &res)
			if len(res.Refused) > 0 && it.Reason == "" {
				b.Fatal(res.Refused[0])
			}
			if i++; i == len(pool.Items) {
				i = 0
			}
		}
	})
	// "parallel" is the population on every core at once, as the HTTP server runs it: what
	// the cores share (shards, counters, caches) shows here and not above. ns/op is wall
	// time over beacons, so perfect scaling on 2 cores halves "population".
	b.Run("parallel", func(b *testing.B) {
		p, pool, reqs, now := mustPopulation(b, loadtest.BuildPool)
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			var res ingest.Result
			i := int(next.Add(7919)) % len(pool.Items)
			for pb.Next() {
				it := &pool.Items[i]
				cl := p.Client(&reqs[i])
				p.Body(it.Body, &cl, now, &res)
				if len(res.Refused) > 0 && it.Reason == "" {
					b.Error(res.Refused[0])
					return
				}
				if i++; i == len(pool.Items) {
					i = 0
				}
			}
		})
	})
}

// mustPopulation builds the pipeline with the load tool's GeoIP file, a pool of 20,000 good
// beacons of the load tool's population from build, and each item's request; it reports
// allocations and the pool's mean body size, so the caller's loop is all that is timed.
func mustPopulation(b *testing.B, build func(n int, bad float64, reasons []string, seed int64, now time.Time) (*loadtest.Pool, error)) (*ingest.Pipeline, *loadtest.Pool, []ingest.Request, time.Time) {
	b.Helper()
	geo := filepath.Join(b.TempDir(), "geo.mmdb")
	if err := loadtest.WriteGeoIP(geo, "geoip2-country"); err != nil {
		b.Fatal(err)
	}
	p, _ := mustPipeline(b, geo, []string{"127.0.0.1/32"})
	now := time.Now()
	pool, err := build(20000, 0, nil, 1, now)
	if err != nil {
		b.Fatal(err)
	}
	reqs := make([]ingest.Request, len(pool.Items))
	var bytes int
	for i, it := range pool.Items {
		reqs[i] = ingest.Request{Peer: netip.MustParseAddr("127.0.0.1"), ForwardedFor: it.IP, UserAgent: it.UA}
		bytes += len(it.Body)
	}
	b.ReportAllocs()
	b.SetBytes(int64(bytes / len(pool.Items)))
	b.ResetTimer()
	return p, pool, reqs, now
}
