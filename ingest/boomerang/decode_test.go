package boomerang_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"rumd/ingest/beacon"
	"rumd/ingest/boomerang"
	"rumd/internal/series"
)

// TestDecodeCaptured decodes the beacons the real boomerang sent from Chromium and checks
// what each one contributes: the expected values are the beacon's own numbers (e.g. TTFB is
// nt_res_st − nt_nav_st), worked out by hand from the files.
func TestDecodeCaptured(t *testing.T) {
	type metrics map[series.Metric]float64
	for _, tc := range []struct {
		file    string
		kind    boomerang.Kind
		variant string
		want    metrics // every page metric the beacon yields, and nothing else
	}{
		{"post-0-page_load.json", boomerang.PageLoad, "post", metrics{
			series.DNS: 0, series.Connect: 0, series.TTFB: 155, series.Download: 25,
			series.DOMInteractive: 1085, series.DCL: 1086, series.Load: 1327,
			series.FCP: 1104, series.LCP: 1104, series.CLS: 0}},
		{"post-1-unload.json", boomerang.Unload, "post", metrics{series.INP: 224}},
		{"get-0-page_load.json", boomerang.PageLoad, "get", metrics{
			series.DNS: 0, series.Connect: 0, series.TTFB: 18, series.Download: 76,
			series.DOMInteractive: 600, series.DCL: 600, series.Load: 969,
			series.FCP: 736, series.LCP: 736, series.CLS: 0}},
		{"get-1-unload_without_inp.json", boomerang.UnloadWithoutINP, "", nil},
		{"level1-0-page_load.json", boomerang.PageLoad, "level1", metrics{
			series.DNS: 0, series.Connect: 0, series.TTFB: 16, series.Download: 15,
			series.DOMInteractive: 408, series.DCL: 409, series.Load: 755,
			series.FCP: 428, series.LCP: 428, series.CLS: 0}},
		{"level1-1-unload_without_inp.json", boomerang.UnloadWithoutINP, "", nil},
		{"xhr-0-page_load.json", boomerang.PageLoad, "xhr", metrics{
			series.DNS: 0, series.Connect: 0, series.TTFB: 122, series.Download: 8,
			series.DOMInteractive: 550, series.DCL: 553, series.Load: 920,
			series.FCP: 572, series.LCP: 572, series.CLS: 0}},
		{"xhr-1-xhr.json", boomerang.XHR, "", nil},
		{"xhr-2-unload_without_inp.json", boomerang.UnloadWithoutINP, "", nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			cb := mustCaptured(t, tc.file)
			var bb boomerang.Beacon
			if err := boomerang.Decode([]byte(cb.Query), []byte(cb.Body), nil, &bb); err != nil {
				t.Fatal(err)
			}
			if bb.Kind != tc.kind {
				t.Fatalf("kind %v, want %v", bb.Kind, tc.kind)
			}
			if tc.kind.Ignored() {
				if bb.B.URL != "" || bb.B.HasNT || bb.B.Vitals.Has != 0 {
					t.Errorf("an ignored beacon was decoded: %+v", bb.B)
				}
				return
			}
			if want := "http://127.0.0.1:35527/page"; bb.B.URL != want {
				t.Errorf("url %q, want %q (query string dropped)", bb.B.URL, want)
			}
			if bb.B.Variant != tc.variant {
				t.Errorf("variant %q, want %q", bb.B.Variant, tc.variant)
			}
			if r, detail := boomerang.CheckClock(&bb, cb.Recv(), nil); r != beacon.OK {
				t.Fatalf("CheckClock: %v %s", r, detail)
			}
			if tc.kind == boomerang.Unload {
				if r, detail := boomerang.CheckUnload(&bb, nil); r != beacon.OK {
					t.Fatalf("CheckUnload: %v %s", r, detail)
				}
			} else if r, detail := beacon.Validate(&bb.B, cb.Recv(), nil); r != beacon.OK {
				t.Fatalf("Validate: %v %s", r, detail)
			}
			if bb.NTBad {
				t.Error("nt_bad set")
			}
			var rec series.Record
			beacon.Derive(&bb.B, &rec)
			for m := series.Metric(0); int(m) < series.NumPageMetrics; m++ {
				want, wantOK := tc.want[m]
				got, gotOK := rec.Values[m], rec.Has&(1<<m) != 0
				if gotOK != wantOK || math.Abs(got-want) > 1e-9 {
					t.Errorf("%v = %v (present %v), want %v (present %v)", m, got, gotOK, want, wantOK)
				}
			}
			wantNav := beacon.NavNavigate
			if tc.kind == boomerang.Unload {
				wantNav = boomerang.NavUnknown
			}
			if rec.Labels[series.Nav] != wantNav {
				t.Errorf("nav %q", rec.Labels[series.Nav])
			}
		})
	}
}

