package boomerang_test

import (
	"testing"

	"rumd/ingest/boomerang"
)

// BenchmarkDecode decodes the page-load beacon the real boomerang sent from Chromium.
func BenchmarkDecode(b *testing.B) {
	cb := mustCaptured(b, "post-0-page_load.json")
	body := []byte(cb.Body)
	var bb boomerang.Beacon
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := boomerang.Decode(nil, body, nil, &bb); err != nil {
			b.Fatal(err)
		}
	}
}
