package beacon

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"rumd/internal/series"
)

const (
	hour = 3600e3 // ms
	day  = 24 * hour
)

// recvTime is the server receive time of the fixtures: 376.6 ms after their sent.
var recvTime = benchRecv

func TestValidate(t *testing.T) {
	set := func(m Mark, x float64) func(*Beacon) { return func(b *Beacon) { b.NT.Marks[m] = x } }
	set1 := func(m Mark, x float64) func(*Beacon) { return func(b *Beacon) { b.NT1.Marks[m] = x } }
	// stepBack1 moves every Level 1 mark from `from` on by −ms: the wall clock was stepped
	// back (by NTP) just before that mark was taken.
	stepBack1 := func(from Mark, ms float64) func(*Beacon) {
		return func(b *Beacon) {
			for m := from; m <= LoadEventEnd; m++ {
				if b.NT1.Marks[m] != 0 {
					b.NT1.Marks[m] -= ms
				}
			}
			b.Sent -= ms // the clock stays stepped until the beacon is sent
		}
	}
	shiftClock := func(ms float64) func(*Beacon) {
		return func(b *Beacon) { b.Sent += ms; b.Origin += ms }
	}
	vital := func(v Vital, x float64) func(*Beacon) { return func(b *Beacon) { b.Vitals.Set(v, x) } }
	probe := func(m ProbeMark, x float64) func(*Beacon) { return func(b *Beacon) { b.Probes[0].Marks[m] = x } }

	tests := []struct {
		name    string
		fixture string
		muts    []func(*Beacon)
		want    Reason
		detail  string // a substring of the detail
	}{
		{"design.md example", "beacon.json", nil, OK, ""},
		{"page view without probes", "beacon_page.json", nil, OK, ""},
		{"http page: no secureConnectionStart (0 is absent, not before)", "beacon.json",
			[]func(*Beacon){set(SecureConnectionStart, 0)}, OK, ""},
		{"reused connection: no DNS or connect marks", "beacon.json",
			[]func(*Beacon){set(DomainLookupStart, 0), set(DomainLookupEnd, 0), set(ConnectStart, 0),
				set(SecureConnectionStart, 0), set(ConnectEnd, 0)}, OK, ""},
		{"beacon sent before load", "beacon.json", []func(*Beacon){set(LoadEventEnd, 0)}, OK, ""},
		{"prerender activated after load", "beacon.json",
			[]func(*Beacon){func(b *Beacon) { b.Nav = NavPrerender }, set(ActivationStart, 3000)}, OK, ""},
		{"client clock 2 h ahead is accepted", "beacon.json", []func(*Beacon){shiftClock(2 * hour)}, OK, ""},
		{"client clock 2 h behind is accepted", "beacon.json", []func(*Beacon){shiftClock(-2 * hour)}, OK, ""},
		{"client clock 25 h behind", "beacon.json", []func(*Beacon){shiftClock(-25 * hour)}, ClockSkew, "off the server"},
		{"client clock 25 h ahead", "beacon.json", []func(*Beacon){shiftClock(25 * hour)}, ClockSkew, "max 24h"},
		{"Date.now ahead of timeOrigin+now by 5 s", "beacon.json",
			[]func(*Beacon){func(b *Beacon) { b.Sent += 5000 }}, ClockJump, "tolerance 2005.1 ms"},
		{"Date.now behind timeOrigin+now by 5 s", "beacon.json",
			[]func(*Beacon){func(b *Beacon) { b.Sent -= 5000 }}, ClockJump, ""},
		{"NTP slew on a page open for 1 h: 3 s is within 2 s + 0.1%", "beacon.json",
			[]func(*Beacon){func(b *Beacon) { b.Now += hour; b.Sent += hour + 3000 }}, OK, ""},
		{"page open for 1 h, 6 s jump", "beacon.json",
			[]func(*Beacon){func(b *Beacon) { b.Now += hour; b.Sent += hour + 6000 }}, ClockJump, ""},
		// web-vitals#137: Firefox reported every mark up to responseEnd negative.
		{"Firefox negative TTFB", "beacon.json",
			[]func(*Beacon){set(RedirectStart, 0.5), set(RedirectEnd, 1.0), func(b *Beacon) {
				for m := RedirectStart; m <= ResponseEnd; m++ {
					if b.NT.Marks[m] != 0 {
						b.NT.Marks[m] -= 4000
					}
				}
			}}, OK, ""},
		{"negative responseStart only", "beacon.json",
			[]func(*Beacon){set(ResponseStart, -15.3)}, OK, ""},
		{"boomerang: requestStart before navigation start", "beacon.json",
			[]func(*Beacon){set(RequestStart, -30)}, OK, ""},
		{"negative DNS duration: marks out of order", "beacon.json",
			[]func(*Beacon){set(DomainLookupEnd, 1.4)}, NonMonotonic, "domainLookupEnd 1.4 < nt.domainLookupStart 1.5"},
		{"negative CLS", "beacon.json", []func(*Beacon){vital(VitalCLS, -0.1)}, OK, ""},
		{"negative now", "beacon.json",
			[]func(*Beacon){func(b *Beacon) { b.Now = -1; b.Origin += 5121.7 }}, Negative, "now"},
		{"negative probe duration", "beacon.json",
			[]func(*Beacon){probe(PConnectEnd, 1529)}, NonMonotonic, "probes[0].connectEnd 1529.0 < probes[0].secureConnectionStart"},
		// web-vitals#162: responseStart larger than performance.now().
		{"TTFB beyond performance.now()", "beacon.json",
			[]func(*Beacon){set(ResponseStart, 9120.7), set(ResponseEnd, 9200)}, FutureMark, "responseStart 9120.7 > now 5120.7"},
		{"boomerang: marks a day in the future", "beacon.json",
			[]func(*Beacon){set(ResponseEnd, day+250.9), set(DOMInteractive, day+600.1),
				set(DOMContentLoadedEventEnd, day+640), set(LoadEventEnd, day+1200.4)}, FutureMark, "responseEnd"},
		{"LCP after send", "beacon.json", []func(*Beacon){vital(VitalLCP, 6000)}, FutureMark, "vitals.lcp"},
		{"unrounded LCP within the snippet's 0.1 ms rounding of now", "beacon.json",
			[]func(*Beacon){vital(VitalLCP, 5120.74)}, OK, ""},
		{"mark 0.2 ms after now", "beacon.json", []func(*Beacon){set(LoadEventEnd, 5120.9)}, FutureMark, "loadEventEnd"},
		{"probe after send", "beacon.json", []func(*Beacon){probe(PResponseEnd, 6000)}, FutureMark, "probes[0].responseEnd"},
		{"responseStart < requestStart", "beacon.json",
			[]func(*Beacon){set(RequestStart, 300)}, NonMonotonic, "responseStart 210.3 < nt.requestStart 300.0"},
		{"boomerang: responseStart < fetchStart", "beacon.json",
			[]func(*Beacon){set(FetchStart, 230), set(DomainLookupStart, 0), set(DomainLookupEnd, 0),
				set(ConnectStart, 0), set(SecureConnectionStart, 0), set(ConnectEnd, 0), set(RequestStart, 0)},
			NonMonotonic, "responseStart 210.3 < nt.fetchStart 230.0"},
		{"loadEventEnd before domContentLoadedEventEnd", "beacon.json",
			[]func(*Beacon){set(LoadEventEnd, 620)}, NonMonotonic, "loadEventEnd"},
		{"probe marks out of order", "beacon.json",
			[]func(*Beacon){probe(PRequestStart, 1641)}, NonMonotonic, "probes[0].responseStart"},
		// web-vitals#275: responseStart 0 after a cross-origin redirect.
		{"cross-origin redirect hides responseStart", "beacon.json",
			[]func(*Beacon){set(ResponseStart, 0), set(RedirectStart, 0), set(RedirectEnd, 0)}, OK, ""},
		{"load of 130 s", "beacon.json",
			[]func(*Beacon){func(b *Beacon) { b.Now += 200e3; b.Sent += 200e3 }, set(LoadEventEnd, 130e3)}, OK, ""},
		{"CLS 7", "beacon.json", []func(*Beacon){vital(VitalCLS, 7)}, OK, ""},
		{"INP of 3 minutes", "beacon.json",
			[]func(*Beacon){vital(VitalINP, 180e3)}, OK, ""},
		{"probe of 3 minutes", "beacon.json",
			[]func(*Beacon){func(b *Beacon) { b.Now += 200e3; b.Sent += 200e3 }, probe(PResponseEnd, 190e3)}, OK, ""},
		{"NaN mark", "beacon.json", []func(*Beacon){set(ResponseEnd, math.NaN())}, OutOfRange, "nt.responseEnd"},
		{"Inf from 1e400", "beacon.json", []func(*Beacon){vital(VitalLCP, math.Inf(1))}, OutOfRange, "vitals.lcp"},
		{"navigator.webdriver", "beacon.json", []func(*Beacon){func(b *Beacon) { b.Webdriver = true }}, Bot, "webdriver"},
		{"bot wins over broken data", "beacon.json",
			[]func(*Beacon){func(b *Beacon) { b.Webdriver = true }, set(ResponseStart, -1)}, Bot, ""},
		{"unknown version set by hand", "beacon.json", []func(*Beacon){func(b *Beacon) { b.V = 2 }}, Malformed, ""},

		{"Level 1", "level1.json", nil, OK, ""},
		{"Level 1, clock 2 h off", "level1.json", []func(*Beacon){func(b *Beacon) {
			for m := range b.NT1.Marks {
				if b.NT1.Marks[m] != 0 {
					b.NT1.Marks[m] += 2 * hour
				}
			}
			b.Sent += 2 * hour
		}}, OK, ""},
		{"Level 1, NTP stepped the wall clock back 3 s mid-load", "level1.json",
			[]func(*Beacon){stepBack1(DOMInteractive, 3000)}, NonMonotonic, "nt1.domInteractive is 2651.0 ms before nt1.responseEnd"},
		{"Level 1, stepped back 3 s during DNS", "level1.json",
			[]func(*Beacon){stepBack1(DomainLookupEnd, 3000)}, NonMonotonic, "nt1.domainLookupEnd"},
		{"Level 1, load ends before it starts", "level1.json",
			[]func(*Beacon){stepBack1(FetchStart, 3000)}, NonMonotonic, "before nt1.navigationStart"},
		{"Level 1, stepped back 3 s after the load", "level1.json",
			[]func(*Beacon){func(b *Beacon) { b.Sent -= 3000 }}, ClockJump, ""},
		{"Level 1 boomerang: responseStart before navigationStart", "level1.json",
			[]func(*Beacon){set1(RequestStart, 0), set1(ResponseStart, 1763683194000)}, NonMonotonic, "responseStart"},
		{"Level 1 boomerang: responseStart < fetchStart", "level1.json",
			[]func(*Beacon){set1(ResponseStart, 1763683195000.5), set1(DomainLookupStart, 0), set1(DomainLookupEnd, 0),
				set1(ConnectStart, 0), set1(SecureConnectionStart, 0), set1(ConnectEnd, 0), set1(RequestStart, 0)},
			NonMonotonic, "responseStart"},
		{"Level 1 boomerang: a day in the future", "level1.json",
			[]func(*Beacon){set1(LoadEventEnd, 1763683195000+day)}, FutureMark, "loadEventEnd"},
		{"Level 1 negative mark", "level1.json", []func(*Beacon){set1(FetchStart, -1)}, Negative, "nt1.fetchStart"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := mustDecodeOne(t, mustRead(t, tc.fixture))
			for _, m := range tc.muts {
				m(b)
			}
			r, detail := Validate(b, recvTime, nil)
			if r != tc.want {
				t.Fatalf("Validate = %v (%s), want %v", r, detail, tc.want)
			}
			if r == OK && detail != "" {
				t.Errorf("OK with detail %q", detail)
			}
			if r != OK && !strings.Contains(detail, tc.detail) {
				t.Errorf("detail %q lacks %q", detail, tc.detail)
			}
		})
	}
}

