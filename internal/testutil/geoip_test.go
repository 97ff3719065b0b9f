package testutil_test

import (
	"net/netip"
	"testing"

	"github.com/oschwald/maxminddb-golang/v2"

	"rumd/internal/geoipfile"
	"rumd/internal/testutil"
)

func TestMustGeoIPFile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		layout geoipfile.Layout
		path   []any
	}{
		{"geoip2", geoipfile.GeoIP2Country, []any{"country", "iso_code"}},
		{"ip-location-db", geoipfile.IPLocationDB, []any{"country_code"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := testutil.MustGeoIPFile(t, tc.layout,
				geoipfile.Network{CIDR: "203.0.113.0/24", Country: "FR"},
				geoipfile.Network{CIDR: "2001:db8::/32", Country: "BR"})
			db, err := maxminddb.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for ip, want := range map[string]string{"203.0.113.5": "FR", "2001:db8::5": "BR", "192.0.2.1": ""} {
				var got string
				if err := db.Lookup(netip.MustParseAddr(ip)).DecodePath(&got, tc.path...); err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("%s: got %q, want %q", ip, got, want)
				}
			}
		})
	}
}
