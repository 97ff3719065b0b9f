package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/fb"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/badger/v4/y"
	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/proto"
)

// Badger opens tables in its own goroutines and trusts their footers: a truncated table
// panics the process (a recover in rumd cannot catch it), and a missing or cut MANIFEST
// makes it delete every table it no longer lists and start empty. So Open checks the
// directory first, reading the same structures Badger will read, and refuses to start
// with an error that names the file and what to do.

// Damage is the kind of damage checkDir found; each kind has one piece of advice.
type Damage uint8

// The kinds of damage.
const (
	// DamageTable: a table (*.sst) is truncated or its index or a block fails its checksum.
	DamageTable Damage = iota
	// DamageNoManifest: tables, value logs or write-ahead logs but no MANIFEST.
	DamageNoManifest
	// DamageManifest: the MANIFEST is cut, fails a checksum, or disagrees with the tables.
	DamageManifest
	// DamageKeyRegistry: KEYREGISTRY is shorter than its header.
	DamageKeyRegistry
	// DamageLog: a write-ahead log (*.mem) is cut inside its header.
	DamageLog
	// DamageEmptied: Badger opened the directory empty although it held tables.
	DamageEmptied
)

// advice says what an operator can do about each kind of damage.
func (d Damage) advice() string {
	const aside = "or move the data directory aside and start rumd on an empty one (its data is then lost)"
	switch d {
	case DamageTable:
		return "restore the directory from a backup, " + aside
	case DamageNoManifest:
		return "restore MANIFEST from a backup of the same directory (rumd does not start over existing tables, which Badger would delete), " + aside
	case DamageManifest:
		return "restore the directory from a backup, " + aside
	case DamageKeyRegistry:
		return "rumd does not encrypt its store, so KEYREGISTRY holds no key: delete it and start rumd again, Badger writes a new one"
	case DamageLog:
		return "restore the directory from a backup, or move this file aside to start from the tables alone (the writes it held are lost)"
	}
	return "restore the directory from a backup, " + aside
}

// DamageError is Open's error when a file of the data directory is damaged.
type DamageError struct {
	Kind    Damage
	File    string // path of the damaged file
	Problem string
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("data directory is damaged: %s: %s; %s", e.File, e.Problem, e.Kind.advice())
}

func damaged(kind Damage, file, format string, args ...any) error {
	return &DamageError{Kind: kind, File: file, Problem: fmt.Sprintf(format, args...)}
}

// dirState is what checkDir saw, for the check after Badger opened the directory.
type dirState struct {
	tableBytes int64
}

// Sizes of Badger's on-disk headers (badger/v4 key_registry.go, value.go, manifest.go).
const (
	keyRegistryHeader = 16 + 12 // IV, then the sanity text "Hello Badger"
	logHeader         = 20      // key ID and base IV of a .vlog or .mem file
	manifestHeader    = 8       // "Bdgr", external and Badger version
)

// checkDir checks the files of dir that Badger reads at open. It reads each table's footer,
// index and blocks once (Badger reads them again at open to verify their checksums; the
// page cache makes the second read cheap).
func checkDir(dir string, comp options.CompressionType, log *slog.Logger) (dirState, error) {
	var st dirState
	ents, err := os.ReadDir(dir)
	if err != nil {
		return st, fmt.Errorf("read data directory %s: %w", dir, err)
	}
	tables := map[uint64]string{}
	var logs []string
	wal, manifest := false, false
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".sst"):
			id, err := strconv.ParseUint(strings.TrimSuffix(name, ".sst"), 10, 64)
			if err != nil {
				continue // Badger ignores it too
			}
			tables[id] = name
		case strings.HasSuffix(name, ".vlog"), strings.HasSuffix(name, ".mem"):
			logs = append(logs, name)
			wal = wal || strings.HasSuffix(name, ".mem")
		case name == badger.ManifestFilename:
			manifest = true
		}
	}
	if !manifest {
		if len(tables) > 0 || len(logs) > 0 {
			return st, damaged(DamageNoManifest, filepath.Join(dir, badger.ManifestFilename),
				"missing, but the directory has %d tables and %d logs", len(tables), len(logs))
		}
		return st, nil // a new store
	}
	if err := checkKeyRegistry(dir); err != nil {
		return st, err
	}
	for _, name := range logs {
		if err := checkLog(filepath.Join(dir, name), log); err != nil {
			return st, err
		}
	}
	if err := checkManifest(dir, tables, wal, log); err != nil {
		return st, err
	}
	ids := make([]uint64, 0, len(tables))
	for id := range tables {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		n, err := checkTable(filepath.Join(dir, tables[id]), comp)
		if err != nil {
			return st, err
		}
		st.tableBytes += n
	}
	return st, nil
}

