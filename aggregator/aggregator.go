// Package aggregator turns accepted beacons into sketches: one DDSketch per (view, metric,
// label values, 1-minute window). Records arrive through a bounded queue drained by one
// worker per shard, so every core ingests without a global lock; windows close a little
// after their minute ends, are merged across shards and handed to storage in order. Until
// storage has them, open and closing windows answer queries from memory.
package aggregator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"rumd/internal/series"
	"rumd/internal/sketch"
	"rumd/storage"
)

// ErrQueueFull is returned by Add when the aggregator cannot keep up: the caller sheds the
// beacon (503) instead of letting memory grow.
var ErrQueueFull = errors.New("aggregator queue is full")

// ErrClosed is returned by Add after Close has begun.
var ErrClosed = errors.New("aggregator is closed")

// ErrStorageFull is returned by Add while storage refuses windows and the closed windows
// held in memory have reached Options.HoldBytes: the caller refuses the beacon (503) rather
// than accept what could not be kept.
var ErrStorageFull = errors.New("storage is full and the windows held in memory reached their bound")

// Store is what the aggregator needs of storage.
type Store interface {
	WriteWindow(*storage.Window) error
	Flushed() int64
}

var _ Store = (*storage.DB)(nil)

// Options configures the aggregator.
type Options struct {
	Views     []series.View
	Shards    int           // workers draining the queue; default GOMAXPROCS
	QueueSize int           // records waiting at most; beyond it Add sheds
	Grace     time.Duration // how long a window stays open after its minute ends
	// Caps bounds the distinct values of each dimension per window; further values become
	// series.Other. Zero means the default.
	Caps [series.NumDims]int
	// SeriesCap bounds the series of each view per window: the combinations of its
	// dimensions' values, which per-dimension caps alone let grow to their product. A record
	// bringing a new combination past it is counted in the view's overflow series, whose
	// every dimension is series.Other. SeriesCaps overrides it for some views.
	SeriesCap  int
	SeriesCaps map[series.Mask]int
	// Now is the clock; tests set it. Default time.Now.
	Now func() time.Time
	// Tick is how often windows are checked for closing.
	Tick time.Duration
	// SlowDown is added to the handling of every record: for load-shedding drills and the
	// tests that prove ingest sheds instead of growing memory. Zero in production.
	SlowDown time.Duration
	// Totals configures the cumulative counts of the Prometheus exposition.
	Totals TotalsOptions
	// HoldBytes bounds the closed windows held in memory while storage refuses them (a
	// full disk), as estimated from their sketches; once reached, Add refuses with
	// ErrStorageFull until a write succeeds. The open window comes on top.
	HoldBytes int64
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	return Options{
		Views:     series.DefaultViews(),
		Shards:    runtime.GOMAXPROCS(0),
		QueueSize: 16384,
		Grace:     2 * time.Second,
		Caps:      DefaultCaps(),
		SeriesCap: DefaultSeriesCap,
		Now:       time.Now,
		Tick:      250 * time.Millisecond,
		Totals:    DefaultTotalsOptions(),
		HoldBytes: 128 << 20,
	}
}

// DefaultCaps are the per-window cardinality caps of each dimension. A dimension without
// its own default gets defaultCap, so that none is ever unbounded.
func DefaultCaps() [series.NumDims]int {
	var c [series.NumDims]int
	for d := range c {
		c[d] = defaultCap
	}
	c[series.Page] = 2000
	c[series.Country] = 300
	c[series.Device] = 8
	c[series.Nav] = 8
	c[series.Variant] = 200
	c[series.Probe] = 100
	return c
}

const defaultCap = 100

// DefaultSeriesCap is the default series cap of a view per window. Views of one or two small
// dimensions never reach it (their caps allow fewer combinations); it bounds [page,
// country], whose caps allow 602,301, to what a busy site shows in a minute.
const DefaultSeriesCap = 20000

// maxSeriesCap keeps a configured series cap to what one window can hold in memory.
const maxSeriesCap = 10_000_000

// seriesCap is the series cap of view v.
func (o Options) seriesCap(v series.View) int {
	if n, ok := o.SeriesCaps[v.Mask]; ok {
		return n
	}
	return o.SeriesCap
}

