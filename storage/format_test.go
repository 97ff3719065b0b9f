package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
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
		vals, err := db.LabelValues(context.Background(), d, from, to)
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

// rawOptions opens a store with Badger alone, small enough for a test.
func rawOptions(dir string) badger.Options {
	return badger.DefaultOptions(dir).WithLogger(nil).WithMemTableSize(4 << 20).WithValueThreshold(1 << 10).WithValueLogFileSize(1 << 20)
}

// rawMeta reads a meta value with Badger alone, as a tool outside rumd would.
func rawMeta(t *testing.T, dir, name string) (int64, bool) {
	t.Helper()
	bdb, err := badger.Open(rawOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	var v int64
	found := false
	err = bdb.View(func(txn *badger.Txn) error {
		it, err := txn.Get(metaKey(name))
		if err == badger.ErrKeyNotFound {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return it.Value(func(b []byte) error { v, err = decodeMeta(b); return err })
	})
	if err != nil {
		t.Fatal(err)
	}
	return v, found
}

// setRawMeta writes a meta value with Badger alone, as another rumd build would.
func setRawMeta(t *testing.T, dir, name string, v int64) {
	t.Helper()
	bdb, err := badger.Open(rawOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	wb := bdb.NewWriteBatch()
	if err := setMeta(wb, name, v); err != nil {
		t.Fatal(err)
	}
	if err := wb.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := bdb.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFormatVersionIsRecorded(t *testing.T) {
	// A store written before versioning has no format key; opening it records format 1.
	old := copyDir(t, "testdata/format1/db")
	if v, found := rawMeta(t, old, metaFormat); found {
		t.Fatalf("the fixture already records format %d", v)
	}
	db := mustOpen(t, old, DefaultOptions())
	if err := db.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v, found := rawMeta(t, old, metaFormat); !found || v != 1 {
		t.Fatalf("after open the fixture records format %d (%v), want 1", v, found)
	}
	// A new store records the current format before anything is written.
	fresh := t.TempDir()
	db = mustOpen(t, fresh, DefaultOptions())
	if err := db.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v, found := rawMeta(t, fresh, metaFormat); !found || v != FormatVersion {
		t.Fatalf("a new store records format %d (%v), want %d", v, found, FormatVersion)
	}
}

func TestRefusesNewerFormat(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, DefaultOptions())
	if err := db.WriteWindow(window(1763683200, map[string][]float64{"/a": {100}})); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Positive control: the store reopens while it records this build's format.
	db = mustOpen(t, dir, DefaultOptions())
	if err := db.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	setRawMeta(t, dir, metaFormat, FormatVersion+1)
	for i := 0; i < 2; i++ { // a refused open leaves the store as it was: refused again
		db, err := Open(dir, nil, nil, DefaultOptions())
		if err == nil {
			db.Close(context.Background())
			t.Fatal("a store in a newer format was opened")
		}
		if !errors.Is(err, ErrNewerFormat) {
			t.Fatalf("error %v does not wrap ErrNewerFormat", err)
		}
		for _, want := range []string{dir, fmt.Sprintf("format %d", FormatVersion+1), fmt.Sprintf("up to %d", FormatVersion)} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	}
	if v, _ := rawMeta(t, dir, metaFormat); v != FormatVersion+1 {
		t.Fatalf("the refused store now records format %d", v)
	}
	if _, err := os.Stat(filepath.Join(dir, dirtyMarker)); !os.IsNotExist(err) {
		t.Errorf("a refused open left %s behind: %v", dirtyMarker, err)
	}

	setRawMeta(t, dir, metaFormat, 0)
	if _, err := Open(dir, nil, nil, DefaultOptions()); err == nil || !strings.Contains(err.Error(), "format 0, which no release wrote") {
		t.Fatalf("format 0: error %v", err)
	}
}

// TestRollupCarriesUnknownCodes: a newer build of the same format may store a metric this
// build does not know; this build's rollups must still merge it, not fail or drop it.
func TestRollupCarriesUnknownCodes(t *testing.T) {
	db := mustOpen(t, t.TempDir(), DefaultOptions())
	defer db.Close(context.Background())
	base := int64(1763683200)
	if err := db.WriteWindow(window(base, map[string][]float64{"/a": {100}})); err != nil {
		t.Fatal(err)
	}
	unknown := sketchKey{res: Minute.code(), view: pageView.Mask.Code(), metric: 0xee, part: partitionOf(Minute, base)}
	wb := db.bdb.NewWriteBatch()
	for i := int64(0); i < 3; i++ {
		unknown.start, unknown.series = base+60*i, []byte("/a\x1f")
		if err := wb.Set(unknown.append(nil), sketch.AppendEncoded(nil, sketchOf(float64(10+i)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i < 61; i++ {
		if err := db.WriteWindow(window(base+60*i, map[string][]float64{"/a": {100}})); err != nil {
			t.Fatal(err)
		}
	}
	if h, _ := db.Rolled(); h != base+3600 {
		t.Fatalf("hour not rolled up: %s", unix(h))
	}
	// Positive control: the known metric is in the rollup.
	if got := collect(t, db, Hour, base, base+3600)["/a\x1f"].GetCount(); got != 60 {
		t.Fatalf("known metric's hour count %v, want 60", got)
	}
	rolled := sketchKey{res: Hour.code(), view: unknown.view, metric: 0xee, part: partitionOf(Hour, base), start: base, series: []byte("/a\x1f")}
	err := db.bdb.View(func(txn *badger.Txn) error {
		it, err := txn.Get(rolled.append(nil))
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			s, err := sketch.Decode(v)
			if err == nil && s.GetCount() != 3 {
				err = fmt.Errorf("count %v, want 3", s.GetCount())
			}
			return err
		})
	})
	if err != nil {
		t.Fatalf("hour rollup of the unknown metric: %v", err)
	}
}
