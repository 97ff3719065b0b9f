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

// TestAddEachMatchesAdd: AddEach gives the same counts as Add value by value, and counts
// the Counts it found empty.
func TestAddEachMatchesAdd(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 7))
	a, b := make([]Counts, 12), make([]Counts, 12)
	vals := make([]float64, 12)
	fresh := 0
	for i := 0; i < 5000; i++ {
		has := uint32(r.IntN(1 << 12))
		for m := range vals {
			switch r.IntN(8) {
			case 0:
				vals[m] = 0
			case 1:
				vals[m] = math.Exp(r.Float64()*30 - 10)
			default:
				vals[m] = math.Exp(r.NormFloat64() + 5 + float64(m))
			}
			if has&(1<<m) != 0 {
				if a[m].Empty() {
					fresh++
				}
				a[m].Add(vals[m])
			}
		}
		fresh -= AddEach(b, vals, has)
	}
	if fresh != 0 {
		t.Fatalf("AddEach counted %d fresh Counts too few", fresh)
	}
	for m := range a {
		x, y := a[m].Sketch(), b[m].Sketch()
		if a[m].Count() != b[m].Count() || a[m].Sum() != b[m].Sum() {
			t.Fatalf("metric %d: count %d/%d sum %v/%v", m, a[m].Count(), b[m].Count(), a[m].Sum(), b[m].Sum())
		}
		for _, q := range []float64{0, 0.1, 0.5, 0.9, 0.99, 1} {
			if Quantile(x, q) != Quantile(y, q) {
				t.Fatalf("metric %d q%v: %v, want %v", m, q, Quantile(y, q), Quantile(x, q))
			}
		}
	}
}

func BenchmarkCountsAdd(b *testing.B) {
	var c Counts
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c.Add(float64(100 + i%2000))
	}
}
