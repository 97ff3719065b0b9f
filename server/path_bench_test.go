package server

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"rumd/aggregator"
	"rumd/internal/geoipfile"
	"rumd/internal/series"
	"rumd/internal/testutil"
	"rumd/server/beacon"
	"rumd/server/enrich"
	"rumd/storage"
)

// BenchmarkInProcessPath measures one beacon's whole in-process cost: decode, validate,
// enrich (country, device, bot, page group), derive, and every sketch add of the default
// views, without HTTP. DESIGN §6 budgets it at 5 µs and 5 allocations.
func BenchmarkInProcessPath(b *testing.B) {
	db, err := storage.Open(b.TempDir(), nil, nil, storage.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close(context.Background())
	agg, err := aggregator.Open(nil, nil, db, aggregator.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer agg.Close(context.Background())
	eo := enrich.DefaultOptions()
	eo.GeoIPPath = testutil.MustGeoIPFile(b, geoipfile.GeoIP2Country, geoipfile.Network{CIDR: "1.2.3.0/24", Country: "DE"})
	enr, err := enrich.New(nil, nil, eo)
	if err != nil {
		b.Fatal(err)
	}
	defer enr.Close()
	now := time.Now()
	body := testutil.MustJSON(b, testutil.Beacon(now, "https://example.com/questions/4242?tab=votes", 312.5, 1830))
	peer := netip.MustParseAddr("127.0.0.1")
	ua := "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
	opts := beacon.DefaultOptions()
	dst := make([]beacon.Beacon, 0, 1)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		beacons, _, err := beacon.Decode(body, dst[:0])
		if err != nil {
			b.Fatal(err)
		}
		bc := &beacons[0]
		if r, detail := beacon.Validate(bc, now, &opts); r != beacon.OK {
			b.Fatal(r, detail)
		}
		if enrich.IsBot(ua) {
			b.Fatal("bot")
		}
		var rec series.Record
		rec.Time = now.Unix()
		rec.Labels[series.Page] = enr.PageGroup(bc.URL)
		rec.Labels[series.Country] = enr.Country(peer, "1.2.3.4", "")
		rec.Labels[series.Device] = enr.Device(ua, "")
		beacon.Derive(bc, &rec)
		agg.Apply(&rec)
		dst = beacons
	}
}