// TestDecodeForms covers what the captured beacons do not: parameters split between the URL
// and the body, escapes, the configured variant name, navigation types, prerender, the
// t_resp fallback, and the kinds of beacon.
func TestDecodeForms(t *testing.T) {
	const base = "u=https%3A%2F%2Fshop.example%2Fcart%3Fid%3D7%23top&rt.tstart=1000000&rt.bstart=1000300&rt.end=1002000" +
		"&nt_nav_st=1000000&nt_fet_st=1000002&nt_req_st=1000050&nt_res_st=1000120&nt_res_end=1000150&nt_load_end=1002000"
	for _, tc := range []struct {
		name, query, body string
		opts              *boomerang.Options
		kind              boomerang.Kind
		err               string // part of the decode error
		check             func(t *testing.T, bb *boomerang.Beacon)
	}{
		{name: "split between URL and body", query: "u=%2Fhome&rt.end=1002000", body: base[strings.Index(base, "&rt.tstart"):] + "&sb=1",
			check: func(t *testing.T, bb *boomerang.Beacon) {
				if bb.B.URL != "/home" || bb.B.NT.Marks[beacon.ResponseStart] != 120 {
					t.Errorf("url %q, ttfb %v", bb.B.URL, bb.B.NT.Marks[beacon.ResponseStart])
				}
			}},
		{name: "body wins over URL", query: "u=%2Fold", body: base,
			check: func(t *testing.T, bb *boomerang.Beacon) {
				if bb.B.URL != "https://shop.example/cart" {
					t.Errorf("url %q", bb.B.URL)
				}
			}},
		{name: "configured variant", body: base + "&ab=blue&variant=ignored", opts: &boomerang.Options{VariantParam: "ab"},
			check: func(t *testing.T, bb *boomerang.Beacon) {
				if bb.B.Variant != "blue" {
					t.Errorf("variant %q", bb.B.Variant)
				}
			}},
		{name: "escaped variant and name", body: base + "&vari%61nt=b+%C3%A9",
			check: func(t *testing.T, bb *boomerang.Beacon) {
				if bb.B.Variant != "b é" {
					t.Errorf("variant %q", bb.B.Variant)
				}
			}},
		{name: "reload", body: base + "&nt_nav_type=1", check: nav(beacon.NavReload)},
		{name: "back_forward", body: base + "&nt_nav_type=2", check: nav(beacon.NavBackForward)},
		{name: "reserved type is navigate", body: base + "&nt_nav_type=255", check: nav(beacon.NavNavigate)},
		{name: "prerender", body: base + "&nt_act_st=1000100", check: func(t *testing.T, bb *boomerang.Beacon) {
			nav(beacon.NavPrerender)(t, bb)
			if bb.B.NT.Marks[beacon.ActivationStart] != 100 {
				t.Errorf("activationStart %v", bb.B.NT.Marks[beacon.ActivationStart])
			}
		}},
		{name: "marks equal to nt_nav_st are absent", body: base + "&nt_dns_st=1000000&nt_dns_end=1000000",
			check: func(t *testing.T, bb *boomerang.Beacon) {
				if m := bb.B.NT.Marks; m[beacon.DomainLookupStart] != 0 || m[beacon.DomainLookupEnd] != 0 || m[beacon.FetchStart] != 2 {
					t.Errorf("marks %v", m)
				}
			}},
		{name: "no NavigationTiming: t_resp", body: "u=%2F&rt.tstart=1000000&rt.end=1001000&t_resp=90&pt.fcp=300",
			check: func(t *testing.T, bb *boomerang.Beacon) {
				if !bb.B.HasNT || bb.B.NT.Marks[beacon.ResponseStart] != 90 || bb.NavStart != 1000000 {
					t.Errorf("nt %v, nav start %v", bb.B.NT.Marks, bb.NavStart)
				}
			}},
		{name: "paint after the load", body: base + "&pt.lcp=2500", check: func(t *testing.T, bb *boomerang.Beacon) {
			if bb.B.Now < 2500 || bb.B.Origin+bb.B.Now != bb.B.Sent {
				t.Errorf("now %v, origin %v, sent %v", bb.B.Now, bb.B.Origin, bb.B.Sent)
			}
		}},
		{name: "nt_bad", body: base + "&nt_bad=1", check: func(t *testing.T, bb *boomerang.Beacon) {
			if !bb.NTBad {
				t.Error("nt_bad not read")
			}
		}},
		{name: "unload", body: base + "&rt.quit=&et.inp=88&pt.fcp=5", kind: boomerang.Unload,
			check: func(t *testing.T, bb *boomerang.Beacon) {
				if inp, ok := bb.B.Vitals.Get(beacon.VitalINP); !ok || inp != 88 || bb.B.Vitals.Has != 1<<beacon.VitalINP || bb.B.HasNT {
					t.Errorf("unload beacon carries %+v", bb.B)
				}
			}},
		{name: "page load ignores et.inp", body: base + "&et.inp=88", check: func(t *testing.T, bb *boomerang.Beacon) {
			if _, ok := bb.B.Vitals.Get(beacon.VitalINP); ok {
				t.Error("INP taken from a page-load beacon")
			}
		}},
		{name: "unload without INP", body: base + "&rt.quit", kind: boomerang.UnloadWithoutINP},
		{name: "never visible", body: base + "&rt.quit=&rt.ntvu=&et.inp=5", kind: boomerang.NeverVisible},
		{name: "early", body: base + "&early=true", kind: boomerang.Early},
		{name: "spa", body: base + "&http.initiator=spa", kind: boomerang.SPA},
		{name: "spa hard", body: base + "&http.initiator=spa_hard", kind: boomerang.SPA},
		{name: "error", body: "http.initiator=error&err=x", kind: boomerang.ErrorReport},
		{name: "interaction", body: "http.initiator=interaction", kind: boomerang.Interaction},
		{name: "bfcache", body: "http.initiator=bfcache", kind: boomerang.BFCache},
		{name: "custom", body: "http.initiator=api_custom_metric", kind: boomerang.Custom},
		{name: "other initiator", body: "http.initiator=something", kind: boomerang.OtherInitiator},
		{name: "no u", body: strings.Replace(base, "u=", "x=", 1), err: "u: missing"},
		{name: "relative u", body: "u=cart&" + base[strings.Index(base, "rt.tstart"):], err: "u: want"},
		{name: "no rt.end", body: strings.Replace(base, "rt.end", "rt.x", 1), err: "rt.end: missing"},
		{name: "not a number", body: base + "&nt_res_st=12ab", err: "nt_res_st:"},
		{name: "bad escape", body: base + "&variant=%zz", err: "variant: bad"},
		{name: "no timing at all", body: "u=%2F&rt.end=1000", err: "no navigation timing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bb boomerang.Beacon
			err := boomerang.Decode([]byte(tc.query), []byte(tc.body), tc.opts, &bb)
			if tc.err != "" {
				var de *boomerang.Error
				if err == nil || !errors.As(err, &de) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want a *boomerang.Error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if bb.Kind != tc.kind {
				t.Fatalf("kind %v, want %v", bb.Kind, tc.kind)
			}
			if tc.check != nil {
				tc.check(t, &bb)
			}
		})
	}
}

