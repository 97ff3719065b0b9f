package storage

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"rumd/internal/series"
)

// TestKeyBytes pins the byte layout of docs/on-disk-format.md on one key of each kind.
func TestKeyBytes(t *testing.T) {
	var l series.Labels
	l[series.Page], l[series.Country] = "/a", "DE"
	pc := series.NewView(series.Country, series.Page)
	k := keyOf(Minute, pc.Mask, series.TTFB, 1763683260, series.AppendKey(nil, pc, &l))
	if got, want := hex.EncodeToString(k.append(nil)), "010000004fbd0303691fabbc2f611f44451f"; got != want {
		t.Errorf("sketch key %s, want %s", got, want)
	}
	if got, want := hex.EncodeToString(appendIndexKey(nil, 1763683260/86400, series.Probe, "cdn-a")), "0200004fbd0563646e2d61"; got != want {
		t.Errorf("index key %s, want %s", got, want)
	}
	if got, want := hex.EncodeToString(metaKey(metaFormat)), "00666f726d6174"; got != want {
		t.Errorf("format meta key %s, want %s", got, want)
	}
}

func TestSketchKeyRoundTrip(t *testing.T) {
	views := append(series.DefaultViews(), series.NewView(series.Page, series.Country, series.Device, series.Nav, series.Variant))
	for r := Res(0); r < NumRes; r++ {
		for _, v := range views {
			for m := series.Metric(0); m < series.NumMetrics; m++ {
				if !v.Carries(m) {
					continue
				}
				for _, start := range []int64{0, 1763683200, 1763683260 + 86400*400, 1<<32 - 60} {
					ser := []byte(fmt.Sprintf("%s\x1f", strings.Repeat("x", int(m))))
					want := keyOf(r, v.Mask, m, start, ser)
					b := want.append([]byte("junk")[:0])
					got, err := parseSketchKey(b)
					if err != nil {
						t.Fatalf("%s %s %s %d: %v", r, v, m, start, err)
					}
					if got.res != r.code() || got.view != v.Mask.Code() || got.metric != m.Code() ||
						got.part != partitionOf(r, start) || got.start != start || !bytes.Equal(got.series, ser) {
						t.Fatalf("%s %s %s %d: parsed %+v, want %+v", r, v, m, start, got, want)
					}
					if !bytes.HasPrefix(b, want.appendComboPrefix(nil)) || !bytes.HasPrefix(b, want.appendStartPrefix(nil)) {
						t.Fatalf("%s %s %s %d: key %x lacks its own prefixes", r, v, m, start, b)
					}
				}
			}
		}
	}
}

// TestSketchKeysSortByTime: for one (resolution, view, metric), keys sort by window start
// first, whatever their series, across partitions too; that is what lets Scan read a time
// range with one seek per partition and stop at the first key past it.
func TestSketchKeysSortByTime(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	v := series.NewView(series.Page, series.Probe)
	for r := Res(0); r < NumRes; r++ {
		type item struct {
			start int64
			key   []byte
		}
		var items []item
		for i := 0; i < 2000; i++ {
			start := 1763683200 + r.Seconds()*rnd.Int64N(3*partSeconds[r]/r.Seconds())
			ser := make([]byte, rnd.IntN(8))
			for j := range ser {
				ser[j] = byte(rnd.IntN(256))
			}
			k := keyOf(r, v.Mask, series.ProbeTTFB, start, ser)
			items = append(items, item{start, k.append(nil)})
		}
		sort.Slice(items, func(i, j int) bool { return bytes.Compare(items[i].key, items[j].key) < 0 })
		parts := map[uint32]bool{}
		for i := range items {
			k, _ := parseSketchKey(items[i].key)
			parts[k.part] = true
			if i > 0 && items[i].start < items[i-1].start {
				t.Fatalf("%s: key of %s sorts after key of %s", r, unix(items[i-1].start), unix(items[i].start))
			}
		}
		if len(parts) < 3 {
			t.Fatalf("%s: keys span %d partitions, the test needs several", r, len(parts))
		}
	}
	// Resolutions and partitions order before views and metrics: retention drops a
	// partition of one resolution by one prefix.
	a := keyOf(Minute, series.NewView(series.Probe).Mask, series.ProbeTotal, 1763683200, nil)
	b := keyOf(Minute, series.NewView().Mask, series.DNS, 1763683200+86400, nil)
	c := keyOf(Hour, series.NewView().Mask, series.DNS, 0, nil)
	if !(bytes.Compare(a.append(nil), b.append(nil)) < 0 && bytes.Compare(b.append(nil), c.append(nil)) < 0) {
		t.Error("keys do not sort by resolution, then partition, then view and metric")
	}
}

func TestParseSketchKeyRefusesBadKeys(t *testing.T) {
	k := keyOf(Hour, series.NewView(series.Page).Mask, series.LCP, 1763683200, []byte("/a\x1f"))
	good := k.append(nil)
	for n := 0; n < sketchHeader; n++ {
		if _, err := parseSketchKey(good[:n]); err == nil {
			t.Errorf("a %d-byte key parsed", n)
		}
	}
	for _, kind := range []byte{kindMeta, kindIndex, 0x03, 0xff} {
		bad := append([]byte{kind}, good[1:]...)
		if _, err := parseSketchKey(bad); err == nil || !strings.Contains(err.Error(), "not a sketch key") {
			t.Errorf("key of kind %#x: error %v", kind, err)
		}
	}
	// Positive controls: the whole key parses, and so does a bare header (the total view's
	// series key is empty).
	if _, err := parseSketchKey(good); err != nil {
		t.Fatal(err)
	}
	if k, err := parseSketchKey(good[:sketchHeader]); err != nil || len(k.series) != 0 {
		t.Fatalf("bare header: %+v %v", k, err)
	}
}

func TestIndexKeys(t *testing.T) {
	for d := series.Dim(0); d < series.NumDims; d++ {
		for _, val := range []string{"", "/checkout", "ü"} {
			day, code, got, err := parseIndexKey(appendIndexKey(nil, 20412, d, val))
			if err != nil || day != 20412 || code != d.Code() || string(got) != val {
				t.Fatalf("%s %q: day %d dim %d value %q err %v", d, val, day, code, got, err)
			}
		}
	}
	good := appendIndexKey(nil, 20412, series.Page, "/a")
	for n := 0; n < indexHeader; n++ {
		if _, _, _, err := parseIndexKey(good[:n]); err == nil {
			t.Errorf("a %d-byte index key parsed", n)
		}
	}
	if _, _, _, err := parseIndexKey(append([]byte{kindSketch}, good[1:]...)); err == nil {
		t.Error("a sketch-kind key parsed as an index key")
	}
	// A day's keys share its prefix and sort before the next day's.
	day1 := appendIndexKey(nil, 20412, series.Variant, "zzz")
	day2 := appendIndexKey(nil, 20413, series.Page, "")
	if !bytes.HasPrefix(day1, appendIndexDayPrefix(nil, 20412)) || bytes.Compare(day1, day2) >= 0 {
		t.Error("index keys do not group and sort by day")
	}
}

func TestDecodeMeta(t *testing.T) {
	for _, n := range []int{0, 1, 7, 9} {
		if _, err := decodeMeta(make([]byte, n)); err == nil {
			t.Errorf("a %d-byte meta value decoded", n)
		}
	}
	if v, err := decodeMeta([]byte{0, 0, 0, 0, 0x69, 0x1f, 0xab, 0xbc}); err != nil || v != 1763683260 {
		t.Fatalf("meta value %d %v", v, err)
	}
}
