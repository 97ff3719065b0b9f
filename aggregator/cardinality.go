package aggregator

import (
	"strings"
	"sync"
	"sync/atomic"

	"rumd/internal/series"
)

// cardinality caps the distinct values of each dimension in one window, across shards.
// Known values are found without locking (sync.Map's read path); a new value takes a slot
// only while the dimension is under its cap, else it becomes series.Other. It keeps its own
// copy of every value it admits and hands that copy out, so the labels the aggregator keeps
// never share memory with a request (a beacon's strings are views of its body).
type cardinality struct {
	caps   [series.NumDims]int64
	seen   [series.NumDims]sync.Map
	counts [series.NumDims]atomic.Int64
}

func newCardinality(caps [series.NumDims]int) *cardinality {
	c := &cardinality{}
	for d, n := range caps {
		c.caps[d] = int64(n)
	}
	return c
}

// admit returns the window's own copy of value v of dimension d, or series.Other past the
// dimension's cap.
func (c *cardinality) admit(d series.Dim, v string, m *metrics) string {
	if own, ok := c.seen[d].Load(v); ok {
		return own.(string)
	}
	if c.counts[d].Add(1) > c.caps[d] {
		c.counts[d].Add(-1)
		m.overflow.WithLabelValues(d.String()).Inc()
		return series.Other
	}
	own := strings.Clone(v)
	if cur, loaded := c.seen[d].LoadOrStore(own, own); loaded {
		c.counts[d].Add(-1)
		return cur.(string)
	}
	return own
}
