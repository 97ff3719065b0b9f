package aggregator

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"weak"

	"rumd/internal/series"
	"rumd/storage"
)

// fillWindow adds records for n series of [page, country] (20 countries) to the window
// starting at start, spread over every shard so that the flush merges several pieces; each
// series gets two records with every page metric set.
func fillWindow(a *Aggregator, start int64, n int, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 7))
	for i := 0; i < 2*n; i++ {
		s := i % n
		rc := rec(start+int64(i%60), fmt.Sprintf("/p%d", s/20), fmt.Sprintf("C%d", s%20), 0)
		for m := series.Metric(0); m < series.Metric(series.NumPageMetrics); m++ {
			rc.Set(m, math.Exp(r.NormFloat64()*0.8+5+float64(m)*0.2))
		}
		sh := a.shards[i%len(a.shards)]
		sh.mu.Lock()
		a.apply(sh, &rc)
		sh.mu.Unlock()
	}
}

func flushOptions(n int) func(*Options) {
	return func(o *Options) {
		o.Shards = 2
		o.Caps[series.Page] = n/20 + 1
	}
}

// BenchmarkFlush merges and writes one closed window of 20,000 series of [page, country]
// (two shard pieces, every page metric) to a real store.
func BenchmarkFlush(b *testing.B) {
	const n = 20000
	base := int64(1763683200)
	c := newClock(base)
	st := mustStore(b)
	a := mustOpen(b, st, c, flushOptions(n))
	defer a.Close(context.Background())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		start := base + int64(i)*60
		fillWindow(a, start, n, uint64(i))
		runtime.GC()
		b.StartTimer()
		if err := a.flush(start + 60); err != nil {
			b.Fatal(err)
		}
	}
}

// heapStore is the real store, sampling the live heap (after a collection) when a window is
// handed to it and while it writes it: the peak shows what the flush held beyond the
// windows themselves.
type heapStore struct {
	*storage.DB
	peak uint64
}

func (h *heapStore) sample() {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	h.peak = max(h.peak, ms.HeapAlloc)
}

func (h *heapStore) WriteWindow(w *storage.Window) error {
	h.sample()
	if stream := w.Stream; stream != nil {
		w.Stream = func(yield func(*storage.Entry) bool) {
			n := 0
			for e := range stream {
				if n++; n%20000 == 0 {
					h.sample()
				}
				if !yield(e) {
					return
				}
			}
		}
	}
	return h.DB.WriteWindow(w)
}

// TestFlushDoesNotMultiplyLiveMemory: writing a closed window must not hold a second copy of
// it. The heap the flush adds at its peak, over the heap the window's sketches take, stays
// under a half (a merged copy of every series, let alone a DDSketch per entry, is well
// over 1).
func TestFlushDoesNotMultiplyLiveMemory(t *testing.T) {
	const n = 20000
	base := int64(1763683200)
	c := newClock(base)
	hs := &heapStore{DB: mustStore(t)}
	a := mustOpen(t, hs, c, flushOptions(n))
	defer a.Close(context.Background())
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	empty := ms.HeapAlloc
	fillWindow(a, base, n, 1)
	// Detach first, so the derived views are counted in the window's own size.
	a.detach(base + 60)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	held, live := ms.HeapAlloc, ms.HeapAlloc-empty
	if err := a.flush(base + 60); err != nil {
		t.Fatal(err)
	}
	extra := int64(hs.peak) - int64(held)
	ratio := float64(extra) / float64(live)
	t.Logf("window holds %.1f MB; the flush added %.1f MB at its peak (%.2f×)", float64(live)/1e6, float64(extra)/1e6, ratio)
	if ratio > 0.5 {
		t.Fatalf("flush held %.2f× the window's own memory on top of it; want ≤ 0.5×", ratio)
	}
	if hs.Flushed() != base+60 {
		t.Fatalf("window not written: flushed until %d", hs.Flushed())
	}
}

// TestFlushReleasesTheWindow: once a window is written, nothing in the aggregator keeps its
// shard pieces, so their memory is free before the next window closes (under a sustained
// spray, a written window kept until then doubles what memory holds).
func TestFlushReleasesTheWindow(t *testing.T) {
	base := int64(1763683200)
	a := mustOpen(t, mustStore(t), newClock(base), func(o *Options) { o.Shards = 2 })
	defer a.Close(context.Background())
	fillWindow(a, base, 100, 1)
	var pieces []weak.Pointer[window]
	for _, sh := range a.shards {
		sh.mu.Lock()
		for _, w := range sh.windows {
			pieces = append(pieces, weak.Make(w))
		}
		sh.mu.Unlock()
	}
	if err := a.flush(base + 60); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	for i, p := range pieces {
		if p.Value() != nil {
			t.Fatalf("piece %d of %d of the written window is still reachable", i+1, len(pieces))
		}
	}
}
