package query

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/DataDog/sketches-go/ddsketch"

	"rumd/internal/sketch"
)

func sample(r *rand.Rand, n int, median, sigma float64) *ddsketch.DDSketch {
	s := sketch.New()
	mu := math.Log(median)
	for i := 0; i < n; i++ {
		s.Add(math.Exp(mu + sigma*r.NormFloat64()))
	}
	return s
}

// TestCompareCalibration: two samples of one distribution; the 95% interval of the delta
// covers 0 in 90–99% of 400 seeded runs, at every compared quantile.
func TestCompareCalibration(t *testing.T) {
	for _, q := range []float64{0.5, 0.75, 0.95} {
		covered := 0
		const runs = 400
		for run := 0; run < runs; run++ {
			r := rand.New(rand.NewPCG(uint64(run), 77))
			a, b := sample(r, 2000, 400, 0.6), sample(r, 2000, 400, 0.6)
			d := CompareQuantile(a, b, q)
			if !d.Enough {
				t.Fatalf("q%v: 2000 values reported as too few", q)
			}
			if d.CI[0] <= 0 && d.CI[1] >= 0 {
				covered++
			}
		}
		rate := float64(covered) / runs
		t.Logf("q%v: interval covers 0 in %.1f%% of runs", q, rate*100)
		if rate < 0.90 || rate > 0.99 {
			t.Errorf("q%v: coverage %.1f%%, want 90–99%%", q, rate*100)
		}
	}
}

// TestCompareDetectsFivePercent: a real 5% shift at n = 20,000 per side is detected at p50
// and p75 in every one of 20 seeded runs, with the right sign and verdict; at p95, where
// the sample is thinner, in at least 18 of 20.
func TestCompareDetectsFivePercent(t *testing.T) {
	detected95 := 0
	for run := 0; run < 20; run++ {
		r := rand.New(rand.NewPCG(uint64(run), 99))
		a, b := sample(r, 20000, 400, 0.6), sample(r, 20000, 420, 0.6)
		for _, q := range []float64{0.5, 0.75, 0.95} {
			d := CompareQuantile(a, b, q)
			if q == 0.95 {
				if d.Significant && d.Delta > 0 {
					detected95++
				}
				continue
			}
			if !d.Significant || d.Delta <= 0 || d.CI[0] <= 0 {
				t.Fatalf("run %d q%v: 5%% slower B not detected: %+v", run, q, d)
			}
			if v := Verdict(d, "ms", 20000, 20000); !strings.HasPrefix(v, "b is slower at p") {
				t.Fatalf("verdict %q", v)
			}
		}
	}
	if detected95 < 18 {
		t.Fatalf("p95: 5%% shift detected in %d of 20 runs", detected95)
	}
}

// TestCompareSmallSamples: few values give wide intervals, and too few say so.
func TestCompareSmallSamples(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	small := CompareQuantile(sample(r, 60, 400, 0.6), sample(r, 60, 400, 0.6), 0.75)
	large := CompareQuantile(sample(r, 20000, 400, 0.6), sample(r, 20000, 400, 0.6), 0.75)
	if small.CI[1]-small.CI[0] < 5*(large.CI[1]-large.CI[0]) {
		t.Fatalf("60 values: CI width %v, 20,000 values: %v; the small one must be far wider", small.CI[1]-small.CI[0], large.CI[1]-large.CI[0])
	}
	tiny := CompareQuantile(sample(r, 20, 400, 0.6), sample(r, 30, 400, 0.6), 0.99)
	if tiny.Enough || tiny.Significant {
		t.Fatalf("20 vs 30 values at p99 must be too few: %+v", tiny)
	}
	if v := Verdict(tiny, "ms", 20, 30); !strings.Contains(v, "too few page views") {
		t.Fatalf("verdict %q", v)
	}
	same := CompareQuantile(sample(r, 5000, 400, 0.6), sample(r, 5000, 400, 0.6), 0.75)
	if v := Verdict(same, "ms", 5000, 5000); !same.Significant && !strings.HasPrefix(v, "no detectable difference at p75 (95% CI") {
		t.Fatalf("verdict %q", v)
	}
}

// TestCompareRanksMatchTheQuantile: compare reads its sides and its interval's bounds with
// the quantile's own 1-based ranks. The p75 interval of n views spans ranks
// 0.75·n ± 1.96·√(0.1875·n), which fits inside the sample (ranks 1..n) from 12 views on:
// 12 views can be compared at p75, 11 cannot. (Counted as 0-based ranks, as before, it
// took 19.) The side's value is its nearest-rank p75.
func TestCompareRanksMatchTheQuantile(t *testing.T) {
	side := func(n int) *ddsketch.DDSketch {
		s := sketch.New()
		for i := 1; i <= n; i++ {
			s.Add(float64(100 * i))
		}
		return s
	}
	for _, c := range []struct {
		n      int
		enough bool
	}{{11, false}, {12, true}, {18, true}} {
		d := CompareQuantile(side(c.n), side(c.n), 0.75)
		if d.Enough != c.enough {
			t.Errorf("%d views per side at p75: enough %v, want %v", c.n, d.Enough, c.enough)
		}
		want := float64(100 * int(math.Ceil(0.75*float64(c.n))))
		if math.Abs(d.A-want) > want*sketch.RelativeAccuracy {
			t.Errorf("%d views: p75 %v, want %v (rank ⌈0.75·n⌉)", c.n, d.A, want)
		}
		if c.enough && !(d.CI[0] < 0 && d.CI[1] > 0) {
			t.Errorf("%d views, same sample on both sides: interval %v must contain 0", c.n, d.CI)
		}
	}
}
