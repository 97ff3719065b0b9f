package testutil

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// NeedNodeModules skips a test that needs the npm package pkg installed in dir's
// node_modules when `npm ci` has not run there, except in CI (CI=true), where `make test`
// installs it and a missing install is a failure.
func NeedNodeModules(tb testing.TB, dir, pkg string) {
	tb.Helper()
	p := filepath.Join(dir, "node_modules", filepath.FromSlash(pkg), "package.json")
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("%s missing in CI: %v (make deps runs npm ci in %s)", pkg, err, dir)
		}
		tb.Skipf("%s not installed: run `npm ci` in %s (make deps does)", pkg, dir)
	}
}

// MustPinnedNPM fails unless dir's package.json pins pkg to one exact version and its
// package-lock.json holds that version with an integrity hash, so `npm ci` always installs
// the same bytes.
func MustPinnedNPM(tb testing.TB, dir, pkg string) {
	tb.Helper()
	var manifest struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	var lock struct {
		Packages map[string]struct {
			Version   string `json:"version"`
			Integrity string `json:"integrity"`
		} `json:"packages"`
	}
	for name, v := range map[string]any{"package.json": &manifest, "package-lock.json": &lock} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			tb.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
	}
	want := manifest.Dependencies[pkg]
	if want == "" || strings.ContainsAny(want, "^~<>=*x| ") {
		tb.Fatalf("package.json %s = %q, want one exact version", pkg, want)
	}
	got := lock.Packages["node_modules/"+pkg]
	if got.Version != want || got.Integrity == "" {
		tb.Errorf("package-lock.json has %s %q (integrity %q), want %q with integrity", pkg, got.Version, got.Integrity, want)
	}
}