// Validate checks the options.
func (o Options) Validate() error {
	if len(o.Views) == 0 {
		return errors.New("at least one view is needed")
	}
	seen := map[series.Mask]bool{}
	for _, v := range o.Views {
		if seen[v.Mask] {
			return fmt.Errorf("view %s is listed twice", v)
		}
		seen[v.Mask] = true
	}
	if o.Shards < 1 || o.Shards > 256 {
		return fmt.Errorf("shards must be 1..256, got %d", o.Shards)
	}
	if o.QueueSize < 1 {
		return fmt.Errorf("queue size must be positive, got %d", o.QueueSize)
	}
	if o.Grace < 0 || o.Grace > 30*time.Second {
		return fmt.Errorf("grace must be 0..30s, got %s", o.Grace)
	}
	for d, c := range o.Caps {
		if c < 1 {
			return fmt.Errorf("cardinality cap of %s must be positive, got %d", series.Dim(d), c)
		}
	}
	if o.SeriesCap < 1 || o.SeriesCap > maxSeriesCap {
		return fmt.Errorf("series cap must be 1..%d, got %d", maxSeriesCap, o.SeriesCap)
	}
	for m, n := range o.SeriesCaps {
		if !seen[m] {
			return fmt.Errorf("series cap given for view %s, which is not a configured view", series.View{Mask: m, Dims: m.Dims()})
		}
		if n < 1 || n > maxSeriesCap {
			return fmt.Errorf("series cap of view %s must be 1..%d, got %d", series.View{Mask: m, Dims: m.Dims()}, maxSeriesCap, n)
		}
	}
	if o.Tick <= 0 {
		return errors.New("tick must be positive")
	}
	if o.HoldBytes < 0 {
		return fmt.Errorf("hold bytes must not be negative, got %d", o.HoldBytes)
	}
	return o.Totals.Validate(o.Views)
}

// Aggregator holds the windows in memory.
type Aggregator struct {
	opts   Options
	log    *slog.Logger
	store  Store
	m      *metrics
	views  []series.View
	in     chan series.Record
	shards []*shard

	// parent is, by view index, the fed view a derived view is merged from, -1 for a fed
	// view; fedPage and fedProbe list the fed views a record's values are added to.
	parent   []int
	fedPage  []int
	fedProbe []int
	// overflow is, by view index, the series a new combination past the view's series cap
	// is counted in: every dimension series.Other.
	overflow []overflowSeries

	inMu   sync.RWMutex // guards closed against sends on a closed queue
	closed bool
	// closing is set first by Close: Add's direct path reads it without writing a shared
	// cache line, then checks its shard's closed flag under the shard lock.
	closing atomic.Bool
	// refusing is set by the flusher while storage refuses windows and those held reached
	// HoldBytes; Add reads it like closing.
	refusing atomic.Bool
	// failingSince is when the current run of failed writes began (zero: writes succeed);
	// guarded by flushMu. The run is logged once when it begins and once when it ends.
	failingSince time.Time
	// local hands each P the shard it used last (sync.Pool keeps per-P lists), so a core
	// keeps adding to the sketches already in its cache instead of alternating shards.
	local sync.Pool

	// viewMu orders queries against the hand-over of windows from shards to pending and
	// from pending to storage: a query holds it shared for its whole look at memory.
	viewMu  sync.RWMutex
	pending []*window // closed windows, one piece per shard, oldest first, not yet stored

	minOpen atomic.Int64  // records before this window start are re-bucketed into it
	next    atomic.Uint32 // round-robin start for Add's shard choice when local has none free

	cardMu sync.Mutex
	cards  map[int64]*cardinality

	totals *totals // nil when nothing is exposed; guarded by viewMu

	workers sync.WaitGroup
	stop    chan struct{}
	flusher sync.WaitGroup
	flushMu sync.Mutex // one flush at a time
}

type shard struct {
	mu      sync.Mutex
	windows map[int64]*window
	buf     []byte
	closed  bool         // set by Close under mu: direct adds are refused from then on
	applied atomic.Int64 // records this shard added to sketches, written under mu
	_       [64]byte     // keep shards' hot fields on separate cache lines
}

