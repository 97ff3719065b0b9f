package storage

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/dgraph-io/badger/v4/options"
)

// BenchmarkCheckDir measures the check Open runs before Badger on a store of 25 hours of
// 500 pages (about 10 MiB of tables); MB/s is table bytes read per second.
func BenchmarkCheckDir(b *testing.B) {
	dir := b.TempDir()
	db := mustOpen(b, dir, DefaultOptions())
	for i := int64(0); i < 1500; i++ {
		pages := map[string][]float64{}
		for p := 0; p < 500; p++ {
			pages[fmt.Sprintf("/p%d", p)] = []float64{float64(100 + p + int(i)), float64(p * 3), 7000}
		}
		if err := db.WriteWindow(window(checkBase+i*60, pages)); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	b.ResetTimer()
	var n int64
	for i := 0; i < b.N; i++ {
		st, err := checkDir(dir, options.Snappy, log)
		if err != nil {
			b.Fatal(err)
		}
		n = st.tableBytes
	}
	b.SetBytes(n)
}
