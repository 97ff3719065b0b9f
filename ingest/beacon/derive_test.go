package beacon

import (
	"math"
	"testing"

	"rumd/internal/series"
)

func TestDerive(t *testing.T) {
	// want lists the metrics expected present; every other one must be absent.
	type want map[series.Metric]float64
	designPage := want{
		series.DNS: 18.6, series.Connect: 40.1, series.TLS: 25.2, series.TTFB: 210.3,
		series.Download: 40.6, series.DOMInteractive: 600.1, series.DCL: 640, series.Load: 1200.4,
		series.FCP: 400.2, series.LCP: 900.5, series.CLS: 0.02, series.INP: 120,
	}
	designProbe := want{series.ProbeDNS: 29.8, series.ProbeConnect: 40, series.ProbeTLS: 25,
		series.ProbeTTFB: 140.9, series.ProbeTotal: 141.5}
	opaqueProbe := func(b *Beacon) {
		p := &b.Probes[0]
		for m := PDomainLookupStart; m <= PResponseStart; m++ {
			p.Marks[m] = 0
		}
		p.TransferSize = 0 // Resource Timing reports 0 without Timing-Allow-Origin
	}
	tests := []struct {
		name           string
		fixture        string
		mut            func(*Beacon)
		page           want
		nav, variant   string
		probes         []want
		cached, opaque int
	}{
		{name: "design.md example", fixture: "beacon.json", page: designPage,
			nav: "navigate", variant: "cdn-b", probes: []want{designProbe}},
		{name: "prerender rebased on activationStart", fixture: "beacon.json",
			mut: func(b *Beacon) { b.Nav = NavPrerender; b.NT.Marks[ActivationStart] = 620 },
			page: want{series.DNS: 18.6, series.Connect: 40.1, series.TLS: 25.2, series.TTFB: 0,
				series.Download: 40.6, series.DOMInteractive: 0, series.DCL: 20, series.Load: 580.4,
				series.FCP: 400.2, series.LCP: 900.5, series.CLS: 0.02, series.INP: 120},
			nav: "prerender", variant: "cdn-b", probes: []want{designProbe}},
		{name: "absent marks make absent metrics", fixture: "beacon.json",
			mut: func(b *Beacon) {
				b.NT.Marks[SecureConnectionStart] = 0
				b.NT.Marks[LoadEventEnd] = 0
				b.NT.Marks[DomainLookupStart] = 0
				b.Vitals = Vitals{}
				b.Vitals.Set(VitalCLS, 0) // 0 is a CLS, not an absent one
			},
			page: want{series.Connect: 40.1, series.TTFB: 210.3, series.Download: 40.6,
				series.DOMInteractive: 600.1, series.DCL: 640, series.CLS: 0},
			nav: "navigate", variant: "cdn-b", probes: []want{designProbe}},
		{name: "probe without Timing-Allow-Origin counts only probe_total", fixture: "beacon.json",
			mut: opaqueProbe, page: designPage, nav: "navigate", variant: "cdn-b",
			probes: []want{{series.ProbeTotal: 141.5}}, opaque: 1},
		{name: "cache hit: nothing transferred, a body decoded", fixture: "beacon.json",
			mut: func(b *Beacon) { b.Probes[0].TransferSize, b.Probes[0].DecodedBodySize = 0, 43 }, page: designPage,
			nav: "navigate", variant: "cdn-b", cached: 1},
		{name: "cache hit: deliveryType cache", fixture: "beacon.json",
			mut: func(b *Beacon) { b.Probes[0].DeliveryCache = true }, page: designPage,
			nav: "navigate", variant: "cdn-b", cached: 1},
		// Firefox, CORS without Timing-Allow-Origin: transferSize 0, decodedBodySize kept.
		{name: "no Timing-Allow-Origin: a decoded size is no cache hit", fixture: "beacon.json",
			mut: func(b *Beacon) { opaqueProbe(b); b.Probes[0].DecodedBodySize = 43 }, page: designPage,
			nav: "navigate", variant: "cdn-b", probes: []want{{series.ProbeTotal: 141.5}}, opaque: 1},
		// WebKit reports transferSize 0 and decodedBodySize 0 for every cross-origin fetch.
		{name: "transferSize 0 alone is no cache hit", fixture: "beacon.json",
			mut: func(b *Beacon) { b.Probes[0].TransferSize = 0 }, page: designPage,
			nav: "navigate", variant: "cdn-b", probes: []want{designProbe}},
		{name: "dropped metrics are left out", fixture: "beacon.json",
			mut: func(b *Beacon) {
				b.NT.Marks[DomainLookupStart] = -4.2 // Firefox, fresh tab
				b.NT.Marks[ResponseStart] = 0        // WebKit, sub-ms response
				b.Probes[0].Marks[PConnectStart] = -1
			},
			page: want{series.Connect: 40.1, series.TLS: 25.2, series.DOMInteractive: 600.1, series.DCL: 640,
				series.Load: 1200.4, series.FCP: 400.2, series.LCP: 900.5, series.CLS: 0.02, series.INP: 120},
			nav: "navigate", variant: "cdn-b",
			probes: []want{{series.ProbeDNS: 29.8, series.ProbeTLS: 25, series.ProbeTTFB: 140.9, series.ProbeTotal: 141.5}}},
		{name: "unknown transferSize is not a cache hit", fixture: "beacon.json",
			mut:  func(b *Beacon) { b.Probes[0].TransferSize, b.Probes[0].HasTransferSize = 0, false },
			page: designPage, nav: "navigate", variant: "cdn-b", probes: []want{designProbe}},
		{name: "labels defaulted and cleaned", fixture: "beacon_page.json",
			mut:  func(b *Beacon) { b.Nav = ""; b.Variant = "\x01\x02" },
			page: designPage, nav: "navigate", variant: "none"},
		{name: "variant control characters dropped", fixture: "beacon_page.json",
			mut:  func(b *Beacon) { b.Variant = "cdn\x00-b" },
			page: designPage, nav: "navigate", variant: "cdn-b"},
		{name: "Level 1 converted by Validate", fixture: "level1.json",
			page: want{series.DNS: 18, series.Connect: 40, series.TLS: 25, series.TTFB: 210,
				series.Download: 41, series.DOMInteractive: 600, series.DCL: 640, series.Load: 1200},
			nav: "reload", variant: "none"},
	}
	check := func(t *testing.T, what string, m series.Metric, got float64, has bool, w want) {
		t.Helper()
		x, ok := w[m]
		if ok != has {
			t.Errorf("%s %v: present %v, want %v", what, m, has, ok)
		} else if ok && math.Abs(got-x) > 1e-9 {
			t.Errorf("%s %v = %v, want %v", what, m, got, x)
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := mustDecodeOne(t, mustRead(t, tc.fixture))
			if tc.mut != nil {
				tc.mut(b)
			}
			if r, d := Validate(b, recvTime, nil); r != OK {
				t.Fatalf("Validate: %v %s", r, d)
			}
			rec := series.Record{Has: 0xffff, Probes: make([]series.ProbeValues, 3)} // stale contents
			rec.Labels[series.Page] = "/kept"
			cached, opaque := Derive(b, &rec)
			for m := series.Metric(0); int(m) < series.NumPageMetrics; m++ {
				check(t, "page", m, rec.Values[m], rec.Has&(1<<m) != 0, tc.page)
			}
			if rec.Labels[series.Nav] != tc.nav || rec.Labels[series.Variant] != tc.variant {
				t.Errorf("labels nav %q variant %q, want %q %q", rec.Labels[series.Nav], rec.Labels[series.Variant], tc.nav, tc.variant)
			}
			if rec.Labels[series.Page] != "/kept" {
				t.Error("Derive touched the page label")
			}
			if cached != tc.cached || opaque != tc.opaque {
				t.Errorf("cached %d opaque %d, want %d %d", cached, opaque, tc.cached, tc.opaque)
			}
			if len(rec.Probes) != len(tc.probes) {
				t.Fatalf("%d probes, want %d", len(rec.Probes), len(tc.probes))
			}
			for i, w := range tc.probes {
				p := &rec.Probes[i]
				if p.Name != "cdn-a" {
					t.Errorf("probe name %q", p.Name)
				}
				for m := series.ProbeDNS; m < series.NumMetrics; m++ {
					j := m - series.ProbeDNS
					check(t, "probe", m, p.Values[j], p.Has&(1<<j) != 0, w)
				}
			}
		})
	}
}