type window struct {
	start int64
	card  *cardinality
	views []map[string]*entry // by view index; derived views stay empty until derived is set
	// derived is set when the piece has left its shard and its derived views are filled.
	derived bool
	records int64 // records added to the piece
	bytes   int64 // estimated memory of the piece, set when it is detached
}

type overflowSeries struct {
	key    string
	labels series.Labels
}

type entry struct {
	labels series.Labels
	sk     []sketch.Counts // by metric offset (page or probe metrics)
}

// Open starts the workers and the flusher.
func Open(logger *slog.Logger, reg prometheus.Registerer, store Store, opts Options) (*Aggregator, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("aggregator options: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &Aggregator{
		opts:  opts,
		log:   logger,
		store: store,
		views: opts.Views,
		in:    make(chan series.Record, opts.QueueSize),
		cards: map[int64]*cardinality{},
		stop:  make(chan struct{}),
	}
	a.parent = plan(opts)
	for vi, v := range opts.Views {
		switch {
		case a.parent[vi] >= 0:
		case v.ForProbes():
			a.fedProbe = append(a.fedProbe, vi)
		default:
			a.fedPage = append(a.fedPage, vi)
		}
	}
	for _, v := range opts.Views {
		var l series.Labels
		for _, d := range v.Dims {
			l[d] = series.Other
		}
		a.overflow = append(a.overflow, overflowSeries{key: string(series.AppendKey(nil, v, &l)), labels: l})
	}
	a.m = newMetrics(reg, a)
	a.totals = newTotals(reg, opts.Views, opts.Totals)
	// A restart in the same minute as the last flush buckets new beacons into the next
	// minute, so a stored window is never written twice.
	a.minOpen.Store(max(floor(opts.Now().Unix(), 60), store.Flushed()))
	for i := 0; i < opts.Shards; i++ {
		sh := &shard{windows: map[int64]*window{}}
		a.shards = append(a.shards, sh)
		a.workers.Add(1)
		go a.work(sh)
	}
	a.flusher.Add(1)
	go a.flushLoop()
	return a, nil
}

// Add takes one record without blocking. When a shard is free it is added right away in
// the caller's goroutine (no hand-off, no wake-up); when every shard is busy it waits in
// the queue for a worker; when the queue is full too it is refused with ErrQueueFull.
// Add keeps nothing of rec once it returns, neither its Probes array nor its strings (which
// may be views of a request body), so the caller may reuse all of them.
func (a *Aggregator) Add(rec *series.Record) error {
	if a.closing.Load() {
		return ErrClosed
	}
	if a.refusing.Load() {
		return ErrStorageFull
	}
	if sh, _ := a.local.Get().(*shard); sh != nil {
		if sh.mu.TryLock() {
			return a.applyLocked(sh, rec)
		}
		// Another P holds it; it goes back to that P's list when that P is done.
	}
	n := uint32(len(a.shards))
	first := a.next.Add(1)
	for i := uint32(0); i < n; i++ {
		if sh := a.shards[(first+i)%n]; sh.mu.TryLock() {
			return a.applyLocked(sh, rec)
		}
	}
	a.inMu.RLock()
	defer a.inMu.RUnlock()
	if a.closed {
		return ErrClosed
	}
	queued := ownRecord(rec)
	select {
	case a.in <- queued:
		return nil
	default:
		a.m.shed.Inc()
		return ErrQueueFull
	}
}

// ownRecord is a copy of rec that shares no memory with it, to wait in the queue.
func ownRecord(rec *series.Record) series.Record {
	own := *rec
	for d := range own.Labels {
		own.Labels[d] = strings.Clone(own.Labels[d])
	}
	own.Probes = slices.Clone(rec.Probes)
	for i := range own.Probes {
		own.Probes[i].Name = strings.Clone(own.Probes[i].Name)
	}
	return own
}

// applyLocked adds rec on sh, whose lock the caller took, unlocks it and makes sh this
// P's shard.
func (a *Aggregator) applyLocked(sh *shard, rec *series.Record) error {
	if sh.closed {
		sh.mu.Unlock()
		return ErrClosed
	}
	a.apply(sh, rec)
	sh.mu.Unlock()
	a.local.Put(sh)
	return nil
}

