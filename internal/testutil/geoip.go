// Package testutil holds the test helpers shared by rumd's packages. Helpers take a
// testing.TB, are called MustX, and build real components (files in the test's temporary
// directory), never mocks.
package testutil

import (
	"path/filepath"
	"testing"

	"rumd/internal/geoipfile"
)

// MustGeoIPFile writes a MaxMind-format country database holding nets in the given layout
// into tb.TempDir() and returns its path.
func MustGeoIPFile(tb testing.TB, layout geoipfile.Layout, nets ...geoipfile.Network) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "geoip-"+layout.String()+".mmdb")
	if err := geoipfile.Write(path, layout, nets); err != nil {
		tb.Fatalf("write geoip file: %v", err)
	}
	return path
}