func TestValidateLevel1Conversion(t *testing.T) {
	b := mustDecodeOne(t, mustRead(t, "level1.json"))
	if r, d := Validate(b, recvTime, nil); r != OK {
		t.Fatal(r, d)
	}
	if !b.HasNT || b.Origin != 1763683195000 {
		t.Fatalf("not converted: HasNT %v origin %v", b.HasNT, b.Origin)
	}
	want := map[Mark]float64{FetchStart: 1, DomainLookupStart: 2, DomainLookupEnd: 20, ResponseStart: 210,
		ResponseEnd: 251, LoadEventEnd: 1200, RedirectStart: 0, NavigationStart: 0}
	for m, w := range want {
		if b.NT.Marks[m] != w {
			t.Errorf("%v = %v, want %v", m, b.NT.Marks[m], w)
		}
	}
	// A second Validate sees the converted beacon and agrees.
	if r, d := Validate(b, recvTime, nil); r != OK {
		t.Fatal("second Validate:", r, d)
	}
}

func TestSkew(t *testing.T) {
	b := mustDecodeOne(t, mustRead(t, "beacon.json"))
	if got := Skew(b, recvTime); math.Abs(got-(-0.3766)) > 1e-6 {
		t.Errorf("Skew = %v, want -0.3766", got)
	}
	b.Sent += 2 * hour
	if got := Skew(b, recvTime); math.Abs(got-7199.6234) > 1e-6 {
		t.Errorf("Skew 2 h ahead = %v", got)
	}
}

