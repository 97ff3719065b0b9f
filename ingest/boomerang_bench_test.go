package ingest_test

import (
	"testing"

	"rumd/ingest/beacon"
	"rumd/loadtest"
)

// BenchmarkInProcessBoomerang is BenchmarkInProcessPath/population for boomerang beacons: the
// load tool's pool of good boomerang page loads and unload beacons, through the pipeline's
// boomerang entry point (form decode, clock rules, validate, enrich, derive, sketch adds).
func BenchmarkInProcessBoomerang(b *testing.B) {
	p, pool, reqs, now := mustPopulation(b, loadtest.BuildBoomerangPool)
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
