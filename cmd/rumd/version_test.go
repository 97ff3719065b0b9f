package main

import (
	"io"
	"os"
	"strings"
	"testing"

	"rumd/internal/buildinfo"
)

// TestVersionCommand checks `rumd version` prints the build's version, commit, date and Go
// version (the integration test TestVersionStamped checks the Makefile's stamping).
func TestVersionCommand(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	code := run([]string{"version"})
	os.Stdout = stdout
	w.Close()
	out, _ := io.ReadAll(r)
	b := buildinfo.Get()
	if code != 0 || strings.TrimSpace(string(out)) != b.String() {
		t.Fatalf("rumd version: exit %d, printed %q, want %q", code, out, b.String())
	}
	for _, part := range []string{b.Version, "commit " + b.Commit, "built " + b.Date, b.GoVersion} {
		if !strings.Contains(string(out), part) {
			t.Fatalf("rumd version printed %q, without %q", out, part)
		}
	}
}