// checkOpened refuses a store Badger opened empty although the directory held tables: the
// last guard against starting empty over existing data.
func (st dirState) checkOpened(db *DB) error {
	if st.tableBytes == 0 {
		return nil
	}
	empty, err := db.isEmpty()
	if err != nil {
		return err
	}
	if empty {
		return damaged(DamageEmptied, db.dir, "Badger opened it empty although it held %d bytes of tables", st.tableBytes)
	}
	return nil
}

func checkKeyRegistry(dir string) error {
	path := filepath.Join(dir, badger.KeyRegistryFileName)
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // Badger writes a new one; rumd does not encrypt
	}
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	if fi.Size() < keyRegistryHeader {
		return damaged(DamageKeyRegistry, path, "%d bytes long, shorter than its %d-byte header", fi.Size(), keyRegistryHeader)
	}
	return nil
}

// checkLog refuses a write-ahead log (*.mem) cut inside its header: Badger then drops every
// write it held, or fails with an error that names no file. A tail cut inside an entry
// Badger truncates itself, and that is logged here. A value log cut inside its header
// Badger replaces (rumd's values are small enough to live in the tables).
func checkLog(path string, log *slog.Logger) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	switch {
	case strings.HasSuffix(path, ".vlog"):
		if fi.Size() < logHeader {
			log.Warn("value log shorter than its header; Badger replaces it", "file", path, "bytes", fi.Size())
		}
	case fi.Size() < logHeader:
		return damaged(DamageLog, path, "%d bytes long, shorter than its %d-byte header", fi.Size(), logHeader)
	default:
		log.Info("replaying a write-ahead log left by a run that did not close; Badger keeps its entries up to the first incomplete one",
			"file", path, "bytes", fi.Size())
	}
	return nil
}

// checkManifest replays the MANIFEST as Badger will and compares it with the tables on disk.
// Badger deletes a table the MANIFEST does not list: right for the output of a flush or
// compaction that was interrupted before it was recorded (newer than every table the
// MANIFEST names, with the MANIFEST ending on a whole record), wrong for anything else.
func checkManifest(dir string, tables map[uint64]string, wal bool, log *slog.Logger) error {
	path := filepath.Join(dir, badger.ManifestFilename)
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	if len(raw) < manifestHeader || !bytes.Equal(raw[:4], []byte("Bdgr")) {
		return damaged(DamageManifest, path, "%d bytes long and without Badger's header", len(raw))
	}
	listed := map[uint64]bool{}
	var newest uint64 // the highest table ID the MANIFEST ever names
	torn := false
	for off := manifestHeader; off < len(raw); {
		if len(raw)-off < 8 {
			torn = true
			break
		}
		n := int(binary.BigEndian.Uint32(raw[off:]))
		sum := binary.BigEndian.Uint32(raw[off+4:])
		if n > len(raw)-off-8 {
			torn = true
			break
		}
		rec := raw[off+8 : off+8+n]
		if crc32.Checksum(rec, y.CastagnoliCrcTable) != sum {
			return damaged(DamageManifest, path, "the record at byte %d fails its checksum", off)
		}
		var set pb.ManifestChangeSet
		if err := proto.Unmarshal(rec, &set); err != nil {
			return damaged(DamageManifest, path, "the record at byte %d cannot be read: %v", off, err)
		}
		for _, c := range set.Changes {
			newest = max(newest, c.Id)
			switch c.Op {
			case pb.ManifestChange_CREATE:
				listed[c.Id] = true
			case pb.ManifestChange_DELETE:
				delete(listed, c.Id)
			}
		}
		off += 8 + n
	}
	for id := range listed {
		if _, ok := tables[id]; !ok {
			return damaged(DamageManifest, path, "it lists table %s, which is missing", tableName(id))
		}
	}
	var unlisted []uint64
	for id := range tables {
		if !listed[id] {
			unlisted = append(unlisted, id)
		}
	}
	if len(unlisted) == 0 {
		return nil
	}
	sort.Slice(unlisted, func(i, j int) bool { return unlisted[i] < unlisted[j] })
	// An interrupted flush leaves its write-ahead log, an interrupted compaction its inputs
	// listed: either way the unlisted tables' data is still elsewhere.
	interrupted := !torn && unlisted[0] > newest && (len(listed) > 0 || wal)
	if !interrupted {
		why := "which ends in a cut record"
		switch {
		case torn:
		case unlisted[0] <= newest:
			why = "although it names newer ones (it was cut or overwritten)"
		default:
			why = "and no listed table or write-ahead log holds their data"
		}
		return damaged(DamageManifest, path, "%d tables (%s…) are not listed in it, %s; Badger would delete them",
			len(unlisted), tableName(unlisted[0]), why)
	}
	for _, id := range unlisted {
		log.Warn("table not yet listed in MANIFEST, left by a flush or compaction the last run did not finish; Badger removes it (its data is still in the logs or the tables it merged)",
			"file", filepath.Join(dir, tableName(id)))
	}
	return nil
}

