package storage

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// ErrFull is wrapped by every error that means the data directory has no room: a write
// refused before it reached Badger because free space was below the reserve, or a write
// Badger failed with ENOSPC, EDQUOT or EROFS. The aggregator holds its closed windows while
// writes fail this way, and writes them once there is room again.
var ErrFull = errors.New("storage is full")

// DefaultReserve is the free space kept for Badger's own writes when Options.ReserveBytes is
// 0: six memtables. Badger writes its memtable WAL (a file it sizes at twice the memtable
// and fills by a memory map), the level-0 table a full memtable becomes, and the tables of
// a compaction through memory maps of sparse files, and a write into a map on a full
// filesystem kills the process with SIGBUS instead of returning an error. So rumd stops
// writing while less than this is free: 2 memtables for the active WAL file, 1 for the
// level-0 table written before that WAL is deleted, and 3 for the first compaction, which
// rewrites the 3 level-0 tables (WithNumLevelZeroTables) before deleting them.
func DefaultReserve(memTableBytes int64) int64 { return 6 * memTableBytes }

// fullErrnos are the write errors that mean "no room", whatever the cause: no space, no
// quota left, or a filesystem remounted read-only (as ext4 does on some I/O errors).
var fullErrnos = []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS}

// isFullErr reports whether err means the filesystem refused to take more. Badger wraps
// its errors as text (y.Wrap formats with %+v), so the errno is also looked for by message.
func isFullErr(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	for _, e := range fullErrnos {
		if errors.Is(err, e) || strings.Contains(msg, e.Error()) {
			return true
		}
	}
	return false
}

// FreeBytes is the space left to rumd on the data directory's filesystem (what an
// unprivileged user may still write), or -1 when it cannot be read.
func (db *DB) FreeBytes() int64 { return freeBytes(db.dir) }

// ReserveBytes is the free space below which windows are not written.
func (db *DB) ReserveBytes() int64 { return db.opts.ReserveBytes }

// Full reports whether the store takes no more windows: less than the reserve is free, or
// the last write failed for want of room and none has succeeded since.
func (db *DB) Full() bool {
	if db.full.Load() {
		return true
	}
	free := db.FreeBytes()
	return free >= 0 && free < db.opts.ReserveBytes
}

// room returns an error wrapping ErrFull when writing need more bytes would leave less than
// the reserve free.
func (db *DB) room(need int64) error {
	free := db.FreeBytes()
	if free < 0 || free-need >= db.opts.ReserveBytes {
		return nil
	}
	db.full.Store(true)
	return fmt.Errorf("%w: %s free in %s, %s needed plus %s reserved for the database's own writes (disk.reserve_bytes)",
		ErrFull, mib(free), db.dir, mib(need), mib(db.opts.ReserveBytes))
}

// failed marks the store full when err means no room, and wraps err with ErrFull then.
func (db *DB) failed(err error) error {
	if !isFullErr(err) {
		return err
	}
	db.full.Store(true)
	return fmt.Errorf("%w: %w", ErrFull, err)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
