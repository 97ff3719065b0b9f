package loadtest

import (
	"bytes"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"rumd/internal/sketch"
)

func TestExactQuantilesRankConvention(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	qs := []float64{0, 0.5, 0.75, 0.95, 0.99, 1}
	for _, n := range []int{1, 2, 3, 10, 101, 5000} {
		var xs []weighted
		var flat []float64
		for i := 0; i < n; i++ {
			v := math.Round(logNormal(r, 300, 1)*10) / 10
			w := uint32(1 + r.IntN(3))
			xs = append(xs, weighted{v, w})
			for j := uint32(0); j < w; j++ {
				flat = append(flat, v)
			}
		}
		sort.Float64s(flat)
		s := sketch.New()
		for _, v := range flat {
			if err := s.Add(v); err != nil {
				t.Fatal(err)
			}
		}
		cnt, got := exactQuantiles(xs, qs)
		if cnt != int64(len(flat)) {
			t.Fatalf("n=%d: count %d, want %d", n, cnt, len(flat))
		}
		for i, q := range qs {
			want := sketch.ExactQuantile(flat, q)
			if got[i] != want {
				t.Errorf("n=%d q=%g: %g, want %g", n, q, got[i], want)
			}
			// The same convention as rumd's sketches: within their relative accuracy.
			if e := relError(sketch.Quantile(s, q), got[i]); e > sketch.RelativeAccuracy+1e-12 {
				t.Errorf("n=%d q=%g: sketch %g vs exact %g: error %g", n, q, sketch.Quantile(s, q), got[i], e)
			}
		}
	}
	if n, q := exactQuantiles(nil, []float64{0.5}); n != 0 || !math.IsNaN(q[0]) {
		t.Errorf("empty: %d %v", n, q)
	}
}

func TestRelError(t *testing.T) {
	for _, tc := range []struct{ got, want, e float64 }{
		{101, 100, 0.01}, {99, 100, 0.01}, {0, 0, 0}, {1, 0, 1}, {math.NaN(), 5, math.Inf(1)},
	} {
		if e := relError(tc.got, tc.want); math.Abs(e-tc.e) > 1e-12 && !(math.IsInf(e, 1) && math.IsInf(tc.e, 1)) {
			t.Errorf("relError(%g, %g) = %g, want %g", tc.got, tc.want, e, tc.e)
		}
	}
}

