// Package storage keeps rumd's sketches on disk in an embedded Badger database: closed
// 1-minute windows written by the aggregator, 1-hour and 1-day rollups made by merging them,
// an index of the label values seen per day, and retention per resolution that drops whole
// time partitions so that disk use really shrinks.
package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/prometheus/client_golang/prometheus"
)

// Res is a storage resolution.
type Res uint8

// The three resolutions: closed windows, and their hourly and daily merges.
const (
	Minute Res = iota
	Hour
	Day
	NumRes
)

var resSeconds = [NumRes]int64{60, 3600, 86400}

// partition lengths: one Badger key prefix per partition, dropped whole by retention.
var partSeconds = [NumRes]int64{86400, 7 * 86400, 64 * 86400}

var resNames = [NumRes]string{"1m", "1h", "1d"}

// Seconds is the length of one bucket of the resolution.
func (r Res) Seconds() int64 { return resSeconds[r] }

// String names the resolution: "1m", "1h" or "1d".
func (r Res) String() string { return resNames[r] }

// Options configures the store.
type Options struct {
	// Retention per resolution; data older than this (by window time) is dropped.
	Retention [NumRes]time.Duration
	// CacheBytes bounds Badger's block cache; the index cache gets half of it.
	CacheBytes int64
	// MemTableBytes is the size of one Badger memtable (two are kept).
	MemTableBytes int64
	// ReserveBytes is the free space on the data directory's filesystem below which no
	// window is written (ErrFull); 0 means DefaultReserve(MemTableBytes).
	ReserveBytes int64
}

// DefaultOptions keeps 1m data 8 days, 1h data 90 days and 1d data 2 years, in a footprint
// fit for a small box.
func DefaultOptions() Options {
	return Options{
		Retention:     [NumRes]time.Duration{8 * 24 * time.Hour, 90 * 24 * time.Hour, 2 * 365 * 24 * time.Hour},
		CacheBytes:    32 << 20,
		MemTableBytes: 16 << 20,
	}
}

// Validate checks the options.
func (o Options) Validate() error {
	for r := Res(0); r < NumRes; r++ {
		if o.Retention[r] < time.Duration(partSeconds[r])*time.Second {
			return fmt.Errorf("retention of %s data must be at least %s, got %s", r, time.Duration(partSeconds[r])*time.Second, o.Retention[r])
		}
	}
	if o.Retention[Hour] < o.Retention[Minute] || o.Retention[Day] < o.Retention[Hour] {
		return errors.New("retention must not shrink from finer to coarser resolutions (1m ≤ 1h ≤ 1d)")
	}
	if o.CacheBytes < 1<<20 {
		return fmt.Errorf("cache must be at least 1 MiB, got %d bytes", o.CacheBytes)
	}
	if o.MemTableBytes < 1<<20 {
		return fmt.Errorf("memtable must be at least 1 MiB, got %d bytes", o.MemTableBytes)
	}
	// Less than the active memtable's WAL file would let Badger fault on its own writes.
	if o.ReserveBytes != 0 && o.ReserveBytes < 2*o.MemTableBytes {
		return fmt.Errorf("reserve must be 0 (six memtables) or at least two memtables (%d bytes), got %d bytes", 2*o.MemTableBytes, o.ReserveBytes)
	}
	return nil
}

// DB is the sketch store.
type DB struct {
	dir  string
	opts Options
	log  *slog.Logger
	bdb  *badger.DB
	m    *metrics

	mu        sync.Mutex // serialises writers: flushes, rollups, retention
	flushed   atomic.Int64
	hourDone  atomic.Int64
	dayDone   atomic.Int64
	indexDay  int64
	indexSeen map[string]struct{}
	// full is set when a write was refused for want of room, cleared by the next that
	// succeeds.
	full atomic.Bool

	// Recovered is true when this open followed an unclean shutdown and the checksums of
	// every table were verified.
	Recovered bool
}

type metrics struct {
	flushDuration  prometheus.Histogram
	rollupDuration *prometheus.HistogramVec
	written        prometheus.Counter
	dropped        *prometheus.CounterVec
	maintErrors    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, db *DB) *metrics {
	m := &metrics{
		flushDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rumd_storage_flush_duration_seconds", Help: "Time to write one closed window to disk.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		rollupDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rumd_storage_rollup_duration_seconds", Help: "Time to merge one hour or day of sketches.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"resolution"}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rumd_storage_sketches_written_total", Help: "Sketches written, all resolutions.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rumd_storage_partitions_dropped_total", Help: "Time partitions dropped by retention.",
		}, []string{"resolution"}),
		maintErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rumd_storage_maintenance_errors_total", Help: "Rollup or retention passes that failed (retried after the next window).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.flushDuration, m.rollupDuration, m.written, m.dropped, m.maintErrors,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "rumd_storage_disk_bytes", Help: "Bytes on disk of the sketch database, all its files as allocated (-1: unreadable).",
			}, func() float64 { return float64(db.DiskBytes()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "rumd_storage_flushed_until_seconds", Help: "End of the last window written to disk, unix seconds.",
			}, func() float64 { return float64(db.flushed.Load()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "rumd_storage_free_bytes", Help: "Free bytes on the data directory's filesystem (-1: unknown).",
			}, func() float64 { return float64(db.FreeBytes()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "rumd_storage_reserve_bytes", Help: "Free bytes kept for the database's own writes; below it no window is written.",
			}, func() float64 { return float64(db.opts.ReserveBytes) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "rumd_storage_full", Help: "1 while the store takes no windows for want of disk space (closed windows are held in memory).",
			}, func() float64 {
				if db.Full() {
					return 1
				}
				return 0
			}),
		)
	}
	return m
}

