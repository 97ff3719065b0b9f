package testutil

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RunWithRumd is a TestMain body for tests that run the real binary: it builds rumd once
// into a temporary directory, sets *bin to its path, runs the tests and exits with their
// code, removing the directory.
func RunWithRumd(m *testing.M, bin *string) {
	dir, err := os.MkdirTemp("", "rumd-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	*bin = filepath.Join(dir, "rumd")
	build := exec.Command("go", "build", "-o", *bin, "rumd/cmd/rumd")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build rumd:", err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// MustFreeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func MustFreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
