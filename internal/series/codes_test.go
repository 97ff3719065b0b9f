package series

import (
	"fmt"
	"strings"
	"testing"
)

// The released codes, written out by hand. Stored data depends on them: a change here is a
// change of the on-disk format (docs/on-disk-format.md). New identifiers add rows.
var (
	pinnedMetricCodes = map[string]byte{
		"dns": 0, "connect": 1, "tls": 2, "ttfb": 3, "download": 4, "dom_interactive": 5,
		"dcl": 6, "load": 7, "fcp": 8, "lcp": 9, "inp": 10, "cls": 11,
		"probe_dns": 12, "probe_connect": 13, "probe_tls": 14, "probe_ttfb": 15, "probe_total": 16,
	}
	pinnedDimCodes = map[string]byte{
		"page": 0, "country": 1, "device": 2, "nav": 3, "variant": 4, "probe": 5,
	}
	pinnedResolutionCodes = map[string]byte{"1m": 0, "1h": 1, "1d": 2}
)

// testOnlyNames are the identifiers of the rumd_extra build, which no release stores.
func testOnlyNames() map[string]bool {
	out := map[string]bool{}
	for _, r := range testMetricCodes {
		out[r.name] = true
	}
	for _, r := range testDimCodes {
		out[r.name] = true
	}
	return out
}

func TestCodesArePinned(t *testing.T) {
	extra := testOnlyNames()
	metrics := map[string]bool{}
	for m := Metric(0); m < NumMetrics; m++ {
		name := m.String()
		metrics[name] = true
		want, ok := pinnedMetricCodes[name]
		switch {
		case !ok && !extra[name]:
			t.Errorf("metric %s (code %d) is not pinned: add it to pinnedMetricCodes", name, m.Code())
		case ok && m.Code() != want:
			t.Errorf("metric %s has code %d, released as %d", name, m.Code(), want)
		}
	}
	for name := range pinnedMetricCodes {
		if !metrics[name] {
			t.Errorf("released metric %s is gone from the table: keep its row so its code is never reused", name)
		}
	}
	dims := map[string]bool{}
	for d := Dim(0); d < NumDims; d++ {
		name := d.String()
		dims[name] = true
		want, ok := pinnedDimCodes[name]
		switch {
		case !ok && !extra[name]:
			t.Errorf("dimension %s (code %d) is not pinned: add it to pinnedDimCodes", name, d.Code())
		case ok && d.Code() != want:
			t.Errorf("dimension %s has code %d, released as %d", name, d.Code(), want)
		}
	}
	for name := range pinnedDimCodes {
		if !dims[name] {
			t.Errorf("released dimension %s is gone from the table", name)
		}
	}
	if len(resolutionCodes) != len(pinnedResolutionCodes) {
		t.Errorf("%d resolutions have codes, %d are pinned", len(resolutionCodes), len(pinnedResolutionCodes))
	}
	for name, want := range pinnedResolutionCodes {
		if got, ok := ResolutionCode(name); !ok || got != want {
			t.Errorf("resolution %s has code %d (listed %v), released as %d", name, got, ok, want)
		}
	}
	if _, ok := ResolutionCode("5m"); ok {
		t.Error("an unlisted resolution has a code")
	}
}

// TestTestOnlyCodesAreFree keeps the rumd_extra build's codes clear of released ones.
func TestTestOnlyCodesAreFree(t *testing.T) {
	used := map[byte]bool{}
	for _, c := range pinnedMetricCodes {
		used[c] = true
	}
	for _, r := range testMetricCodes {
		if used[r.code] {
			t.Errorf("test-only metric %s takes released code %d", r.name, r.code)
		}
	}
	used = map[byte]bool{}
	for _, c := range pinnedDimCodes {
		used[c] = true
	}
	for _, r := range testDimCodes {
		if used[r.code] {
			t.Errorf("test-only dimension %s takes released code %d", r.name, r.code)
		}
	}
}

func TestMaskCode(t *testing.T) {
	for _, tc := range []struct {
		dims []string
		want byte
	}{
		{nil, 0x00},
		{[]string{"page"}, 0x01},
		{[]string{"probe"}, 0x20},
		{[]string{"country", "page"}, 0x03},
		{[]string{"variant", "probe"}, 0x30},
		{[]string{"page", "country", "device", "nav", "variant", "probe"}, 0x3f},
	} {
		t.Run(fmt.Sprint(tc.dims), func(t *testing.T) {
			v, err := ParseView(tc.dims)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.Mask.Code(); got != tc.want {
				t.Errorf("view %s stored as %#02x, want %#02x", v, got, tc.want)
			}
		})
	}
}

// TestViewDimsInCodeOrder: a series key lists label values in the order of the view's
// dimensions, so that order must follow codes, whatever order the view was written in.
func TestViewDimsInCodeOrder(t *testing.T) {
	for _, v := range append(DefaultViews(), NewView(Probe, Variant, Page), NewView(Nav, Device, Country)) {
		for i := 1; i < len(v.Dims); i++ {
			if v.Dims[i-1].Code() >= v.Dims[i].Code() {
				t.Errorf("view %s lists %s (code %d) before %s (code %d)", v, v.Dims[i-1], v.Dims[i-1].Code(), v.Dims[i], v.Dims[i].Code())
			}
		}
	}
	if got := NewView(Probe, Variant, Page).String(); got != "page,variant,probe" {
		t.Errorf("view string %q", got)
	}
}

func TestBrokenTablesAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		rows []dimCode
		want string
	}{
		{"missing row", []dimCode{{Page, "page", 0}}, "position 1 has no row"},
		{"two rows for one dimension", []dimCode{{Page, "page", 0}, {Page, "page2", 1}}, "position 0 has two rows"},
		{"code reused", []dimCode{{Page, "page", 0}, {Country, "country", 0}}, "code 0 is used twice"},
		{"name reused", []dimCode{{Page, "page", 0}, {Country, "page", 1}}, `name "page" is used twice`},
		{"outside the enum", []dimCode{{Page, "page", 0}, {Country, "country", 1}, {NumDims, "x", 2}}, "outside the enum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows := tc.rows
			if tc.name != "missing row" {
				// Complete the table so that only the defect under test remains.
				for d := Dim(2); d < NumDims; d++ {
					rows = append(rows, dimCode{d, fmt.Sprintf("d%d", d), byte(10 + d)})
				}
			}
			defer func() {
				if msg, _ := recover().(string); !strings.Contains(msg, tc.want) {
					t.Errorf("table with %s: panic %q, want one saying %q", tc.name, msg, tc.want)
				}
			}()
			mustIndex("dimension", int(NumDims), rows)
		})
	}
	// Positive control: the released table passes the same check.
	if got := mustIndex("dimension", int(NumDims), dimCodes); len(got) != int(NumDims) {
		t.Fatalf("indexed %d rows", len(got))
	}
	defer func() {
		if recover() == nil {
			t.Error("a dimension code above 7 was accepted")
		}
	}()
	orderDims([]dimCode{{Page, "page", 0}, {Country, "country", 8}})
}
