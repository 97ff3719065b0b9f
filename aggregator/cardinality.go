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
	// series holds, by view index, the combinations admitted in each fed view (nil for a
	// derived view, which is merged from a fed one and so never holds more series than it).
	series []*seriesSet
}

// seriesSet is the series of one view admitted in one window, across shards. It is consulted
// only when a shard meets a series for the first time, so a plain mutex serves. seen maps a
// key to itself, so that every shard's map shares the one copy of its bytes.
type seriesSet struct {
	mu   sync.Mutex
	cap  int
	seen map[string]string
}

func newCardinality(o Options, parent []int) *cardinality {
	c := &cardinality{series: make([]*seriesSet, len(o.Views))}
	for d, n := range o.Caps {
		c.caps[d] = int64(n)
	}
	for vi, v := range o.Views {
		if parent[vi] < 0 {
			c.series[vi] = &seriesSet{cap: o.seriesCap(v), seen: map[string]string{}}
		}
	}
	return c
}

// admitSeries returns the window's own copy of series key k of fed view vi and true when the
// series is admitted: known already, or new while the view is under its series cap.
func (c *cardinality) admitSeries(vi int, k []byte) (string, bool) {
	s := c.series[vi]
	s.mu.Lock()
	defer s.mu.Unlock()
	if own, ok := s.seen[string(k)]; ok {
		return own, true
	}
	if len(s.seen) >= s.cap {
		return "", false
	}
	own := string(k)
	s.seen[own] = own
	return own, true
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
