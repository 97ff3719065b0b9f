// Package geoip says where rumd finds its country database when none is configured: the
// public-domain (CC0) ip-location-db geo-whois-asn-country database, pinned in this
// directory's package-lock.json and installed by `npm ci` (`make run` and `make deps` do
// it). Enrichment (the country of a beacon) reads the file; this package only finds it.
// docs/geoip.md says how to refresh it or use MaxMind's GeoLite2 instead.
package geoip

import (
	"errors"
	"os"
	"path/filepath"
)

// Package is the npm package that ships the database.
const Package = "@ip-location-db/geo-whois-asn-country-mmdb"

// File is the database inside the package: IPv4 and IPv6 in one file.
const File = "geo-whois-asn-country.mmdb"

// RelPath is where `npm ci` in this directory puts the database, relative to the repository.
var RelPath = filepath.Join("geoip", "node_modules", filepath.FromSlash(Package), File)

// SystemPath is where a packaged install may put the database.
const SystemPath = "/usr/share/rumd/" + File

// Candidates lists, in the order they are tried, where rumd looks for a database when
// --geoip is not given: under the working directory, beside the binary exe and one level
// up from it (bin/rumd in a checkout), then SystemPath.
func Candidates(exe string) []string {
	out := []string{RelPath}
	if exe != "" {
		dir := filepath.Dir(exe)
		out = append(out, filepath.Join(dir, RelPath), filepath.Join(filepath.Dir(dir), RelPath))
	}
	return append(out, SystemPath)
}

// ErrNotFound says that no candidate holds a database.
var ErrNotFound = errors.New("no GeoIP database found")

// Find returns the first of Candidates(exe) that is a regular file, as an absolute path.
func Find(exe string) (string, error) {
	for _, p := range Candidates(exe) {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			if abs, err := filepath.Abs(p); err == nil {
				return abs, nil
			}
			return p, nil
		}
	}
	return "", ErrNotFound
}
