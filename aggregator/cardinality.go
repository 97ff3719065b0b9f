package aggregator

import (
	"sync"
	"sync/atomic"

	"rumd/internal/series"
)

// cardinality caps the distinct values of each dimension in one window, across shards.
// Known values are found without locking (sync.Map's read path); a new value takes a slot
// only while the dimension is under its cap, else it becomes series.Other.
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

func (c *cardinality) admit(d series.Dim, v string, m *metrics) string {
	if _, ok := c.seen[d].Load(v); ok {
		return v
	}
	if c.counts[d].Add(1) > c.caps[d] {
		c.counts[d].Add(-1)
		m.overflow.WithLabelValues(d.String()).Inc()
		return series.Other
	}
	if _, loaded := c.seen[d].LoadOrStore(v, struct{}{}); loaded {
		c.counts[d].Add(-1)
	}
	return v
}