func tableName(id uint64) string { return fmt.Sprintf("%06d.sst", id) }

// checkTable reads a table's footer, index and blocks with every bound checked, as Badger
// lays them out (badger/v4 table/builder.go): blocks, the index (a flatbuffer), the index
// length (4 bytes), the index checksum (a pb.Checksum) and its length (4 bytes). Each
// block, once uncompressed, ends in the same way: entries, their offsets, their count, a
// checksum and its length. It returns the table's size.
func checkTable(path string, comp options.CompressionType) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("check %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("check %s: %w", path, err)
	}
	size := fi.Size()
	bad := func(format string, args ...any) (int64, error) {
		return 0, damaged(DamageTable, path, format, args...)
	}
	read := func(off, n int64, buf []byte) ([]byte, error) {
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := f.ReadAt(buf, off); err != nil && !(errors.Is(err, io.EOF) && off+n == size) {
			return nil, fmt.Errorf("check %s: %w", path, err)
		}
		return buf, nil
	}
	if size < 8 {
		return bad("%d bytes long, too short for a table's footer (truncated)", size)
	}
	var buf []byte
	if buf, err = read(size-4, 4, buf); err != nil {
		return 0, err
	}
	chkLen := int64(binary.BigEndian.Uint32(buf))
	if chkLen == 0 || chkLen > size-8 {
		return bad("its footer's checksum length %d does not fit its %d bytes (truncated or overwritten)", chkLen, size)
	}
	if buf, err = read(size-4-chkLen, chkLen, buf); err != nil {
		return 0, err
	}
	var chk pb.Checksum
	if err := proto.Unmarshal(buf, &chk); err != nil {
		return bad("its index checksum cannot be read (truncated or overwritten): %v", err)
	}
	if buf, err = read(size-8-chkLen, 4, buf); err != nil {
		return 0, err
	}
	indexLen := int64(binary.BigEndian.Uint32(buf))
	indexStart := size - 8 - chkLen - indexLen
	if indexLen == 0 || indexStart < 0 {
		return bad("its index length %d does not fit its %d bytes (truncated or overwritten)", indexLen, size)
	}
	index, err := read(indexStart, indexLen, nil)
	if err != nil {
		return 0, err
	}
	if err := y.VerifyChecksum(index, &chk); err != nil {
		return bad("its index fails its checksum (truncated or overwritten)")
	}
	ti := fb.GetRootAsTableIndex(index, 0)
	var bo fb.BlockOffset
	if ti.OffsetsLength() == 0 {
		return bad("its index lists no block")
	}
	var raw, plain []byte
	for i := 0; i < ti.OffsetsLength(); i++ {
		if !ti.Offsets(&bo, i) {
			return bad("its index cannot be read at block %d", i)
		}
		off, n := int64(bo.Offset()), int64(bo.Len())
		if n == 0 || off+n > indexStart {
			return bad("block %d (%d bytes at %d) lies outside the table's %d bytes of blocks", i, n, off, indexStart)
		}
		if raw, err = read(off, n, raw); err != nil {
			return 0, err
		}
		data := raw
		if comp == options.Snappy {
			if plain, err = snappy.Decode(plain[:cap(plain)], raw); err != nil {
				return bad("block %d at %d cannot be uncompressed: %v", i, off, err)
			}
			data = plain
		}
		if err := checkBlock(data); err != nil {
			return bad("block %d at %d: %v", i, off, err)
		}
	}
	return size, nil
}

// checkBlock verifies one uncompressed block's layout and checksum.
func checkBlock(b []byte) error {
	if len(b) < 8 {
		return fmt.Errorf("%d bytes, too short", len(b))
	}
	n := int(binary.BigEndian.Uint32(b[len(b)-4:]))
	if n > len(b)-8 {
		return errors.New("its checksum length does not fit")
	}
	body := b[:len(b)-4-n]
	var chk pb.Checksum
	if err := proto.Unmarshal(b[len(body):len(b)-4], &chk); err != nil {
		return fmt.Errorf("its checksum cannot be read: %v", err)
	}
	if err := y.VerifyChecksum(body, &chk); err != nil {
		return errors.New("it fails its checksum")
	}
	if entries := int(binary.BigEndian.Uint32(body[len(body)-4:])); entries*4 > len(body)-4 {
		return fmt.Errorf("its %d entries do not fit", entries)
	}
	return nil
}