func TestOptions(t *testing.T) {
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Options){
		"negative tolerance": func(o *Options) { o.JumpTolerance = -time.Second },
		"NaN per mille":      func(o *Options) { o.JumpPerMille = math.NaN() },
		"zero skew":          func(o *Options) { o.MaxSkew = 0 },
		"zero timing":        func(o *Options) { o.MaxTiming = 0 },
		"infinite CLS":       func(o *Options) { o.MaxCLS = math.Inf(1) },
	} {
		o := DefaultOptions()
		mut(&o)
		if o.Validate() == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// The options are honoured: a tighter skew bound rejects the 2 h offset.
	b := mustDecodeOne(t, mustRead(t, "beacon.json"))
	b.Sent += 2 * hour
	b.Origin += 2 * hour
	o := DefaultOptions()
	o.MaxSkew = time.Hour
	if r, _ := Validate(b, recvTime, &o); r != ClockSkew {
		t.Errorf("MaxSkew 1h: %v", r)
	}
}

func TestReasons(t *testing.T) {
	want := map[Reason]string{
		Malformed: "malformed", TooLarge: "too_large", NonMonotonic: "non_monotonic",
		Negative: "negative", FutureMark: "future_mark", ClockJump: "clock_jump",
		ClockSkew: "clock_skew", OutOfRange: "out_of_range", Concealed: "concealed",
		Bot: "bot", RateLimited: "rate_limited", Overloaded: "overloaded",
		StorageFull: "storage_full",
	}
	rs := Reasons()
	if len(rs) != len(want) {
		t.Fatalf("Reasons() has %d, want %d", len(rs), len(want))
	}
	for _, r := range rs {
		w, ok := want[r]
		if !ok || r.String() != w {
			t.Errorf("%d: %q, want %q", r, r.String(), w)
		}
	}
	if OK.String() != "ok" {
		t.Errorf("OK is %q", OK.String())
	}
}

