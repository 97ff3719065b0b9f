package series

import (
	"fmt"
	"strings"
	"testing"
)

func TestNamesRoundTrip(t *testing.T) {
	names := MetricNames()
	if len(names) != int(NumMetrics) {
		t.Fatalf("%d metric names for %d metrics", len(names), NumMetrics)
	}
	for i, n := range names {
		m, ok := ParseMetric(n)
		if !ok || m != Metric(i) || m.String() != n {
			t.Errorf("metric %d: name %q parses to %d %v", i, n, m, ok)
		}
	}
	dims := DimNames()
	if len(dims) != int(NumDims) {
		t.Fatalf("%d dimension names for %d dimensions", len(dims), NumDims)
	}
	for i, n := range dims {
		d, ok := ParseDim(n)
		if !ok || d != Dim(i) || d.String() != n {
			t.Errorf("dimension %d: name %q parses to %d %v", i, n, d, ok)
		}
	}
	for _, bad := range []string{"", "TTFB", "ttfb ", "probe", "nope"} {
		if m, ok := ParseMetric(bad); ok {
			t.Errorf("metric name %q parsed to %s", bad, m)
		}
	}
	for _, bad := range []string{"", "Page", "ttfb", "total"} {
		if d, ok := ParseDim(bad); ok {
			t.Errorf("dimension name %q parsed to %s", bad, d)
		}
	}
	if got := NumMetrics.String(); got != fmt.Sprintf("metric(%d)", NumMetrics) {
		t.Errorf("out-of-range metric prints %q", got)
	}
	if got := NumDims.String(); got != fmt.Sprintf("dim(%d)", NumDims) {
		t.Errorf("out-of-range dimension prints %q", got)
	}
}

func TestMetricKinds(t *testing.T) {
	pages, probes := 0, 0
	for m := Metric(0); m < NumMetrics; m++ {
		if m.IsProbe() != strings.HasPrefix(m.String(), "probe_") {
			t.Errorf("%s: IsProbe %v", m, m.IsProbe())
		}
		if m.IsProbe() {
			probes++
		} else {
			pages++
		}
		if want := "ms"; m == CLS {
			if m.Unit() != "" {
				t.Errorf("cls has unit %q", m.Unit())
			}
		} else if m.Unit() != want {
			t.Errorf("%s has unit %q", m, m.Unit())
		}
	}
	if pages != NumPageMetrics || probes != NumProbeMetrics {
		t.Errorf("%d page and %d probe metrics, constants say %d and %d", pages, probes, NumPageMetrics, NumProbeMetrics)
	}
	if NumMetrics.IsProbe() {
		t.Error("NumMetrics counts as a probe metric")
	}
}

func TestMask(t *testing.T) {
	m := MaskOf(Probe, Page, Page)
	if !m.Has(Page) || !m.Has(Probe) || m.Has(Country) || m.Len() != 2 {
		t.Fatalf("mask %08b: has page %v probe %v country %v, len %d", m, m.Has(Page), m.Has(Probe), m.Has(Country), m.Len())
	}
	if got := fmt.Sprint(m.Dims()); got != fmt.Sprint([]Dim{Page, Probe}) {
		t.Errorf("dims %s", got)
	}
	if all := MaskOf(); all.Len() != 0 || all.Dims() != nil {
		t.Errorf("empty mask: len %d dims %v", all.Len(), all.Dims())
	}
	var every []Dim
	for d := Dim(0); d < NumDims; d++ {
		every = append(every, d)
	}
	if got := MaskOf(every...).Len(); got != int(NumDims) {
		t.Errorf("mask of every dimension has %d", got)
	}
}

