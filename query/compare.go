package query

import (
	"fmt"
	"math"

	"github.com/DataDog/sketches-go/ddsketch"

	"rumd/internal/sketch"
)

// Comparison of one quantile between two selections A and B.
//
// Method: a distribution-free (order-statistic) confidence interval for each side's
// quantile, read from its merged sketch. For n values and quantile q, the (1-based) ranks
// n·q ± z·√(n·q·(1−q)) bound the q-quantile with about 95% confidence whatever the
// distribution (the binomial count of values below the true quantile, normal-
// approximated). The values at those ranks are read from the sketch; their half-distance
// over z is the quantile's standard error. The sketch's own discretisation (values are
// known to ±α ≈ 1.08% relative) is added as a uniform error of variance (α·v)²/3. The two
// sides are independent samples, so the delta B − A has the standard error
// √(seA² + seB²) and a 95% interval of delta ± z·se. Assumptions: page views are
// independent draws (one beacon per page view; a visitor with many views makes the
// interval too narrow), and each side has enough values that the rank bounds fall inside
// the sample (otherwise the answer says there is too little data).
type QuantileDelta struct {
	Q           float64    `json:"q"`
	A           float64    `json:"a"`
	B           float64    `json:"b"`
	Delta       float64    `json:"delta"`
	Rel         float64    `json:"rel"`
	CI          [2]float64 `json:"ci"`
	Significant bool       `json:"significant"`
	// Enough is false when a side has too few values to bound this quantile.
	Enough bool `json:"enough"`
}

// z95 is the two-sided 95% normal quantile.
const z95 = 1.959963984540054

// CompareQuantile compares quantile q of two merged sketches.
func CompareQuantile(a, b *ddsketch.DDSketch, q float64) QuantileDelta {
	d := QuantileDelta{Q: q, A: sketch.Quantile(a, q), B: sketch.Quantile(b, q)}
	d.Delta = d.B - d.A
	if d.A != 0 {
		d.Rel = d.Delta / d.A
	}
	seA, okA := quantileSE(a, q)
	seB, okB := quantileSE(b, q)
	d.Enough = okA && okB
	se := math.Sqrt(seA*seA + seB*seB)
	d.CI = [2]float64{d.Delta - z95*se, d.Delta + z95*se}
	d.Significant = d.Enough && (d.CI[0] > 0 || d.CI[1] < 0)
	return d
}

// quantileSE is the standard error of quantile q of s from its order-statistic interval;
// ok is false when the interval's ranks fall outside the sample. Ranks are 1-based and read
// with sketch.ValueAtRank, the reader sketch.Quantile uses, so the interval is centred on
// the rank the quantile itself is read at (n·q, rounded up).
func quantileSE(s *ddsketch.DDSketch, q float64) (float64, bool) {
	n := s.GetCount()
	if n < 2 {
		return math.Inf(1), false
	}
	half := z95 * math.Sqrt(n*q*(1-q))
	lo, hi := n*q-half, n*q+half
	ok := lo >= 1 && hi <= n
	vLo, vHi := sketch.ValueAtRank(s, lo), sketch.ValueAtRank(s, hi) // clamped to [1, n]
	stat := (vHi - vLo) / (2 * z95)
	v := sketch.Quantile(s, q)
	disc := v * sketch.RelativeAccuracy
	return math.Sqrt(stat*stat + disc*disc/3), ok
}

// Verdict says in plain words what a comparison found at quantile d.Q, for a metric in
// unit ("ms" or "").
func Verdict(d QuantileDelta, unit string, countA, countB float64) string {
	p := fmt.Sprintf("p%s", trimFloat(d.Q*100))
	if !d.Enough {
		return fmt.Sprintf("too few page views to compare at %s (a: %.0f, b: %.0f)", p, countA, countB)
	}
	ci := func(x float64) string { return trimFloat(round1(x)) + sp(unit) }
	if !d.Significant {
		return fmt.Sprintf("no detectable difference at %s (95%% CI %s to %s)", p, ci(d.CI[0]), ci(d.CI[1]))
	}
	who, lo, hi := "b is faster", -d.CI[1], -d.CI[0]
	if d.Delta > 0 {
		who, lo, hi = "b is slower", d.CI[0], d.CI[1]
	}
	if unit == "" {
		who = map[string]string{"b is faster": "b is lower", "b is slower": "b is higher"}[who]
	}
	return fmt.Sprintf("%s at %s by %s (95%% CI %s to %s)", who, p, ci(math.Abs(d.Delta)), trimFloat(round1(lo)), ci(hi))
}

func sp(unit string) string {
	if unit == "" {
		return ""
	}
	return " " + unit
}

func round1(x float64) float64 {
	if math.Abs(x) < 1 {
		return math.Round(x*1000) / 1000
	}
	return math.Round(x)
}

func trimFloat(x float64) string { return fmt.Sprint(x) }
