package sketch

import (
	"math"
	"testing"
)

// TestQuantileNearestRank: at small counts the quantile is the smallest value that at least
// q of the values do not exceed, so a slow view is never hidden below a percentile that
// must cover it. The old reader (rank ⌊q·(n−1)⌋) answered p75 = p95 = p99 = 10 for {10, 200}.
func TestQuantileNearestRank(t *testing.T) {
	twenty := make([]float64, 20)
	for i := range twenty {
		twenty[i] = float64(10 * (i + 1)) // 10, 20, …, 200
	}
	cases := []struct {
		vals []float64
		want map[float64]float64 // q → exact value under nearest rank
	}{
		{[]float64{10, 200}, map[float64]float64{0: 10, 0.25: 10, 0.5: 10, 0.75: 200, 0.95: 200, 0.99: 200, 1: 200}},
		{[]float64{100, 200, 300, 400}, map[float64]float64{0: 100, 0.25: 100, 0.5: 200, 0.75: 300, 0.9: 400, 0.95: 400, 0.99: 400, 1: 400}},
		// n = 20: q·n is an integer for p50, p75 and p95 (ranks 10, 15, 19), which must not
		// round up a rank; p99 is rank 20, the maximum.
		{twenty, map[float64]float64{0: 10, 0.05: 10, 0.5: 100, 0.75: 150, 0.9: 180, 0.95: 190, 0.99: 200, 1: 200}},
	}
	for _, c := range cases {
		s := New()
		for _, v := range c.vals {
			if err := s.Add(v); err != nil {
				t.Fatal(err)
			}
		}
		for q, want := range c.want {
			if got := ExactQuantile(c.vals, q); got != want {
				t.Errorf("n=%d ExactQuantile(q=%v) = %v, want %v", len(c.vals), q, got, want)
			}
			got := Quantile(s, q)
			if rel := math.Abs(got-want) / want; rel > RelativeAccuracy+1e-12 {
				t.Errorf("n=%d q=%v: sketch says %v, want %v within %.2f%%", len(c.vals), q, got, want, RelativeAccuracy*100)
			}
		}
	}
}

func TestQuantileEdges(t *testing.T) {
	if v := Quantile(New(), 0.5); !math.IsNaN(v) {
		t.Fatalf("empty sketch: %v, want NaN", v)
	}
	s := New()
	s.Add(0)
	s.Add(0)
	s.Add(50)
	for q, want := range map[float64]float64{0: 0, 0.5: 0, 0.66: 0, 0.67: 50, 1: 50} {
		if got := Quantile(s, q); math.Abs(got-want) > want*RelativeAccuracy {
			t.Errorf("{0,0,50} q=%v: %v, want %v", q, got, want)
		}
	}
	for _, q := range []float64{-0.1, 1.1, math.NaN()} {
		if v := Quantile(s, q); !math.IsNaN(v) {
			t.Errorf("q=%v: %v, want NaN", q, v)
		}
	}
	for _, c := range []struct{ q, n, k float64 }{{0, 5, 1}, {1, 5, 5}, {0.95, 20, 19}, {0.95, 100, 95}, {0.99, 100, 99}, {0.5, 3, 2}, {0.5, 0, 0}} {
		if k := Rank(c.q, c.n); k != c.k {
			t.Errorf("Rank(%v, %v) = %v, want %v", c.q, c.n, k, c.k)
		}
	}
}
