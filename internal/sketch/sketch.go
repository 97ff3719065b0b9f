// Package sketch holds rumd's DDSketch setup: a base-2 exponential index mapping whose
// buckets are exactly those of a Prometheus native histogram of schema 5 and an
// OpenTelemetry exponential histogram of scale 5, plus the encode, decode and merge helpers
// every stage uses. DDSketch bucket i = OTel bucket i = Prometheus bucket i+1; bucket i holds
// the values in (γ^i, γ^(i+1)] with γ = 2^(1/32).
package sketch

import (
	"fmt"
	"math"
	"sort"

	"github.com/DataDog/sketches-go/ddsketch"
	enc "github.com/DataDog/sketches-go/ddsketch/encoding"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/pb/sketchpb"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

// Scale is the OpenTelemetry scale (= Prometheus schema) of the buckets.
const Scale = 5

const perOctave = 1 << Scale

// Gamma is the ratio between consecutive bucket bounds, 2^(1/32).
var Gamma = math.Exp2(1.0 / perOctave)

// RelativeAccuracy is the worst relative error of a quantile read from a sketch, ≈ 1.08%.
var RelativeAccuracy = 1 - 2/(1+Gamma)

// bounds[j] = 2^(j/32) / 2: the upper bounds, inside one octave [0.5, 1) of frexp's
// fraction, of the buckets, as Prometheus lays them out for schema 5.
var bounds = func() []float64 {
	b := make([]float64, perOctave)
	for j := range b {
		b[j] = 0.5 * math.Exp2(float64(j)/perOctave)
	}
	return b
}()

// Exp2Mapping maps values to base-2 exponential bucket indexes of scale 5.
type Exp2Mapping struct{}

var _ mapping.IndexMapping = Exp2Mapping{}

// Mapping is the one index mapping every rumd sketch uses.
var Mapping mapping.IndexMapping = Exp2Mapping{}

// Index returns the bucket of a positive normal value: the i with γ^i < v ≤ γ^(i+1). It
// reads the exponent and mantissa bits directly: a table indexed by the top 10 mantissa
// bits gives the candidate bucket (no cell holds more than one bound, since buckets are
// wider than cells), and one integer comparison settles it. Exact powers of two land on
// their bucket's upper bound with no floating-point logarithm.
func (Exp2Mapping) Index(v float64) int {
	b := math.Float64bits(v)
	e := int(b>>52&0x7ff) - 1023
	if e == -1023 { // subnormal: not on the hot path
		frac, exp := math.Frexp(v)
		return sort.SearchFloat64s(bounds, frac) + (exp-1)*perOctave - 1
	}
	mant := b & (1<<52 - 1)
	j := int(cellBound[mant>>(52-cellBits)])
	if mant > boundMant[j] {
		j++
	}
	return e*perOctave + j - 1
}

const cellBits = 10

// boundMant[j] is the mantissa of 2^(j/32), j = 0..32 (the last, 2.0, as 1<<52), and
// cellBound[c] the smallest j whose bound is at or above the start of mantissa cell c.
var boundMant, cellBound = func() ([perOctave + 1]uint64, [1 << cellBits]uint8) {
	var bm [perOctave + 1]uint64
	for j := 0; j < perOctave; j++ {
		bm[j] = math.Float64bits(2*bounds[j]) & (1<<52 - 1)
	}
	bm[perOctave] = 1 << 52
	var cb [1 << cellBits]uint8
	for c := range cb {
		start := uint64(c) << (52 - cellBits)
		j := 0
		for bm[j] < start {
			j++
		}
		cb[c] = uint8(j)
	}
	return bm, cb
}()

// LowerBound returns γ^i, the exclusive lower bound of bucket i.
func (Exp2Mapping) LowerBound(i int) float64 {
	oct, j := floorDiv(i, perOctave)
	return math.Ldexp(2*bounds[j], oct)
}

// Value returns the value that represents bucket i: the point whose relative distance to
// both bounds is RelativeAccuracy.
func (m Exp2Mapping) Value(i int) float64 {
	return m.LowerBound(i) * (1 + RelativeAccuracy)
}

// Equals reports whether other is the same mapping.
func (Exp2Mapping) Equals(other mapping.IndexMapping) bool {
	_, ok := other.(Exp2Mapping)
	return ok
}

// RelativeAccuracy returns the mapping's relative accuracy.
func (Exp2Mapping) RelativeAccuracy() float64 { return RelativeAccuracy }

// MinIndexableValue is the smallest normal float64; values at or below it go to the zero
// bucket.
func (Exp2Mapping) MinIndexableValue() float64 { return 0x1p-1022 }

// MaxIndexableValue is the largest value with a bucket.
func (Exp2Mapping) MaxIndexableValue() float64 { return 0x1p1023 }

// ToProto describes the mapping as the equivalent logarithmic one (same γ, offset 0).
func (Exp2Mapping) ToProto() *sketchpb.IndexMapping {
	return &sketchpb.IndexMapping{Gamma: Gamma, Interpolation: sketchpb.IndexMapping_NONE}
}

// EncodeProto writes the mapping's protobuf description.
func (Exp2Mapping) EncodeProto(b *sketchpb.IndexMappingBuilder) {
	b.SetGamma(Gamma)
	b.SetIndexOffset(0)
	b.SetInterpolation(uint64(sketchpb.IndexMapping_NONE))
}

// Encode appends the mapping's description; rumd omits it from stored sketches.
func (Exp2Mapping) Encode(b *[]byte) {
	enc.EncodeFlag(b, enc.FlagIndexMappingBaseLogarithmic)
	enc.EncodeFloat64LE(b, Gamma)
	enc.EncodeFloat64LE(b, 0)
}

func floorDiv(a, b int) (q, r int) {
	q, r = a/b, a%b
	if r < 0 {
		q--
		r += b
	}
	return q, r
}

func newStore() store.Store { return store.NewBufferedPaginatedStore() }

// New returns an empty sketch with rumd's mapping and a memory-thrifty store.
func New() *ddsketch.DDSketch {
	return ddsketch.NewDDSketch(Mapping, newStore(), newStore())
}

// AppendEncoded appends the compact binary form of s (mapping omitted) to dst.
func AppendEncoded(dst []byte, s *ddsketch.DDSketch) []byte {
	s.Encode(&dst, true)
	return dst
}

// Decode reads a sketch written by AppendEncoded.
func Decode(b []byte) (*ddsketch.DDSketch, error) {
	s, err := ddsketch.DecodeDDSketch(b, newStore, Mapping)
	if err != nil {
		return nil, fmt.Errorf("decode sketch: %w", err)
	}
	return s, nil
}

// MergeEncoded merges a sketch written by AppendEncoded into dst without building it.
func MergeEncoded(dst *ddsketch.DDSketch, b []byte) error {
	if err := dst.DecodeAndMergeWith(b); err != nil {
		return fmt.Errorf("merge sketch: %w", err)
	}
	return nil
}

// Rank is the 1-based rank of quantile q among n values under rumd's one quantile
// definition, nearest rank: the smallest k with k ≥ q·n, and at least 1. The value at that
// rank is the smallest v such that at least q of the values are ≤ v, so a p75 of {10, 200}
// is 200 and a p95 of {100, 200, 300, 400} is 400: a quantile is never reported below a
// value it must cover. (DDSketch's own reader takes rank ⌊q·(n−1)⌋ + 1, which rounds down
// and at small counts answers the next lower value: p99 of two views was the faster one.)
// docs/statistics.md says why this definition. q·n is computed in floating point, where
// 0.95·20 may come out an ulp above 19; the relative slack keeps such products on their
// integer instead of one rank up. n ≤ 0 gives 0.
func Rank(q, n float64) float64 {
	if !(n > 0) {
		return 0
	}
	x := q * n
	k := math.Ceil(x - x*1e-12)
	return math.Min(n, math.Max(1, k))
}

// Quantile reads quantile q (0 ≤ q ≤ 1) of s under the nearest-rank definition (see Rank);
// NaN for an empty sketch or a q outside [0, 1]. The value is the representative of the
// bucket holding that rank, within RelativeAccuracy of the exact value.
func Quantile(s *ddsketch.DDSketch, q float64) float64 {
	if !(q >= 0 && q <= 1) {
		return math.NaN()
	}
	return ValueAtRank(s, Rank(q, s.GetCount()))
}

// ValueAtRank reads the value of 1-based rank k of s (k is clamped to [1, count]); NaN
// for an empty sketch. It is Quantile's reader, and the compare interval's, so both take
// ranks the same way.
func ValueAtRank(s *ddsketch.DDSketch, k float64) float64 {
	n := s.GetCount()
	if !(n > 0) {
		return math.NaN()
	}
	r := math.Min(n, math.Max(1, math.Ceil(k))) - 1 // 0-based: stores find the first key whose cumulative count exceeds r
	neg := s.GetNegativeValueStore().TotalCount()
	switch {
	case r < neg:
		return -s.Value(s.GetNegativeValueStore().KeyAtRank(neg - 1 - r))
	case r < neg+s.GetZeroCount():
		return 0
	default:
		return s.Value(s.GetPositiveValueStore().KeyAtRank(r - neg - s.GetZeroCount()))
	}
}

// ExactQuantile is quantile q of sorted (ascending, non-empty) exact values under the same
// nearest-rank definition as Quantile: the oracle accuracy checks compare a sketch with.
func ExactQuantile(sorted []float64, q float64) float64 {
	return sorted[int(Rank(q, float64(len(sorted))))-1]
}
