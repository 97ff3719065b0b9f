package storage

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"rumd/internal/series"
)

// Key layout (docs/on-disk-format.md). Sketches sort by resolution, time partition, view,
// metric, window start and series, so a range query is one seek per partition and retention
// drops a partition by its prefix:
//
//	sketch: 0x01 | res | partition u32 | view | metric | start u32 | series key
//	index:  0x02 | day u32 | dim | value            (a label value seen that day)
//	meta:   0x00 | name
//
// res, view, metric and dim are codes from internal/series/codes.go, never enum positions;
// a view is the bit set of its dimensions' codes. Integers are big-endian so that byte order
// is numeric order.
const (
	kindMeta   byte = 0x00
	kindSketch byte = 0x01
	kindIndex  byte = 0x02
)

const (
	metaFlushed  = "flushed"
	metaHourDone = "hour_done"
	metaDayDone  = "day_done"
	metaFormat   = "format"
)

const sketchHeader = 1 + 1 + 4 + 1 + 1 + 4

const indexHeader = 1 + 4 + 1

// resCodes are the resolutions' codes, from the one code table.
var resCodes = func() [NumRes]byte {
	var out [NumRes]byte
	for r := Res(0); r < NumRes; r++ {
		c, ok := series.ResolutionCode(r.String())
		if !ok {
			panic(fmt.Sprintf("storage: resolution %s has no code in internal/series/codes.go", r))
		}
		out[r] = c
	}
	return out
}()

func (r Res) code() byte { return resCodes[r] }

func partitionOf(r Res, t int64) uint32 { return uint32(t / partSeconds[r]) }

// sketchKey is a sketch key with its identifiers as stored: codes, not enums, so that
// rollups and retention carry along sketches of metrics or views this build does not know
// (written by a newer build of the same format).
type sketchKey struct {
	res, view, metric byte
	part              uint32
	start             int64
	series            []byte
}

// keyOf is the key of a sketch of (r, view, m) whose bucket starts at start.
func keyOf(r Res, view series.Mask, m series.Metric, start int64, seriesKey []byte) sketchKey {
	return sketchKey{res: r.code(), view: view.Code(), metric: m.Code(), part: partitionOf(r, start), start: start, series: seriesKey}
}

func appendPartPrefix(dst []byte, res byte, part uint32) []byte {
	dst = append(dst, kindSketch, res)
	return binary.BigEndian.AppendUint32(dst, part)
}

// appendComboPrefix appends the prefix shared by every key of k's (resolution, partition,
// view, metric).
func (k *sketchKey) appendComboPrefix(dst []byte) []byte {
	dst = appendPartPrefix(dst, k.res, k.part)
	return append(dst, k.view, k.metric)
}

// appendStartPrefix appends the prefix of k's combination and start: the seek position of a
// scan from k.start.
func (k *sketchKey) appendStartPrefix(dst []byte) []byte {
	return binary.BigEndian.AppendUint32(k.appendComboPrefix(dst), uint32(k.start))
}

func (k *sketchKey) append(dst []byte) []byte {
	return append(k.appendStartPrefix(dst), k.series...)
}

// parseSketchKey reads a sketch key; series aliases k.
func parseSketchKey(k []byte) (sketchKey, error) {
	if len(k) < sketchHeader || k[0] != kindSketch {
		return sketchKey{}, fmt.Errorf("not a sketch key: %x", k)
	}
	return sketchKey{
		res:    k[1],
		part:   binary.BigEndian.Uint32(k[2:6]),
		view:   k[6],
		metric: k[7],
		start:  int64(binary.BigEndian.Uint32(k[8:12])),
		series: k[12:],
	}, nil
}

func appendIndexDayPrefix(dst []byte, day int64) []byte {
	dst = append(dst, kindIndex)
	return binary.BigEndian.AppendUint32(dst, uint32(day))
}

func appendIndexKey(dst []byte, day int64, d series.Dim, value string) []byte {
	dst = append(appendIndexDayPrefix(dst, day), d.Code())
	return append(dst, value...)
}

// parseIndexKey reads a label index key; value aliases k.
func parseIndexKey(k []byte) (day int64, dim byte, value []byte, err error) {
	if len(k) < indexHeader || k[0] != kindIndex {
		return 0, 0, nil, fmt.Errorf("not a label index key: %x", k)
	}
	return int64(binary.BigEndian.Uint32(k[1:5])), k[5], k[6:], nil
}

func metaKey(name string) []byte { return append([]byte{kindMeta}, name...) }

// getMeta reads an integer meta value; found is false when it was never written.
func (db *DB) getMeta(name string) (v int64, found bool, err error) {
	err = db.bdb.View(func(txn *badger.Txn) error {
		it, err := txn.Get(metaKey(name))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return it.Value(func(b []byte) error {
			v, err = decodeMeta(b)
			return err
		})
	})
	if err != nil {
		return 0, false, fmt.Errorf("read meta %s: %w", name, err)
	}
	return v, found, nil
}

func decodeMeta(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("meta value has %d bytes, want 8", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

func setMeta(wb *badger.WriteBatch, name string, v int64) error {
	return wb.Set(metaKey(name), binary.BigEndian.AppendUint64(nil, uint64(v)))
}