func TestEvaluate(t *testing.T) {
	res := func() *Result {
		return &Result{
			Accepted: 90, Rate: 800,
			Intended: map[string]int64{"": 90, "bot": 6, "clock_skew": 4},
			Rejected: map[string]int64{"bot": 6, "clock_skew": 4},
		}
	}
	good := Counts{Accepted: 90, Rejected: map[string]float64{"bot": 6, "clock_skew": 4}}
	acc := func(e float64) *Accuracy {
		return &Accuracy{Compared: 4, Worst: &Comparison{Metric: "lcp", Q: 0.99, RelError: e}}
	}
	for _, tc := range []struct {
		name     string
		mod      func(*Report)
		metrics  *Counts
		problems []string // substrings, one per expected problem
	}{
		{"all good", func(*Report) {}, &good, nil},
		{"a problem found while running stays", func(r *Report) { r.Problems = []string{"visibility: not visible"} }, &good,
			[]string{"visibility: not visible"}},
		{"no metrics", func(*Report) {}, nil, nil},
		{"fewer bots answered", func(r *Report) { r.Rumd.Rejected["bot"] = 5; r.Rumd.Rejected["malformed"] = 1 },
			&Counts{Accepted: 90, Rejected: map[string]float64{"bot": 5, "clock_skew": 4, "malformed": 1}},
			[]string{"bot: meant 6, rumd answered 5", "malformed: meant 0, rumd answered 1"}},
		{"metrics disagree", func(*Report) {},
			&Counts{Accepted: 89, Rejected: map[string]float64{"bot": 6, "clock_skew": 4}},
			[]string{"accepted: meant 90, rumd answered 90, /metrics counted 89"}},
		{"transport errors", func(r *Report) { r.Rumd.Errors = 3; r.Rumd.FirstError = "timeout" }, &good,
			[]string{"3 sends to rumd got no answer (first: timeout)"}},
		{"accuracy off", func(r *Report) { r.Accuracy = acc(0.0111) }, &good, []string{"error 1.11% > 1.10%"}},
		{"accuracy on", func(r *Report) { r.Accuracy = acc(0.0109) }, &good, nil},
		{"accuracy NaN", func(r *Report) { r.Accuracy = acc(math.NaN()) }, &good, []string{"accuracy"}},
		{"count off", func(r *Report) {
			r.Accuracy = acc(0)
			r.Accuracy.CountMismatches = []string{"ttfb total: rumd 89, sent and accepted 90"}
		}, &good, []string{"count: ttfb total"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Report{Rumd: res(), Baseline: &Result{Rate: 1000}}
			tc.mod(r)
			r.evaluate(0.011, tc.metrics)
			if len(r.Problems) != len(tc.problems) || r.OK != (len(tc.problems) == 0) {
				t.Fatalf("problems %q (ok %v), want %d like %q", r.Problems, r.OK, len(tc.problems), tc.problems)
			}
			for i, p := range tc.problems {
				if !strings.Contains(r.Problems[i], p) {
					t.Errorf("problem %d = %q, want it to say %q", i, r.Problems[i], p)
				}
			}
			if r.Ratio == nil || *r.Ratio != 0.8 {
				t.Errorf("ratio %v, want 0.8", r.Ratio)
			}
			var buf bytes.Buffer
			if err := r.WriteText(&buf); err != nil {
				t.Fatal(err)
			}
			verdict := "\nOK\n"
			if len(tc.problems) > 0 {
				verdict = "\nFAIL\n"
			}
			if !strings.Contains(buf.String(), verdict) || !strings.Contains(buf.String(), "ratio rumd/bare: 0.800") {
				t.Errorf("text report lacks %q or the ratio:\n%s", verdict, buf.String())
			}
		})
	}
}

func TestParseCounts(t *testing.T) {
	const expo = `# HELP rumd_beacons_accepted_total Beacons accepted.
# TYPE rumd_beacons_accepted_total counter
rumd_beacons_accepted_total 1234
# TYPE rumd_beacons_rejected_total counter
rumd_beacons_rejected_total{reason="bot"} 17
rumd_beacons_rejected_total{reason="clock_skew"} 3 1763683200000
rumd_beacons_rejected_total{path="/t",reason="bot"} 2
rumd_beacons_rejected_total{reason="we\"ird"} 1
rumd_beacons_accepted_total_created 1.7e9
go_goroutines 12
`
	c, err := parseCounts(strings.NewReader(expo))
	if err != nil {
		t.Fatal(err)
	}
	if c.Accepted != 1234 || c.Rejected["bot"] != 19 || c.Rejected["clock_skew"] != 3 || c.Rejected[`we"ird`] != 1 {
		t.Errorf("parsed %+v", c)
	}
	d := c.Sub(Counts{Accepted: 1000, Rejected: map[string]float64{"bot": 19, "clock_skew": 1}})
	if d.Accepted != 234 || d.Rejected["clock_skew"] != 2 || len(d.Rejected) != 2 {
		t.Errorf("delta %+v", d)
	}
	if _, err := parseCounts(strings.NewReader("go_goroutines 3\n")); err == nil {
		t.Error("an exposition without rumd's counters parsed")
	}
}

func TestReasonOf(t *testing.T) {
	for _, tc := range []struct {
		code int
		body string
		want string
	}{
		{400, `{"error":"client clock is 30h off","reason":"clock_skew"}`, "clock_skew"},
		{400, `{"reason" : "bot", "error": "x"}`, "bot"},
		{413, `Request Entity Too Large`, "too_large"},
		{429, ``, "rate_limited"},
		{503, `{"error":"queue full","reason":"overloaded"}`, "overloaded"},
		{500, `oops`, "http_500"},
	} {
		if got := reasonOf(tc.code, []byte(tc.body)); got != tc.want {
			t.Errorf("reasonOf(%d, %s) = %q, want %q", tc.code, tc.body, got, tc.want)
		}
	}
}