// Applied is the number of records added to sketches so far.
func (a *Aggregator) Applied() int64 {
	var n int64
	for _, sh := range a.shards {
		n += sh.applied.Load()
	}
	return n
}

// QueueDepth is the number of records waiting.
func (a *Aggregator) QueueDepth() int { return len(a.in) }

// QueueCapacity is the queue's size.
func (a *Aggregator) QueueCapacity() int { return cap(a.in) }

// PendingWindows is the number of closed windows not yet in storage.
func (a *Aggregator) PendingWindows() int {
	n, _, _ := a.Held()
	return n
}

// Held is what the closed windows not yet in storage hold: windows, the records added to
// them, and their estimated memory.
func (a *Aggregator) Held() (windows int, records, bytes int64) {
	a.viewMu.RLock()
	defer a.viewMu.RUnlock()
	last := int64(-1)
	for _, w := range a.pending { // sorted by start: count the distinct starts
		if w.start != last {
			windows, last = windows+1, w.start
		}
		records += w.records
		bytes += w.bytes
	}
	return windows, records, bytes
}

// Refusing reports whether Add refuses records with ErrStorageFull.
func (a *Aggregator) Refusing() bool { return a.refusing.Load() }

// Close stops taking records, drains the queue, and writes every window, the open one
// included, to storage: a clean shutdown loses no accepted beacon. When storage refuses
// them (a full disk) or ctx ends first, the error says how many windows and records were
// not written.
func (a *Aggregator) Close(ctx context.Context) error {
	a.closing.Store(true)
	// Once every shard is marked, no direct add can start, and one under way has finished.
	for _, sh := range a.shards {
		sh.mu.Lock()
		sh.closed = true
		sh.mu.Unlock()
	}
	a.inMu.Lock()
	if a.closed {
		a.inMu.Unlock()
		return nil
	}
	a.closed = true
	close(a.in)
	a.inMu.Unlock()
	done := make(chan struct{})
	go func() { a.workers.Wait(); close(a.stop); a.flusher.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("drain aggregator queue: %w", ctx.Err())
	}
	flushed := make(chan error, 1)
	go func() { flushed <- a.flush(1 << 62) }()
	var err error
	select {
	case err = <-flushed:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		windows, records, _ := a.Held()
		return fmt.Errorf("%d closed windows holding %d beacons could not be written: %w", windows, records, err)
	}
	return nil
}

func (a *Aggregator) work(sh *shard) {
	defer a.workers.Done()
	for rec := range a.in {
		sh.mu.Lock()
		a.apply(sh, &rec)
		// Take what else is waiting under the same lock, a bounded batch.
	batch:
		for i := 0; i < 63; i++ {
			select {
			case r, ok := <-a.in:
				if !ok {
					break batch
				}
				a.apply(sh, &r)
			default:
				break batch
			}
		}
		sh.mu.Unlock()
	}
}

// Apply adds one record synchronously, bypassing the queue: for benchmarks and tests of the
// in-process path.
func (a *Aggregator) Apply(rec *series.Record) {
	sh := a.shards[0]
	sh.mu.Lock()
	a.apply(sh, rec)
	sh.mu.Unlock()
}

func (a *Aggregator) apply(sh *shard, rec *series.Record) {
	defer sh.applied.Add(1)
	if a.opts.SlowDown > 0 {
		time.Sleep(a.opts.SlowDown)
	}
	start := floor(rec.Time, 60)
	if mo := a.minOpen.Load(); start < mo {
		start = mo
		a.m.rebucketed.Inc()
	}
	w := sh.windows[start]
	if w == nil {
		w = &window{start: start, card: a.cardinality(start), views: make([]map[string]*entry, len(a.views))}
		for i := range w.views {
			w.views[i] = map[string]*entry{}
		}
		sh.windows[start] = w
	}
	w.records++
	// Every dimension is capped; Probe takes one value per probe, admitted below.
	labels := rec.Labels
	for d := series.Dim(0); d < series.NumDims; d++ {
		if d != series.Probe {
			labels[d] = w.card.admit(d, labels[d], a.m)
		}
	}
	fresh := 0 // Counts that were empty: live sketches from now on
	for _, vi := range a.fedPage {
		e := a.entry(sh, w, vi, &labels, series.NumPageMetrics)
		fresh += sketch.AddEach(e.sk, rec.Values[:], uint32(rec.Has))
	}
	for pi := range rec.Probes {
		p := &rec.Probes[pi]
		labels[series.Probe] = w.card.admit(series.Probe, p.Name, a.m)
		for _, vi := range a.fedProbe {
			e := a.entry(sh, w, vi, &labels, series.NumProbeMetrics)
			fresh += sketch.AddEach(e.sk, p.Values[:], uint32(p.Has))
		}
	}
	if fresh > 0 {
		a.m.liveSketches.Add(float64(fresh))
	}
}

