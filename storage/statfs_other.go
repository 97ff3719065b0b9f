//go:build !linux

package storage

// freeBytes is unknown off Linux: the free-space check is skipped, and only write errors
// (ENOSPC, EDQUOT, EROFS) mark the store full.
func freeBytes(string) int64 { return -1 }
