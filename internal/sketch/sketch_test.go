package sketch

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/DataDog/sketches-go/ddsketch"
)

// otelIndex is OpenTelemetry's MapToIndex for a positive scale, written out as its
// specification states it, to check our table-based index against.
func otelIndex(v float64) int {
	frac, exp := math.Frexp(v)
	if frac == 0.5 { // exact power of two: 2^(exp-1)
		return ((exp - 1) << Scale) - 1
	}
	return int(math.Floor(math.Log(v) * (perOctave / math.Ln2)))
}

func TestIndexPowersOfTwo(t *testing.T) {
	for e := -60; e <= 60; e++ {
		v := math.Ldexp(1, e)
		want := e*perOctave - 1
		if got := Mapping.Index(v); got != want {
			t.Fatalf("Index(2^%d) = %d, want %d", e, got, want)
		}
		// Just above a power of two starts the next bucket; just below stays in the one
		// whose upper bound is the power.
		if got := Mapping.Index(math.Nextafter(v, math.Inf(1))); got != want+1 {
			t.Fatalf("Index(2^%d + ulp) = %d, want %d", e, got, want+1)
		}
		if got := Mapping.Index(math.Nextafter(v, 0)); got != want {
			t.Fatalf("Index(2^%d - ulp) = %d, want %d", e, got, want)
		}
		// Prometheus bucket index = DDSketch index + 1: 1.0 is Prometheus bucket 0.
		if e == 0 && want+1 != 0 {
			t.Fatalf("1.0 must map to Prometheus bucket 0, got %d", want+1)
		}
	}
}

func TestIndexMatchesOTelAwayFromBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		v := math.Exp(r.Float64()*40 - 20)
		got, want := Mapping.Index(v), otelIndex(v)
		if got == want {
			continue
		}
		// The two may differ only where v sits within float rounding of a bound.
		ub := Mapping.LowerBound(got + 1)
		lb := Mapping.LowerBound(got)
		if math.Abs(v-ub)/ub > 1e-14 && math.Abs(v-lb)/lb > 1e-14 {
			t.Fatalf("Index(%g) = %d, OTel says %d, and v is not at a bound", v, got, want)
		}
	}
}

func TestBucketBoundsContainValue(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 100000; i++ {
		v := math.Exp(r.Float64()*30 - 10)
		idx := Mapping.Index(v)
		if lo, hi := Mapping.LowerBound(idx), Mapping.LowerBound(idx+1); !(lo < v && v <= hi) {
			t.Fatalf("v=%g in bucket %d = (%g, %g]", v, idx, lo, hi)
		}
		if rel := math.Abs(Mapping.Value(idx)-v) / v; rel > RelativeAccuracy+1e-12 {
			t.Fatalf("Value(%d) = %g is %.4f%% from %g", idx, Mapping.Value(idx), rel*100, v)
		}
	}
}

func TestQuantileAccuracyAndRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	s := New()
	vals := make([]float64, 5000)
	for i := range vals {
		vals[i] = math.Exp(r.NormFloat64()*0.8 + 6)
		if err := s.Add(vals[i]); err != nil {
			t.Fatal(err)
		}
	}
	s.Add(0) // the zero bucket
	vals = append(vals, 0)
	sort.Float64s(vals)
	b := AppendEncoded(nil, s)
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	merged := New()
	if err := MergeEncoded(merged, b); err != nil {
		t.Fatal(err)
	}
	for _, q := range []float64{0, 0.5, 0.75, 0.95, 0.99, 1} {
		exact := ExactQuantile(vals, q)
		for name, sk := range map[string]*ddsketch.DDSketch{"orig": s, "decoded": d, "merged": merged} {
			got := Quantile(sk, q)
			if exact == 0 {
				if got != 0 {
					t.Fatalf("%s q=%v: got %v, want 0", name, q, got)
				}
				continue
			}
			if rel := math.Abs(got-exact) / exact; rel > RelativeAccuracy+1e-12 {
				t.Errorf("%s q=%v: got %v, exact %v, rel err %.4f", name, q, got, exact, rel)
			}
		}
	}
	if d.GetCount() != float64(len(vals)) {
		t.Fatalf("decoded count %v, want %d", d.GetCount(), len(vals))
	}
}

func BenchmarkAdd(b *testing.B) {
	s := New()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.Add(float64(100 + i%2000))
	}
}

func BenchmarkIndex(b *testing.B) {
	var sink int
	for i := 0; i < b.N; i++ {
		sink += Mapping.Index(float64(100 + i%2000))
	}
	_ = sink
}
