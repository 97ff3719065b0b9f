package storage

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// FormatVersion is the on-disk format this build writes (docs/on-disk-format.md). It
// changes when the key layout or the value encoding changes in a way an older build could
// not read; adding a code to internal/series/codes.go does not change it.
const FormatVersion = 1

// formatBeforeVersioning is the format of a store that has data but no format key: one
// written by the releases before the format was recorded.
const formatBeforeVersioning = 1

// ErrNewerFormat is wrapped by Open's error when the directory was written in a newer
// on-disk format than this build reads.
var ErrNewerFormat = errors.New("on-disk format is newer than this rumd reads")

// checkFormat reads the store's format version, refuses a newer one, and records the
// version in a store that lacks it: a new one, or one written before versioning.
func (db *DB) checkFormat() error {
	v, found, err := db.getMeta(metaFormat)
	if err != nil {
		return err
	}
	empty := false
	if !found {
		if empty, err = db.isEmpty(); err != nil {
			return err
		}
		v = formatBeforeVersioning
		if empty {
			v = FormatVersion
		}
	}
	switch {
	case v > FormatVersion:
		return fmt.Errorf("data directory %s was written in on-disk format %d, but this rumd reads formats up to %d (%w); run a rumd release that reads format %d, or point rumd at another data directory",
			db.dir, v, FormatVersion, ErrNewerFormat, v)
	case v < 1:
		return fmt.Errorf("data directory %s records on-disk format %d, which no release wrote", db.dir, v)
	case found && v == FormatVersion:
		return nil
	}
	// Every older format so far reads as it is. One that does not is migrated here, before
	// the new version is recorded.
	if !empty {
		db.log.Info("data directory predates this on-disk format; recording it", "was", v, "now", FormatVersion)
	}
	return db.storeMeta(metaFormat, FormatVersion)
}

// isEmpty reports whether the store holds no key at all.
func (db *DB) isEmpty() (bool, error) {
	empty := true
	err := db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false})
		defer it.Close()
		it.Rewind()
		empty = !it.Valid()
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("read sketch store: %w", err)
	}
	return empty, nil
}
