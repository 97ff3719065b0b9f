package testutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// MustTmpfs mounts a tmpfs of size bytes on a new temporary directory and returns its path;
// it is unmounted when the test ends, failed or not. A full tmpfs is a real full disk
// (ENOSPC on write, SIGBUS on a write into a memory map), so tests of full-disk handling
// run on one. The test is skipped, saying why, when mounting is refused (not root, or no
// mount rights in this container).
func MustTmpfs(tb testing.TB, size int64) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "rumd-tmpfs-")
	if err != nil {
		tb.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		os.Remove(dir)
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			tb.Skipf("cannot mount a tmpfs to fill (%v): run as root, or in a container allowed to mount", err)
		}
		tb.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	tb.Cleanup(func() {
		// Detached, so a process still holding files there cannot keep it mounted.
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			tb.Errorf("unmount %s: %v", dir, err)
		}
		os.Remove(dir)
	})
	return dir
}

// MustFill writes a file of zeros at path until at most leave bytes are free on its
// filesystem (statfs), and returns how many it wrote. Written, not truncated: a sparse file
// would take no space.
func MustFill(tb testing.TB, path string, leave int64) int64 {
	tb.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		tb.Fatal(err)
	}
	n := int64(st.Bavail)*st.Bsize - leave
	if n <= 0 {
		return 0
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var wrote int64
	for wrote < n {
		k, err := f.Write(buf[:min(int64(len(buf)), n-wrote)])
		wrote += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	return wrote
}
