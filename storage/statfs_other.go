//go:build !linux

package storage

import "os"

// freeBytes is unknown off Linux: the free-space check is skipped, and only write errors
// (ENOSPC, EDQUOT, EROFS) mark the store full.
func freeBytes(string) int64 { return -1 }

// allocatedBytes is a file's apparent size off Linux, where the allocated size is not read.
func allocatedBytes(fi os.FileInfo) int64 { return fi.Size() }
