package ingest_test

import (
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"rumd/aggregator"
	"rumd/ingest"
	"rumd/ingest/beacon"
	"rumd/ingest/boomerang"
	"rumd/internal/series"
	rumdtest "rumd/internal/testutil"
)

// capturedForm is a beacon the real boomerang sent from Chromium (ingest/boomerang's browser
// test captured it), as one set of form parameters.
type capturedForm struct {
	vals url.Values
	recv time.Time
}

func mustCapturedForm(t *testing.T, name string) capturedForm {
	t.Helper()
	c := rumdtest.MustBoomerangCapture(t, filepath.Join("boomerang", "testdata", "captured", name))
	return capturedForm{vals: c.Form(t), recv: c.Recv()}
}

// with returns the form with parameters set ("" deletes one), relative to nt_nav_st when
// the value starts with "+nav".
func (c capturedForm) with(t *testing.T, set map[string]string) []byte {
	t.Helper()
	v := url.Values{}
	for k, x := range c.vals {
		v[k] = append([]string(nil), x...)
	}
	nav, _ := strconv.ParseFloat(c.vals.Get("nt_nav_st"), 64)
	for k, x := range set {
		switch {
		case x == "":
			v.Del(k)
		case len(x) > 4 && x[:4] == "+nav":
			d, err := strconv.ParseFloat(x[4:], 64)
			if err != nil {
				t.Fatal(err)
			}
			v.Set(k, strconv.FormatFloat(nav+d, 'f', -1, 64))
		default:
			v.Set(k, x)
		}
	}
	return []byte(v.Encode())
}

// TestBoomerangRefusals runs the captured page-load and unload beacons through the pipeline,
// as sent (the positive controls) and spoiled in one way for every reason a boomerang beacon
// can be refused for, and checks each refusal's reason and counter.
func TestBoomerangRefusals(t *testing.T) {
	load := mustCapturedForm(t, "post-0-page_load.json")
	unload := mustCapturedForm(t, "post-1-unload.json")
	person := &ingest.Client{Country: "DE", Device: "desktop"}
	for _, tc := range []struct {
		name   string
		form   capturedForm
		set    map[string]string
		client *ingest.Client
		shift  time.Duration // added to the receive time
		sink   error
		want   beacon.Reason
		// dropped lists the metric/reason pairs an accepted beacon must have dropped
		// (docs/design.md, "Granularity").
		dropped []string
	}{
		{name: "page load as sent", form: load, want: beacon.OK},
		{name: "unload as sent", form: unload, want: beacon.OK},
		{name: "no page URL", form: load, set: map[string]string{"u": ""}, want: beacon.Malformed},
		{name: "mark not a number", form: load, set: map[string]string{"nt_res_st": "soon"}, want: beacon.Malformed},
		{name: "bot", form: load, client: &ingest.Client{Bot: true}, want: beacon.Bot},
		{name: "unload from a bot", form: unload, client: &ingest.Client{Bot: true}, want: beacon.Bot},
		{name: "NaN rt.end", form: load, set: map[string]string{"rt.end": "NaN"}, want: beacon.OutOfRange},
		{name: "Inf mark", form: load, set: map[string]string{"nt_dns_end": "1e999"}, want: beacon.OutOfRange},
		{name: "client clock 2 days behind", form: load, shift: 48 * time.Hour, want: beacon.ClockSkew},
		{name: "unload 2 days late", form: unload, shift: 48 * time.Hour, want: beacon.ClockSkew},
		{name: "clock stepped back during the load", form: load, set: map[string]string{"rt.bstart": "+nav-60000"}, want: beacon.ClockJump},
		{name: "clock stepped forward during the load", form: load, set: map[string]string{"rt.bstart": "+nav3600000"}, want: beacon.ClockJump},
		{name: "fetchStart before navigationStart, flagged nt_bad", form: load, set: map[string]string{"nt_fet_st": "+nav-3", "nt_bad": "1"}, want: beacon.OK, dropped: []string{"ttfb/non_monotonic", "load/non_monotonic"}},
		{name: "requestStart before navigationStart (no metric uses it)", form: load, set: map[string]string{"nt_req_st": "+nav-200"}, want: beacon.OK},
		{name: "negative INP", form: unload, set: map[string]string{"et.inp": "-4"}, want: beacon.Negative},
		{name: "responseEnd a day in the future", form: load, set: map[string]string{"nt_res_end": "+nav86500000", "nt_bad": "1"}, want: beacon.FutureMark},
		{name: "responseStart before fetchStart", form: load, set: map[string]string{"nt_res_st": "+nav1", "nt_fet_st": "+nav3", "nt_req_st": ""}, want: beacon.NonMonotonic},
		{name: "nt_bad alone (a sub-ms inversion)", form: load, set: map[string]string{"nt_bad": "1"}, want: beacon.OK, dropped: []string{"ttfb/non_monotonic", "dcl/non_monotonic"}},
		{name: "nt_bad and no vital", form: load, set: map[string]string{"nt_bad": "1", "pt.fcp": "", "pt.lcp": "", "c.cls": ""}, want: beacon.NonMonotonic},
		{name: "no responseStart", form: load, set: map[string]string{"nt_res_st": ""}, want: beacon.OK, dropped: []string{"ttfb/concealed", "download/concealed"}},
		{name: "LCP over the ceiling", form: load, set: map[string]string{"pt.lcp": "130000"}, want: beacon.OK, dropped: []string{"lcp/out_of_range"}},
		{name: "CLS over the ceiling", form: load, set: map[string]string{"c.cls": "6.5"}, want: beacon.OK, dropped: []string{"cls/out_of_range"}},
		{name: "INP over the ceiling", form: unload, set: map[string]string{"et.inp": "130000"}, want: beacon.OutOfRange},
		{name: "aggregator full", form: load, sink: aggregator.ErrQueueFull, want: beacon.Overloaded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &records{err: tc.sink}
			p, reg := newPipeline(t, sink)
			cl := person
			if tc.client != nil {
				cl = tc.client
			}
			kind, r, detail := p.Boomerang(nil, tc.form.with(t, tc.set), cl, tc.form.recv.Add(tc.shift))
			if r != tc.want {
				t.Fatalf("%v (%s), want %v", r, detail, tc.want)
			}
			if kind.Ignored() {
				t.Errorf("kind %v", kind)
			}
			if r == beacon.OK {
				if len(sink.got) != 1 || rumdtest.MustMetric(t, reg, "rumd_beacons_accepted_total") != 1 {
					t.Fatalf("accepted, but the sink has %d records", len(sink.got))
				}
				for _, d := range tc.dropped {
					metric, reason, _ := strings.Cut(d, "/")
					if n := rumdtest.MustMetric(t, reg, "rumd_metrics_dropped_total", "metric", metric, "reason", reason); n != 1 {
						t.Errorf("rumd_metrics_dropped_total{metric=%q,reason=%q} = %v, want 1", metric, reason, n)
					}
					m, _ := series.ParseMetric(metric)
					if sink.got[0].Has&(1<<m) != 0 {
						t.Errorf("%s reached the aggregator though it was dropped", metric)
					}
				}
				return
			}
			if detail == "" {
				t.Error("no detail")
			}
			if len(sink.got) != 0 {
				t.Errorf("refused, but the sink has %d records", len(sink.got))
			}
			if n := rumdtest.MustMetric(t, reg, "rumd_beacons_rejected_total", "reason", r.String()); n != 1 {
				t.Errorf("rumd_beacons_rejected_total{reason=%q} = %v, want 1", r, n)
			}
		})
	}
}

