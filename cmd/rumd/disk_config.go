package main

import (
	"flag"

	"rumd/aggregator"
	"rumd/storage"
)

// diskConfig is how rumd uses its disk and what it does when the disk is full
// (docs/operating.md, "A full disk").
type diskConfig struct {
	MemTableBytes int64 `yaml:"memtable_bytes"`
	// ReserveBytes 0 means storage.DefaultReserve(MemTableBytes).
	ReserveBytes int64 `yaml:"reserve_bytes"`
	HoldBytes    int64 `yaml:"hold_bytes"`
}

func defaultDiskConfig() diskConfig {
	so := storage.DefaultOptions()
	return diskConfig{MemTableBytes: so.MemTableBytes, ReserveBytes: so.ReserveBytes, HoldBytes: aggregator.DefaultOptions().HoldBytes}
}

func diskFlags(fs *flag.FlagSet, cfg *Config) {
	d := &cfg.Disk
	fs.Int64Var(&d.MemTableBytes, "disk-memtable-bytes", d.MemTableBytes, "size of one database memtable in bytes (the reserve is derived from it)")
	fs.Int64Var(&d.ReserveBytes, "disk-reserve-bytes", d.ReserveBytes, "free bytes kept for the database's own writes; below it windows are held in memory, not written (0: six memtables)")
	fs.Int64Var(&d.HoldBytes, "disk-hold-bytes", d.HoldBytes, "estimated memory of closed windows held while the disk is full; at it, beacons are answered 503 storage_full")
}

// diskBindings hand the disk: options to storage and the aggregator, whose Validate hold
// the bounds.
var diskBindings = []binding{
	{"disk.memtable_bytes", func(c *Config, o *options) error { o.storage.MemTableBytes = c.Disk.MemTableBytes; return nil }},
	{"disk.reserve_bytes", func(c *Config, o *options) error { o.storage.ReserveBytes = c.Disk.ReserveBytes; return nil }},
	{"disk.hold_bytes", func(c *Config, o *options) error { o.agg.HoldBytes = c.Disk.HoldBytes; return nil }},
}