func nav(want string) func(t *testing.T, bb *boomerang.Beacon) {
	return func(t *testing.T, bb *boomerang.Beacon) {
		t.Helper()
		if bb.B.Nav != want {
			t.Errorf("nav %q, want %q", bb.B.Nav, want)
		}
	}
}

// TestCheckClock runs the clock rules on the captured page load, then with the clock moved.
func TestCheckClock(t *testing.T) {
	cb := mustCaptured(t, "post-0-page_load.json")
	var bb boomerang.Beacon
	if err := boomerang.Decode([]byte(cb.Query), []byte(cb.Body), nil, &bb); err != nil {
		t.Fatal(err)
	}
	recv := cb.Recv()
	for _, tc := range []struct {
		name string
		mod  func(b *boomerang.Beacon)
		recv time.Time
		want beacon.Reason
	}{
		{name: "as captured", recv: recv, want: beacon.OK},
		{name: "tab shown 23 h after its load", recv: recv.Add(23 * time.Hour), want: beacon.OK},
		{name: "client clock 25 h behind", recv: recv.Add(25 * time.Hour), want: beacon.ClockSkew},
		{name: "client clock 25 h ahead", recv: recv.Add(-25 * time.Hour), want: beacon.ClockSkew},
		{name: "bstart within tolerance", mod: func(b *boomerang.Beacon) { b.BStart = b.NavStart - 1500 }, recv: recv, want: beacon.OK},
		{name: "clock stepped back", mod: func(b *boomerang.Beacon) { b.BStart = b.NavStart - 60000 }, recv: recv, want: beacon.ClockJump},
		{name: "clock stepped forward", mod: func(b *boomerang.Beacon) { b.BStart = b.End + 60000 }, recv: recv, want: beacon.ClockJump},
		{name: "no bstart", mod: func(b *boomerang.Beacon) { b.BStart, b.HasBStart = b.End+60000, false }, recv: recv, want: beacon.OK},
		{name: "NaN end", mod: func(b *boomerang.Beacon) { b.End = math.NaN() }, recv: recv, want: beacon.OutOfRange},
		{name: "Inf bstart", mod: func(b *boomerang.Beacon) { b.BStart = math.Inf(1) }, recv: recv, want: beacon.OutOfRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bb
			if tc.mod != nil {
				tc.mod(&b)
			}
			if r, detail := boomerang.CheckClock(&b, tc.recv, nil); r != tc.want {
				t.Errorf("%v (%s), want %v", r, detail, tc.want)
			}
		})
	}
}

func TestCheckUnload(t *testing.T) {
	for _, tc := range []struct {
		inp  float64
		want beacon.Reason
	}{
		{224, beacon.OK}, {0, beacon.OK}, {-1, beacon.Negative}, {120001, beacon.OutOfRange},
		{math.NaN(), beacon.OutOfRange}, {math.Inf(1), beacon.OutOfRange},
	} {
		var bb boomerang.Beacon
		bb.Kind = boomerang.Unload
		bb.B.Vitals.Set(beacon.VitalINP, tc.inp)
		if r, detail := boomerang.CheckUnload(&bb, nil); r != tc.want {
			t.Errorf("inp %v: %v (%s), want %v", tc.inp, r, detail, tc.want)
		}
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		param string
		ok    bool
	}{
		{"variant", true}, {"", true}, {"h.ab", true}, {"a&b", false}, {"a b", false},
		{"rt.end", false}, {strings.Repeat("x", 65), false},
	} {
		if err := (boomerang.Options{VariantParam: tc.param}).Validate(); (err == nil) != tc.ok {
			t.Errorf("%q: %v, want ok %v", tc.param, err, tc.ok)
		}
	}
}