// Open opens (or creates) the store in dir. Badger verifies its manifest and table
// checksums on open, so a store damaged by a crash is reported here rather than served.
func Open(dir string, logger *slog.Logger, reg prometheus.Registerer, opts Options) (*DB, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("storage options: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", dir, err)
	}
	if opts.ReserveBytes == 0 {
		opts.ReserveBytes = DefaultReserve(opts.MemTableBytes)
	}
	// Opening replays the memtable WALs and flushes them into tables through memory maps:
	// on a full disk that faults, so refuse to start with a message instead.
	if free := freeBytes(dir); free >= 0 && free < opts.ReserveBytes {
		return nil, fmt.Errorf("open sketch store %s: %w: %s free, less than the %s reserved for the database's own writes (disk.reserve_bytes); free some space",
			dir, ErrFull, mib(free), mib(opts.ReserveBytes))
	}
	bo := badger.DefaultOptions(filepath.Clean(dir)).
		WithLogger(badgerLogger{logger.With("lib", "badger")}).
		WithMemTableSize(opts.MemTableBytes).
		WithNumMemtables(2).
		WithValueThreshold(64 << 10).
		WithNumLevelZeroTables(3).
		WithNumLevelZeroTablesStall(8).
		WithBaseTableSize(2 << 20).
		WithBlockCacheSize(opts.CacheBytes).
		WithIndexCacheSize(opts.CacheBytes / 2).
		WithNumCompactors(2).
		WithValueLogFileSize(64 << 20).
		WithCompression(options.Snappy).
		WithDetectConflicts(false).
		WithChecksumVerificationMode(options.OnTableRead).
		WithMetricsEnabled(false)
	found, err := checkDir(bo.Dir, bo.Compression, logger)
	if err != nil {
		return nil, err
	}
	bdb, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("open sketch store %s: %w", dir, err)
	}
	db := &DB{dir: dir, opts: opts, log: logger, bdb: bdb, indexSeen: map[string]struct{}{}}
	if err := found.checkOpened(db); err != nil {
		bdb.Close()
		return nil, err
	}
	if err := db.checkFormat(); err != nil {
		bdb.Close()
		return nil, err
	}
	// A marker left by a run that did not close cleanly (kill -9, power loss) makes this
	// open verify every table's checksums before serving.
	marker := filepath.Join(dir, dirtyMarker)
	if _, err := os.Stat(marker); err == nil {
		t0 := time.Now()
		logger.Warn("previous run did not shut down cleanly; verifying table checksums")
		if err := bdb.VerifyChecksum(); err != nil {
			bdb.Close()
			return nil, fmt.Errorf("sketch store %s failed its checksum verification: %w", dir, err)
		}
		logger.Info("checksums verified", "took", time.Since(t0).String())
		db.Recovered = true
	}
	if err := os.WriteFile(marker, []byte("rumd is running or did not close cleanly\n"), 0o644); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("write %s: %w", marker, err)
	}
	for _, w := range []struct {
		key string
		dst *atomic.Int64
	}{{metaFlushed, &db.flushed}, {metaHourDone, &db.hourDone}, {metaDayDone, &db.dayDone}} {
		v, _, err := db.getMeta(w.key)
		if err != nil {
			bdb.Close()
			return nil, err
		}
		w.dst.Store(v)
	}
	db.m = newMetrics(reg, db)
	return db, nil
}

// Close flushes Badger's memtables and closes the database, or gives up when ctx ends
// first. On a disk too full for Badger to write its memtable into a table, it leaves the
// database as a crash would: what was written is in the memtable WAL, replayed (after a
// checksum verification) at the next start.
func (db *DB) Close(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- db.close() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("close sketch store: %w; what was written is in its WAL, replayed at the next start", ctx.Err())
	}
}

func (db *DB) close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if free := db.FreeBytes(); free >= 0 && free < 2*db.opts.MemTableBytes {
		return fmt.Errorf("close sketch store: %w: %s free, too little for the database to write its memtable; "+
			"left as after a crash: what was written is in its WAL, replayed at the next start", ErrFull, mib(free))
	}
	if err := db.bdb.Close(); err != nil {
		return fmt.Errorf("close sketch store: %w", err)
	}
	if err := os.Remove(filepath.Join(db.dir, dirtyMarker)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove %s: %w", dirtyMarker, err)
	}
	return nil
}

const dirtyMarker = "rumd.dirty"

// Flushed is the end (unix seconds) of the last 1-minute window written; 0 for a new store.
func (db *DB) Flushed() int64 { return db.flushed.Load() }

// Rolled returns the ends of the complete rollups: every hour before hourDone and every day
// before dayDone has been merged.
func (db *DB) Rolled() (hourDone, dayDone int64) { return db.hourDone.Load(), db.dayDone.Load() }

// Check reports whether the store can serve: used by /readyz.
func (db *DB) Check() error {
	if db.bdb.IsClosed() {
		return errors.New("sketch store is closed")
	}
	return nil
}

// DiskBytes is the space the store's files take on disk: every file of its directory (LSM
// tables, value and write-ahead logs, manifest), as allocated. Badger's own Size counts
// only tables and value logs and is refreshed once a minute, so a store that had just
// taken its first windows (still in the write-ahead log) read 0 B. A directory read and a
// stat per file: a few dozen files, read when scraped or asked for the status.
func (db *DB) DiskBytes() int64 {
	entries, err := os.ReadDir(db.dir)
	if err != nil {
		return -1
	}
	var n int64
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			n += allocatedBytes(fi)
		}
	}
	return n
}

type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error(fmt.Sprintf(f, a...)) }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn(fmt.Sprintf(f, a...)) }
func (b badgerLogger) Infof(f string, a ...any)    { b.l.Debug(fmt.Sprintf(f, a...)) }
func (b badgerLogger) Debugf(f string, a ...any)   {}
