package aggregator

import (
	"sort"
	"time"

	"rumd/internal/series"
	"rumd/internal/sketch"
	"rumd/storage"
)

func (a *Aggregator) flushLoop() {
	defer a.flusher.Done()
	t := time.NewTicker(a.opts.Tick)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			closeBefore := floor(a.opts.Now().Add(-a.opts.Grace).Unix(), 60)
			// A failure is logged by hold, once per run of failures, not every tick.
			_ = a.flush(closeBefore)
		}
	}
}

// flush closes every window that starts before closeBefore and writes all closed windows to
// storage, oldest first. A window whose write fails stays pending and is retried.
func (a *Aggregator) flush(closeBefore int64) error {
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	a.detach(closeBefore)
	for {
		a.viewMu.RLock()
		var pieces []*window
		if len(a.pending) > 0 {
			start := a.pending[0].start
			for _, w := range a.pending {
				if w.start == start {
					pieces = append(pieces, w)
				}
			}
		}
		a.viewMu.RUnlock()
		if len(pieces) == 0 {
			a.recovered()
			return nil
		}
		t0 := time.Now()
		sw, sketches := a.merge(pieces)
		if err := a.store.WriteWindow(sw); err != nil {
			a.m.flushErrors.Inc()
			a.hold(err)
			return err
		}
		if a.refusing.Load() { // a store on every flush would bounce Add's cache line
			a.refusing.Store(false)
		}
		a.viewMu.Lock()
		// Cleared, not just sliced off: the array behind pending would keep the written
		// window in memory until the next one closes.
		clear(a.pending[:len(pieces)])
		a.pending = a.pending[len(pieces):]
		a.viewMu.Unlock()
		a.cardMu.Lock()
		delete(a.cards, sw.Start)
		a.cardMu.Unlock()
		a.m.liveSketches.Sub(float64(sketches))
		a.m.flushed.Inc()
		a.m.flushDuration.Observe(time.Since(t0).Seconds())
	}
}

// hold notes a failed write: the closed windows stay in memory, and once they reach
// HoldBytes new records are refused. It logs when a run of failures begins and when the
// bound is reached, not at every retry. It runs under flushMu.
func (a *Aggregator) hold(err error) {
	windows, records, bytes := a.Held()
	if a.failingSince.IsZero() {
		a.failingSince = a.opts.Now()
		a.log.Error("storage refuses windows; closed windows are held in memory and retried",
			"err", err, "held_windows", windows, "held_beacons", records, "held_bytes", bytes, "hold_bytes", a.opts.HoldBytes)
	}
	if bytes >= a.opts.HoldBytes && !a.refusing.Load() {
		a.refusing.Store(true)
		a.log.Error("windows held in memory reached their bound; beacons are refused with storage_full until storage takes windows again",
			"held_windows", windows, "held_beacons", records, "held_bytes", bytes, "hold_bytes", a.opts.HoldBytes)
	}
}

// recovered ends a run of failed writes once every held window is written, and logs it.
// It runs under flushMu.
func (a *Aggregator) recovered() {
	if a.failingSince.IsZero() {
		return
	}
	a.log.Info("storage takes windows again; every held window is written",
		"failing_for", a.opts.Now().Sub(a.failingSince).String())
	a.failingSince = time.Time{}
}

// detach moves the windows before closeBefore from the shards to pending, in order.
func (a *Aggregator) detach(closeBefore int64) {
	a.viewMu.Lock()
	defer a.viewMu.Unlock()
	// Raised before the shards are locked: a worker that reads the old value holds its
	// shard lock, so its record lands in a window that is detached after it.
	if closeBefore > a.minOpen.Load() {
		a.minOpen.Store(closeBefore)
	}
	var moved []*window
	for _, sh := range a.shards {
		sh.mu.Lock()
		for start, w := range sh.windows {
			if start < closeBefore {
				moved = append(moved, w)
				delete(sh.windows, start)
			}
		}
		sh.mu.Unlock()
	}
	derived := 0
	for _, w := range moved {
		derived += a.deriveAll(w)
		w.bytes = memBytes(w)
	}
	a.m.liveSketches.Add(float64(derived))
	a.totals.fold(a.views, moved, closeBefore)
	a.pending = append(a.pending, moved...)
	sort.SliceStable(a.pending, func(i, j int) bool { return a.pending[i].start < a.pending[j].start })
}

