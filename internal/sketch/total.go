package sketch

// Total is a cumulative, process-lifetime sum of Counts: what the Prometheus exposition
// serves. Its counts are 64-bit, since a busy series outgrows a window's 32-bit ones in
// weeks, and a counter that wrapped would read as a reset.
type Total struct {
	zero uint64
	sum  float64
	base int32
	b    []uint64 // b[i] counts bucket base+i
}

// AddCounts adds c's counts to t.
func (t *Total) AddCounts(c *Counts) {
	t.zero += uint64(c.zero)
	t.sum += c.sum
	if len(c.b) == 0 {
		return
	}
	t.span(c.base, c.base+int32(len(c.b)))
	off := int(c.base - t.base)
	for j, x := range c.b {
		t.b[off+j] += uint64(x)
	}
}

// AddTotal adds o's counts to t.
func (t *Total) AddTotal(o *Total) {
	t.zero += o.zero
	t.sum += o.sum
	if len(o.b) == 0 {
		return
	}
	t.span(o.base, o.base+int32(len(o.b)))
	off := int(o.base - t.base)
	for j, x := range o.b {
		t.b[off+j] += x
	}
}

// span makes t's dense range cover buckets [lo, hi).
func (t *Total) span(lo, hi int32) {
	if len(t.b) == 0 {
		t.base, t.b = lo, make([]uint64, hi-lo)
		return
	}
	curHi := t.base + int32(len(t.b))
	if lo >= t.base && hi <= curHi {
		return
	}
	nlo, nhi := min(lo, t.base), max(hi, curHi)
	nb := make([]uint64, nhi-nlo)
	copy(nb[t.base-nlo:], t.b)
	t.base, t.b = nlo, nb
}

// Clone returns a copy of t that shares nothing with it.
func (t *Total) Clone() *Total {
	c := *t
	c.b = append([]uint64(nil), t.b...)
	return &c
}

// Count is the number of values counted.
func (t *Total) Count() uint64 {
	n := t.zero
	for _, x := range t.b {
		n += x
	}
	return n
}

// Zero is the number of values in the zero bucket (those at or below the smallest normal
// float64, which in practice means exactly 0).
func (t *Total) Zero() uint64 { return t.zero }

// Sum is the exact sum of the values counted.
func (t *Total) Sum() float64 { return t.sum }

// Each calls fn for every non-empty bucket in index order, with its index in rumd's (and
// OpenTelemetry's) convention: bucket i holds (γ^i, γ^(i+1)].
func (t *Total) Each(fn func(i int, n uint64)) {
	for j, x := range t.b {
		if x > 0 {
			fn(int(t.base)+j, x)
		}
	}
}

// Buckets is the number of non-empty buckets.
func (t *Total) Buckets() int {
	n := 0
	for _, x := range t.b {
		if x > 0 {
			n++
		}
	}
	return n
}

// MemBytes is the memory t holds, for accounting.
func (t *Total) MemBytes() int { return 48 + 8*cap(t.b) }
