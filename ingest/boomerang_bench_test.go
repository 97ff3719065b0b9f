package ingest_test

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"rumd/ingest"
	"rumd/ingest/beacon"
	"rumd/loadtest"
)

// BenchmarkInProcessBoomerang is BenchmarkInProcessPath/population for boomerang beacons: the
// load tool's pool of good boomerang page loads and unload beacons, through the pipeline's
// boomerang entry point (form decode, clock rules, validate, enrich, derive, sketch adds).
func BenchmarkInProcessBoomerang(b *testing.B) {
	geo := filepath.Join(b.TempDir(), "geo.mmdb")
	if err := loadtest.WriteGeoIP(geo, "geoip2-country"); err != nil {
		b.Fatal(err)
	}
	p := mustPipeline(b, geo, []string{"127.0.0.1/32"})
	now := time.Now()
	pool, err := loadtest.BuildBoomerangPool(20000, 0, nil, 1, now)
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
	i := 0
	for b.Loop() {
		it := &pool.Items[i]
		cl := p.Client(&reqs[i])
		var query, body []byte
		if it.Get {
			query = it.Body
		} else {
			body = it.Body
		}
		if _, r, detail := p.Boomerang(query, body, &cl, now); r != beacon.OK {
			b.Fatal(r, detail)
		}
		if i++; i == len(pool.Items) {
			i = 0
		}
	}
}