// merge prepares the shard pieces of one window for storage: the label values for the
// index now, the sketches as a Stream that storage walks while it writes. The Stream merges
// one series at a time across the pieces and makes each of its metrics a DDSketch (one,
// reused) only when it is written, so a flush holds, beyond the pieces, one series and
// the sorted keys of one view, never a second copy of the window: building the whole window
// first had a 374 MB spray take 2.85 GB at window close. The pieces stay untouched, so a
// failed write walks the Stream again. merge returns the number of live sketches the
// pieces held.
func (a *Aggregator) merge(pieces []*window) (*storage.Window, int) {
	sw := &storage.Window{Start: pieces[0].start}
	live := 0
	var values [series.NumDims]map[string]struct{}
	for d := range values {
		values[d] = map[string]struct{}{}
	}
	for vi, v := range a.views {
		for _, w := range pieces {
			for _, e := range w.views[vi] {
				live += countSketches(e)
				for _, d := range v.Dims {
					values[d][e.labels[d]] = struct{}{}
				}
			}
		}
	}
	for d := range values {
		for v := range values[d] {
			sw.Values[d] = append(sw.Values[d], v)
		}
		sort.Strings(sw.Values[d])
	}
	sw.Stream = func(yield func(*storage.Entry) bool) { a.stream(pieces, yield) }
	return sw, live
}

// stream yields the window's entries view by view, series in key order, each the merge of
// that series' counts in every piece.
func (a *Aggregator) stream(pieces []*window, yield func(*storage.Entry) bool) {
	s := sketch.New()
	var (
		keys []string
		es   []*entry
		key  []byte
		out  storage.Entry // one for the whole walk: yield's pointer would make one per entry escape
	)
	for vi, v := range a.views {
		keys = seriesKeys(keys[:0], pieces, vi)
		first := series.Metric(0)
		if v.ForProbes() {
			first = series.ProbeDNS
		}
		for _, k := range keys {
			es = es[:0]
			for _, w := range pieces {
				if e := w.views[vi][k]; e != nil {
					es = append(es, e)
				}
			}
			key = append(key[:0], k...)
			for i := range es[0].sk {
				s.Clear()
				empty := true
				for _, e := range es {
					if !e.sk[i].Empty() {
						e.sk[i].AddTo(s)
						empty = false
					}
				}
				if empty {
					continue
				}
				out = storage.Entry{View: v.Mask, Metric: first + series.Metric(i), Series: key, Sketch: s}
				if !yield(&out) {
					return
				}
			}
		}
	}
}

// seriesKeys appends to dst the distinct series keys of view vi over the pieces, sorted. A
// key is taken from the first piece that holds it, so no set of keys is built.
func seriesKeys(dst []string, pieces []*window, vi int) []string {
	for j, w := range pieces {
	next:
		for k := range w.views[vi] {
			for _, earlier := range pieces[:j] {
				if _, ok := earlier.views[vi][k]; ok {
					continue next
				}
			}
			dst = append(dst, k)
		}
	}
	sort.Strings(dst)
	return dst
}

func countSketches(e *entry) int {
	n := 0
	for i := range e.sk {
		if !e.sk[i].Empty() {
			n++
		}
	}
	return n
}

// entryBytes estimates what one series of a window holds besides its Counts: the map slot,
// the entry with its labels, and the key.
const entryBytes = 200

// memBytes estimates the memory of a detached window piece from its live sketches.
func memBytes(w *window) int64 {
	n := int64(0)
	for _, v := range w.views {
		for k, e := range v {
			n += int64(entryBytes + len(k))
			for i := range e.sk {
				n += int64(e.sk[i].MemBytes())
			}
		}
	}
	return n
}
