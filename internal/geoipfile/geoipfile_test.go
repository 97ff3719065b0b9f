package geoipfile_test

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"

	"rumd/internal/geoipfile"
)

type lookupRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	CountryCode string `maxminddb:"country_code"`
}

func TestWriteReadsBack(t *testing.T) {
	nets := []geoipfile.Network{
		{CIDR: "192.0.2.0/24", Country: "DE"},
		{CIDR: "198.51.100.0/25", Country: "US"},
		{CIDR: "2001:db8:1::/48", Country: "JP"},
	}
	for _, layout := range []geoipfile.Layout{geoipfile.GeoIP2Country, geoipfile.IPLocationDB, geoipfile.GeoIP2City} {
		t.Run(layout.String(), func(t *testing.T) {
			before := time.Now().Add(-time.Second).Unix()
			path := filepath.Join(t.TempDir(), "db.mmdb")
			if err := geoipfile.Write(path, layout, nets); err != nil {
				t.Fatal(err)
			}
			db, err := maxminddb.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if got := db.Metadata.DatabaseType; got != layout.String() {
				t.Errorf("database type = %q, want %q", got, layout.String())
			}
			if epoch := int64(db.Metadata.BuildEpoch); epoch < before {
				t.Errorf("build epoch %d is before the write started (%d)", epoch, before)
			}
			for _, tc := range []struct {
				ip, want string
			}{
				{"192.0.2.77", "DE"},
				{"198.51.100.1", "US"},
				{"198.51.100.200", ""}, // outside the /25
				{"2001:db8:1::beef", "JP"},
				{"2001:db8:2::1", ""},
				{"203.0.113.9", ""},
			} {
				var rec lookupRecord
				if err := db.Lookup(netip.MustParseAddr(tc.ip)).Decode(&rec); err != nil {
					t.Fatalf("%s: %v", tc.ip, err)
				}
				got := rec.Country.ISOCode
				if layout == geoipfile.IPLocationDB {
					got = rec.CountryCode
					if rec.Country.ISOCode != "" {
						t.Errorf("%s: ip-location-db record has country.iso_code %q", tc.ip, rec.Country.ISOCode)
					}
				}
				if got != tc.want {
					t.Errorf("%s: country = %q, want %q", tc.ip, got, tc.want)
				}
			}
		})
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		path   string
		layout geoipfile.Layout
		nets   []geoipfile.Network
		want   string
	}{
		{"bad cidr", filepath.Join(dir, "a.mmdb"), geoipfile.GeoIP2Country, []geoipfile.Network{{CIDR: "300.1.2.0/24", Country: "DE"}}, `network "300.1.2.0/24"`},
		{"bare address", filepath.Join(dir, "b.mmdb"), geoipfile.GeoIP2Country, []geoipfile.Network{{CIDR: "192.0.2.1", Country: "DE"}}, `network "192.0.2.1"`},
		{"unknown layout", filepath.Join(dir, "c.mmdb"), geoipfile.Layout(42), nil, "unknown layout 42"},
		{"missing directory", filepath.Join(dir, "nope", "d.mmdb"), geoipfile.IPLocationDB, nil, "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := geoipfile.Write(tc.path, tc.layout, tc.nets)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Write error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
