package sketch

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestCountsMatchDDSketch: adding the same values to Counts and to a DDSketch gives the
// same buckets, so every quantile agrees exactly, also after merges in both directions.
func TestCountsMatchDDSketch(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	var a, b Counts
	s := New()
	for i := 0; i < 20000; i++ {
		var v float64
		switch i % 10 {
		case 0:
			v = 0
		case 1:
			v = math.Exp(r.Float64()*20 - 5) // wide spread: grows both ways
		default:
			v = math.Exp(r.NormFloat64()*0.7 + 6)
		}
		if i%2 == 0 {
			a.Add(v)
		} else {
			b.Add(v)
		}
		s.Add(v)
	}
	b.Merge(&a)
	got := b.Sketch()
	if got.GetCount() != s.GetCount() || float64(b.Count()) != s.GetCount() {
		t.Fatalf("count %v / %d, want %v", got.GetCount(), b.Count(), s.GetCount())
	}
	for _, q := range []float64{0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1} {
		if x, y := Quantile(got, q), Quantile(s, q); x != y {
			t.Fatalf("q%v: Counts %v, DDSketch %v", q, x, y)
		}
	}
	var empty Counts
	if !empty.Empty() || empty.Count() != 0 || empty.Sketch().GetCount() != 0 {
		t.Fatal("empty Counts")
	}
}

func BenchmarkCountsAdd(b *testing.B) {
	var c Counts
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c.Add(float64(100 + i%2000))
	}
}
