package storage

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"rumd/internal/testutil"
)

// TestDiskBytesAfterWrite: the size on disk that /api/v1/status and the home page show
// must count windows as soon as they are written. Badger refreshes its own Size only once
// a minute, so a store that had just taken its first windows read "0 B".
func TestDiskBytesAfterWrite(t *testing.T) {
	reg := prometheus.NewRegistry()
	db, err := Open(t.TempDir(), nil, reg, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	before := db.DiskBytes()
	base := int64(1763683200)
	pages := map[string][]float64{}
	for p := 0; p < 200; p++ {
		pages["/page-"+string(rune('a'+p%26))+string(rune('a'+p/26))] = []float64{100, 200, 300, 400}
	}
	for i := int64(0); i < 60; i++ {
		if err := db.WriteWindow(window(base+i*60, pages)); err != nil {
			t.Fatal(err)
		}
	}
	after := db.DiskBytes()
	metric := testutil.MustMetric(t, reg, "rumd_storage_disk_bytes")
	t.Logf("disk bytes: %d before, %d after 60 windows, gauge %v", before, after, metric)
	// 60 windows of 200 series each are written to the write-ahead log at least: well
	// over 100 KiB whatever the encoding.
	if after-before < 100<<10 || metric < float64(before+100<<10) {
		t.Fatalf("disk bytes did not grow with the writes: %d before, %d after, gauge %v", before, after, metric)
	}
}