func TestParseView(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    string // View.String, or the error's start
		wantErr bool
	}{
		{nil, "total", false},
		{[]string{"total"}, "total", false},
		{[]string{" country ", "page"}, "page,country", false},
		{[]string{"probe", "variant"}, "variant,probe", false},
		{[]string{"page", ""}, "page", false},
		{[]string{"page", "page"}, `dimension "page" given twice`, true},
		{[]string{"pages"}, `unknown dimension "pages" (known: page, country`, true},
	} {
		t.Run(strings.Join(tc.in, "|"), func(t *testing.T) {
			v, err := ParseView(tc.in)
			if tc.wantErr {
				if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil || v.String() != tc.want {
				t.Fatalf("view %q, err %v; want %q", v, err, tc.want)
			}
			if v.Mask != MaskOf(v.Dims...) || len(v.Names()) != len(v.Dims) {
				t.Errorf("view %s: mask %08b dims %v names %v", v, v.Mask, v.Dims, v.Names())
			}
		})
	}
	if n := NewView().Names(); n == nil || len(n) != 0 {
		t.Errorf("total view names %#v, want empty and non-nil", n)
	}
}

func TestChoose(t *testing.T) {
	views := DefaultViews()
	for _, tc := range []struct {
		m    Metric
		need Mask
		want string
		ok   bool
	}{
		{TTFB, 0, "total", true},
		{TTFB, MaskOf(Country), "country", true},
		{TTFB, MaskOf(Page, Country), "page,country", true},
		{TTFB, MaskOf(Country, Variant), "country,variant", true},
		{LCP, MaskOf(Page, Device), "", false},
		{TTFB, MaskOf(Probe), "", false},
		{ProbeTTFB, 0, "probe", true},
		{ProbeTTFB, MaskOf(Variant), "variant,probe", true},
		{ProbeTTFB, MaskOf(Page), "", false},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.m, tc.need.Dims()), func(t *testing.T) {
			v, ok := Choose(views, tc.m, tc.need)
			if ok != tc.ok || (ok && v.String() != tc.want) {
				t.Fatalf("chose %s %v, want %q %v", v, ok, tc.want, tc.ok)
			}
			if ok && !v.Carries(tc.m) {
				t.Errorf("chose %s, which does not carry %s", v, tc.m)
			}
		})
	}
}

func TestLabelsMap(t *testing.T) {
	var l Labels
	l[Page], l[Country], l[Device] = "/a", "DE", "mobile"
	got := l.Map([]Dim{Page, Country})
	if len(got) != 2 || got["page"] != "/a" || got["country"] != "DE" {
		t.Fatalf("map %v", got)
	}
}

func TestLabelsOnly(t *testing.T) {
	var l Labels
	l[Page], l[Country], l[Device] = "/a", "DE", "mobile"
	var want Labels
	want[Page], want[Device] = "/a", "mobile"
	if got := l.Only([]Dim{Device, Page}); got != want {
		t.Fatalf("only page and device: %q", got)
	}
}

func TestKeyRoundTrip(t *testing.T) {
	for _, v := range append(DefaultViews(), NewView(Page, Country, Device, Nav, Variant, Probe)) {
		var l Labels
		for d := Dim(0); d < NumDims; d++ {
			l[d] = fmt.Sprintf("v-%s-ü", d)
		}
		l[Country] = "" // an empty value is a value
		key := AppendKey([]byte("prefix"), v, &l)[len("prefix"):]
		var got Labels
		if err := ParseKey(v, key, &got); err != nil {
			t.Fatalf("view %s: %v", v, err)
		}
		for d := Dim(0); d < NumDims; d++ {
			want := ""
			if v.Mask.Has(d) {
				want = l[d]
			}
			if got[d] != want {
				t.Errorf("view %s: %s = %q, want %q", v, d, got[d], want)
			}
		}
	}
}