// TestValidateDrops checks the quirks that drop only the metrics derived from a mark, and the
// refusal of a beacon that has nothing left.
func TestValidateDrops(t *testing.T) {
	set := func(m Mark, x float64) func(*Beacon) { return func(b *Beacon) { b.NT.Marks[m] = x } }
	noVitals := func(b *Beacon) { b.Vitals = Vitals{} }
	noProbes := func(b *Beacon) { b.Probes = nil }
	type drops map[series.Metric]Reason
	tests := []struct {
		name  string
		muts  []func(*Beacon)
		want  Reason
		drops drops
	}{
		{"nothing dropped", nil, OK, drops{}},
		{"Firefox fresh tab: fetchStart a few ms below zero drops nothing", []func(*Beacon){set(FetchStart, -6.3)}, OK, drops{}},
		{"Firefox fresh tab: DNS and connect marks below zero",
			[]func(*Beacon){set(FetchStart, -8), set(DomainLookupStart, -7.5), set(DomainLookupEnd, -7.5), set(ConnectStart, -7.4)},
			OK, drops{series.DNS: Negative, series.Connect: Negative}},
		{"WebKit: responseStart 0 on a sub-ms response", []func(*Beacon){set(ResponseStart, 0)},
			OK, drops{series.TTFB: Concealed, series.Download: Concealed}},
		{"DNS start hidden, end kept", []func(*Beacon){set(DomainLookupStart, 0)}, OK, drops{series.DNS: Concealed}},
		{"no TLS on plain HTTP is no drop", []func(*Beacon){set(SecureConnectionStart, 0)}, OK, drops{}},
		{"negative vital", []func(*Beacon){func(b *Beacon) { b.Vitals.Set(VitalINP, -3) }}, OK, drops{series.INP: Negative}},
		{"CLS above the ceiling", []func(*Beacon){func(b *Beacon) { b.Vitals.Set(VitalCLS, 7) }}, OK, drops{series.CLS: OutOfRange}},
		{"probe span above the ceiling",
			[]func(*Beacon){func(b *Beacon) { b.Now += 200e3; b.Sent += 200e3; b.Probes[0].Marks[PResponseEnd] = 190e3 }},
			OK, drops{series.ProbeTotal: OutOfRange}},
		{"probe mark below zero", []func(*Beacon){func(b *Beacon) { b.Probes[0].Marks[PDomainLookupStart] = -1 }},
			OK, drops{series.ProbeDNS: Negative}},
		{"only vitals left is kept",
			[]func(*Beacon){noProbes, func(b *Beacon) { b.NT.Marks = [NumMarks]float64{ResponseEnd: 250} }}, OK,
			drops{series.TTFB: Concealed, series.Download: Concealed}},
		{"nothing left: refused with the first drop's reason",
			[]func(*Beacon){noProbes, noVitals, func(b *Beacon) { b.NT.Marks = [NumMarks]float64{ResponseEnd: 250} }},
			Concealed, drops{series.TTFB: Concealed, series.Download: Concealed}},
		{"nothing at all: concealed",
			[]func(*Beacon){noProbes, noVitals, func(b *Beacon) { b.NT.Marks = [NumMarks]float64{} }}, Concealed, drops{}},
		{"marks below zero do not hide a broken order",
			[]func(*Beacon){set(FetchStart, -5), set(RequestStart, 300)}, NonMonotonic, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := mustDecodeOne(t, mustRead(t, "beacon.json"))
			for _, m := range tc.muts {
				m(b)
			}
			r, detail := Validate(b, recvTime, nil)
			if r != tc.want {
				t.Fatalf("Validate = %v (%s), want %v", r, detail, tc.want)
			}
			if tc.drops == nil {
				return
			}
			got := drops{}
			b.EachDrop(func(m series.Metric, r Reason) { got[m] = r })
			if fmt.Sprint(got) != fmt.Sprint(tc.drops) {
				t.Errorf("drops %v, want %v", got, tc.drops)
			}
		})
	}
}
