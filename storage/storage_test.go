package storage

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"

	"rumd/internal/series"
	"rumd/internal/sketch"
)

func mustOpen(tb testing.TB, dir string, opts Options) *DB {
	tb.Helper()
	db, err := Open(dir, nil, nil, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

func sketchOf(vals ...float64) *ddsketch.DDSketch {
	s := sketch.New()
	for _, v := range vals {
		s.Add(v)
	}
	return s
}

var pageView = series.NewView(series.Page)

func window(start int64, pages map[string][]float64) *Window {
	w := &Window{Start: start}
	for p, vals := range pages {
		l := series.Labels{}
		l[series.Page] = p
		w.Entries = append(w.Entries, Entry{View: pageView.Mask, Metric: series.TTFB,
			Series: series.AppendKey(nil, pageView, &l), Sketch: sketchOf(vals...)})
		w.Values[series.Page] = append(w.Values[series.Page], p)
	}
	return w
}

// collect merges every sketch of a resolution in [from, to) per series.
func collect(t *testing.T, db *DB, r Res, from, to int64) map[string]*ddsketch.DDSketch {
	t.Helper()
	out := map[string]*ddsketch.DDSketch{}
	err := db.Scan(r, pageView.Mask, series.TTFB, from, to, func(_ int64, key, v []byte) error {
		s := out[string(key)]
		if s == nil {
			s = sketch.New()
			out[string(key)] = s
		}
		return sketch.MergeEncoded(s, v)
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWriteScanRollupAndReopen(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, DefaultOptions())
	base := int64(1763683200) // a midnight
	// 25 hours of windows: page /a gets 100 ms each minute, /b 1000 ms on even minutes.
	for i := int64(0); i < 25*60; i++ {
		pages := map[string][]float64{"/a": {100}}
		if i%2 == 0 {
			pages["/b"] = []float64{1000}
		}
		if err := db.WriteWindow(window(base+i*60, pages)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.WriteWindow(window(base, map[string][]float64{"/a": {1}})); err == nil {
		t.Fatal("rewriting an old window must be refused")
	}
	hourDone, dayDone := db.Rolled()
	if hourDone != base+25*3600 || dayDone != base+86400 {
		t.Fatalf("rolled to hour %s day %s", unix(hourDone), unix(dayDone))
	}
	mins := collect(t, db, Minute, base, base+86400)
	hours := collect(t, db, Hour, base, base+86400)
	days := collect(t, db, Day, base, base+86400)
	for _, m := range []map[string]*ddsketch.DDSketch{mins, hours, days} {
		if got := m["/a\x1f"].GetCount(); got != 1440 {
			t.Fatalf("/a count %v, want 1440", got)
		}
		if got := m["/b\x1f"].GetCount(); got != 720 {
			t.Fatalf("/b count %v, want 720", got)
		}
	}
	vals, err := db.LabelValues(context.Background(), series.Page, base, base+3600)
	if err != nil || fmt.Sprint(vals) != "[/a /b]" {
		t.Fatalf("label values %v %v", vals, err)
	}
	if err := db.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	db = mustOpen(t, dir, DefaultOptions())
	defer db.Close(context.Background())
	if db.Flushed() != base+25*3600 {
		t.Fatalf("flushed after reopen = %s", unix(db.Flushed()))
	}
	if got := collect(t, db, Day, base, base+86400)["/a\x1f"].GetCount(); got != 1440 {
		t.Fatalf("after reopen /a day count %v", got)
	}
}

func dirBytes(t *testing.T, dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Sys().(*syscall.Stat_t).Blocks * 512 // allocated, not apparent, size
		}
		return nil
	})
	return n
}

// TestRetentionFreesDisk runs a simulated clock through three times the 1m retention, with
// the same write rate every day, and checks that disk use stops growing once retention
// starts dropping partitions.
func TestRetentionFreesDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 6 simulated days")
	}
	dir := t.TempDir()
	opts := DefaultOptions()
	opts.Retention = [NumRes]time.Duration{2 * 24 * time.Hour, 14 * 24 * time.Hour, 128 * 24 * time.Hour}
	opts.MemTableBytes = 1 << 20
	db := mustOpen(t, dir, opts)
	defer func() { db.Close(context.Background()) }()
	base := int64(1763683200)
	r := rand.New(rand.NewPCG(7, 8))
	pagesAt := func() map[string][]float64 {
		pages := map[string][]float64{}
		for p := 0; p < 30; p++ {
			vals := make([]float64, 20)
			for i := range vals {
				vals[i] = math.Exp(r.NormFloat64() + 6)
			}
			pages[fmt.Sprintf("/p%d", p)] = vals
		}
		return pages
	}
	var sizes []int64
	for day := int64(0); day < 6; day++ {
		for m := int64(0); m < 1440; m++ {
			if err := db.WriteWindow(window(base+day*86400+m*60, pagesAt())); err != nil {
				t.Fatal(err)
			}
		}
		// Close and reopen so that memtables are on disk as tables and the size is stable.
		if err := db.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, dirBytes(t, dir))
		db = mustOpen(t, dir, opts)
		t.Logf("after day %d: %d KiB on disk", day+1, sizes[day]/1024)
	}
	// Minute data older than two days must be gone from the index of the store.
	if n := len(collect(t, db, Minute, base, base+3*86400)); n != 0 {
		t.Fatalf("minute data of day 1-3 still readable: %d series", n)
	}
	if got := collect(t, db, Hour, base, base+86400)["/p1\x1f"].GetCount(); got != 1440*20 {
		t.Fatalf("hour rollups of day 1 lost: count %v", got)
	}
	// Flat: once retention is in force (day 3 on), three more days add less than one day of
	// data weighs (day 1, minutes and rollups); without retention they would add three.
	// What still grows is the 1h and 1d rollups, which are kept longer.
	if grown := sizes[5] - sizes[2]; grown > sizes[0] {
		t.Fatalf("days 4-6 added %d KiB, more than day 1's %d KiB: retention is not freeing disk", grown/1024, sizes[0]/1024)
	}
}