// TestBoomerangRecords checks what reaches the aggregator: the page load's metrics once, the
// unload beacon's INP alone (no other metric, so no second page view), nothing for the
// ignored kinds, which are counted by kind.
func TestBoomerangRecords(t *testing.T) {
	sink := &records{}
	p, reg := newPipeline(t, sink)
	cl := &ingest.Client{Country: "DE", Device: "desktop"}
	load := mustCapturedForm(t, "post-0-page_load.json")
	for _, name := range []string{"post-0-page_load.json", "post-1-unload.json", "xhr-1-xhr.json", "get-1-unload_without_inp.json"} {
		f := mustCapturedForm(t, name)
		if _, r, detail := p.Boomerang(nil, f.with(t, nil), cl, f.recv); r != beacon.OK {
			t.Fatalf("%s: %v %s", name, r, detail)
		}
	}
	if len(sink.got) != 2 {
		t.Fatalf("%d records, want the page load and the unload", len(sink.got))
	}
	pl, ul := sink.got[0], sink.got[1]
	if pl.Has&(1<<series.TTFB) == 0 || pl.Values[series.TTFB] != 155 || pl.Has&(1<<series.INP) != 0 {
		t.Errorf("page load record: has %b, ttfb %v", pl.Has, pl.Values[series.TTFB])
	}
	if ul.Has != 1<<series.INP || ul.Values[series.INP] != 224 {
		t.Errorf("unload record: has %b, values %v; want INP 224 alone", ul.Has, ul.Values)
	}
	for _, rec := range sink.got {
		if rec.Labels[series.Variant] != "post" || rec.Labels[series.Page] == "" || rec.Labels[series.Country] != "DE" {
			t.Errorf("labels %v", rec.Labels)
		}
		if rec.Time != load.recv.Unix() && rec.Time != mustCapturedForm(t, "post-1-unload.json").recv.Unix() {
			t.Errorf("time %v", rec.Time)
		}
	}
	for kind, want := range map[boomerang.Kind]float64{boomerang.XHR: 1, boomerang.UnloadWithoutINP: 1, boomerang.SPA: 0} {
		if got := rumdtest.MustMetric(t, reg, "rumd_beacons_ignored_total", "format", "boomerang", "kind", kind.String()); got != want {
			t.Errorf("ignored %v = %v, want %v", kind, got, want)
		}
	}
	if got := rumdtest.MustMetric(t, reg, "rumd_beacons_accepted_total"); got != 2 {
		t.Errorf("accepted %v, want 2", got)
	}
}
