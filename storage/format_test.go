package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"rumd/internal/series"
	"rumd/internal/sketch"
)

// format1 is what storage/testdata/format1/expected.json says the fixture holds; the
// fixture was written by the release before format versioning (see
// testdata/genformat1/main.go).
type format1 struct {
	Flushed  int64               `json:"flushed"`
	HourDone int64               `json:"hour_done"`
	DayDone  int64               `json:"day_done"`
	Values   map[string][]string `json:"label_values"`
	Sketches []storedSketch      `json:"sketches"`
}

type storedSketch struct {
	Res    string            `json:"res"`
	View   string            `json:"view"`
	Metric string            `json:"metric"`
	Start  int64             `json:"start"`
	Labels map[string]string `json:"labels"`
	Count  int               `json:"count"`
	Max    float64           `json:"max"`
}

func (s *storedSketch) id() string {
	return fmt.Sprintf("%s|%s|%s|%d|%v", s.Res, s.View, s.Metric, s.Start, s.Labels)
}

// copyDir copies the flat directory src into a new temporary directory: Badger writes to
// the directory it opens, and the fixture must stay as the old release left it.
func copyDir(tb testing.TB, src string) string {
	tb.Helper()
	dst := tb.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dst
}

// readAll reads back, by name, every sketch of the default views in [from, to) at every
// resolution.
func readAll(t *testing.T, db *DB, from, to int64) map[string]storedSketch {
	t.Helper()
	got := map[string]storedSketch{}
	for r := Res(0); r < NumRes; r++ {
		for _, v := range series.DefaultViews() {
			for m := series.Metric(0); m < series.NumMetrics; m++ {
				if !v.Carries(m) {
					continue
				}
				err := db.Scan(r, v.Mask, m, from, to, func(start int64, key, val []byte) error {
					var l series.Labels
					if err := series.ParseKey(v, key, &l); err != nil {
						return err
					}
					s, err := sketch.Decode(val)
					if err != nil {
						return err
					}
					ss := storedSketch{Res: r.String(), View: v.String(), Metric: m.String(), Start: start,
						Labels: l.Map(v.Dims), Count: int(s.GetCount()), Max: sketch.Quantile(s, 1)}
					if _, dup := got[ss.id()]; dup {
						return fmt.Errorf("sketch %s read twice", ss.id())
					}
					got[ss.id()] = ss
					return nil
				})
				if err != nil {
					t.Fatalf("scan %s %s %s: %v", r, v, m, err)
				}
			}
		}
	}
	return got
}

// countSketchKeys counts the sketch keys in the store, whatever they decode to.
func countSketchKeys(t *testing.T, db *DB) int {
	t.Helper()
	n := 0
	err := db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{kindSketch}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReadsFormat1Fixture opens a data directory written by the release before format
// versioning and reads back every sketch, count and label value it holds. Run with
// -tags rumd_extra, the build has one more page metric (which moves every probe metric to
// a new enum position) and two more dimensions (one moving probe, one after it): stored data
// must read back unchanged all the same.
func TestReadsFormat1Fixture(t *testing.T) {
	raw, err := os.ReadFile("testdata/format1/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var want format1
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if len(want.Sketches) < 1000 {
		t.Fatalf("fixture lists only %d sketches", len(want.Sketches))
	}
	db := mustOpen(t, copyDir(t, "testdata/format1/db"), DefaultOptions())
	defer db.Close(context.Background())

	if db.Flushed() != want.Flushed {
		t.Errorf("flushed %s, want %s", unix(db.Flushed()), unix(want.Flushed))
	}
	if h, d := db.Rolled(); h != want.HourDone || d != want.DayDone {
		t.Errorf("rolled to hour %s day %s, want %s %s", unix(h), unix(d), unix(want.HourDone), unix(want.DayDone))
	}
	from, to := want.DayDone-2*86400, want.Flushed+86400
	got := readAll(t, db, from, to)
	for _, w := range want.Sketches {
		id := w.id()
		g, ok := got[id]
		if !ok {
			t.Errorf("sketch %s not read back", id)
			continue
		}
		delete(got, id)
		if g.Count != w.Count {
			t.Errorf("sketch %s: count %d, want %d", id, g.Count, w.Count)
		}
		if math.Abs(g.Max-w.Max) > w.Max*sketch.RelativeAccuracy*1.0001 {
			t.Errorf("sketch %s: max %v, want %v within %.2f%%", id, g.Max, w.Max, 100*sketch.RelativeAccuracy)
		}
	}
	for id := range got {
		t.Errorf("sketch %s read back but never written", id)
	}
	if n := countSketchKeys(t, db); n != len(want.Sketches) {
		t.Errorf("store holds %d sketch keys, %d expected: some were not read", n, len(want.Sketches))
	}
	for _, name := range series.DimNames() {
		d, _ := series.ParseDim(name)
		vals, err := db.LabelValues(d, from, to)
		if err != nil {
			t.Fatal(err)
		}
		w := want.Values[name]
		sort.Strings(w)
		if fmt.Sprint(vals) != fmt.Sprint(w) {
			t.Errorf("label values of %s: %v, want %v", name, vals, w)
		}
	}
}