func TestParseKeyRefusesBadKeys(t *testing.T) {
	pc := NewView(Page, Country)
	for _, tc := range []struct {
		name string
		v    View
		key  string
		want string
	}{
		{"empty for two values", pc, "", "short"},
		{"one value of two", pc, "/a\x1f", "short"},
		{"no separator", pc, "/a", "short"},
		{"second value unterminated", pc, "/a\x1fDE", "short"},
		{"three values for two", pc, "/a\x1fDE\x1fx\x1f", "long"},
		{"trailing byte", pc, "/a\x1fDE\x1fx", "long"},
		{"anything for total", NewView(), "x", "long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l Labels
			err := ParseKey(tc.v, []byte(tc.key), &l)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
	// Positive control: the same view parses a well-formed key.
	var l Labels
	if err := ParseKey(pc, []byte("/a\x1fDE\x1f"), &l); err != nil || l[Page] != "/a" || l[Country] != "DE" {
		t.Fatalf("good key: %v %q", err, l)
	}
}

func TestClean(t *testing.T) {
	long := strings.Repeat("é", MaxValueLen) // 2 bytes a rune
	for _, tc := range []struct{ in, want string }{
		{"/checkout", "/checkout"},
		{"a\x1fb", "ab"},
		{"tab\there\nnl\x7f", "tabherenl"},
		{"bad\xffutf8\x01", "badutf8"}, // a string that needs cleaning loses invalid bytes too
		{long, long[:MaxValueLen]},
		{strings.Repeat("x", MaxValueLen), strings.Repeat("x", MaxValueLen)},
		{strings.Repeat("x", MaxValueLen+1), strings.Repeat("x", MaxValueLen)},
	} {
		got := Clean(tc.in)
		if got != tc.want {
			t.Errorf("Clean(%.20q…) = %.20q…, want %.20q…", tc.in, got, tc.want)
		}
		if len(got) > MaxValueLen || strings.IndexByte(got, sep) >= 0 {
			t.Errorf("Clean(%.20q…) is not a fit label value", tc.in)
		}
	}
	s := "/already/clean"
	if n := testing.AllocsPerRun(100, func() { _ = Clean(s) }); n != 0 {
		t.Errorf("Clean of a clean value allocates %v times", n)
	}
}

func TestRecordSet(t *testing.T) {
	var r Record
	r.Set(TTFB, 120)
	r.Set(CLS, 0.1)
	if r.Has != 1<<TTFB|1<<CLS || r.Values[TTFB] != 120 || r.Values[CLS] != 0.1 {
		t.Fatalf("record has %b values %v", r.Has, r.Values)
	}
	var p ProbeValues
	p.Set(ProbeTotal, 300)
	p.Set(ProbeDNS, 5)
	if p.Has != 1|1<<(ProbeTotal-ProbeDNS) || p.Values[0] != 5 || p.Values[ProbeTotal-ProbeDNS] != 300 {
		t.Fatalf("probe has %b values %v", p.Has, p.Values)
	}
}

// FuzzKeyRoundTrip: any outside string, once cleaned, survives a series key unchanged,
// and ParseKey refuses rather than panics on any byte string.
func FuzzKeyRoundTrip(f *testing.F) {
	f.Add("/a", "DE", []byte("/a\x1fDE\x1f"))
	f.Add("", "\x1f", []byte("\x1f"))
	f.Add("ü\xff", strings.Repeat("y", 300), []byte{})
	v := NewView(Page, Country)
	f.Fuzz(func(t *testing.T, page, country string, raw []byte) {
		var l, got Labels
		l[Page], l[Country] = Clean(page), Clean(country)
		if err := ParseKey(v, AppendKey(nil, v, &l), &got); err != nil {
			t.Fatal(err)
		}
		if got[Page] != l[Page] || got[Country] != l[Country] {
			t.Fatalf("round trip %q %q became %q %q", l[Page], l[Country], got[Page], got[Country])
		}
		if ParseKey(v, raw, &got) == nil && string(AppendKey(nil, v, &got)) != string(raw) {
			t.Fatalf("key %q parsed but does not re-encode to itself", raw)
		}
	})
}