// entry is the series of labels in fed view vi, made when new; a new combination past the
// view's series cap gets the view's overflow series instead, and is counted.
func (a *Aggregator) entry(sh *shard, w *window, vi int, labels *series.Labels, n int) *entry {
	v := a.views[vi]
	sh.buf = series.AppendKey(sh.buf[:0], v, labels)
	if e := w.views[vi][string(sh.buf)]; e != nil {
		return e
	}
	key, admitted := w.card.admitSeries(vi, sh.buf)
	l := labels.Only(v.Dims)
	if !admitted {
		a.m.capped[vi].Inc()
		key, l = a.overflow[vi].key, a.overflow[vi].labels
		if e := w.views[vi][key]; e != nil {
			return e
		}
	}
	e := &entry{labels: l, sk: make([]sketch.Counts, n)}
	w.views[vi][key] = e
	return e
}

func (a *Aggregator) cardinality(start int64) *cardinality {
	a.cardMu.Lock()
	defer a.cardMu.Unlock()
	c := a.cards[start]
	if c == nil {
		c = newCardinality(a.opts, a.parent)
		a.cards[start] = c
	}
	return c
}

func floor(t, step int64) int64 {
	r := t % step
	if r < 0 {
		r += step
	}
	return t - r
}

// LabelValues lists the values of dimension d held in memory, sorted.
func (a *Aggregator) LabelValues(d series.Dim) []string {
	seen := map[string]struct{}{}
	a.each(func(w *window) {
		for vi, v := range a.views {
			// A derived view's values are those of the fed view it comes from.
			if !v.Mask.Has(d) || a.parent[vi] >= 0 {
				continue
			}
			for _, e := range w.views[vi] {
				seen[e.labels[d]] = struct{}{}
			}
		}
	})
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// each calls fn for every window piece in memory, under the shard locks and viewMu, and
// returns the oldest window start still open, read under the same lock.
func (a *Aggregator) each(fn func(w *window)) (minOpen int64) {
	a.viewMu.RLock()
	defer a.viewMu.RUnlock()
	minOpen = a.minOpen.Load()
	for _, sh := range a.shards {
		sh.mu.Lock()
		for _, w := range sh.windows {
			fn(w)
		}
		sh.mu.Unlock()
	}
	for _, w := range a.pending {
		fn(w)
	}
	return minOpen
}

// Collect calls fn with the counts of every in-memory sketch of (view, metric) whose window starts in
// [from, to). It returns memFrom: every window that starts before memFrom is wholly in
// storage, and none at or after it is, so a query reads storage below memFrom and memory
// from it. fn may be called several times with the same labels (a derived view of an open
// window is read from its parent's series): the caller merges what it is given. fn must not
// keep c.
func (a *Aggregator) Collect(view series.Mask, m series.Metric, from, to int64, fn func(start int64, l *series.Labels, c *sketch.Counts)) (memFrom int64) {
	vi := -1
	for i, v := range a.views {
		if v.Mask == view {
			vi = i
		}
	}
	off := int(m)
	if m.IsProbe() {
		off = int(m - series.ProbeDNS)
	}
	memFrom = 1 << 62
	minOpen := a.each(func(w *window) {
		memFrom = min(memFrom, w.start)
		if vi < 0 || w.start < from || w.start >= to {
			return
		}
		a.eachEntry(w, vi, func(l *series.Labels, e *entry) {
			if off < len(e.sk) && !e.sk[off].Empty() {
				fn(w.start, l, &e.sk[off])
			}
		})
	})
	return min(memFrom, minOpen)
}
