// Package geoipfile writes small MaxMind-format (mmdb) country databases. Tests use it to give
// the enrichment stage a real database to read, and the load tool uses it at run time to
// build a database that maps the addresses it sends from to known countries.
package geoipfile

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Layout is the shape of a database record, as published by one family of database vendors.
type Layout int

const (
	// GeoIP2Country records look like {"country":{"iso_code":"DE"}}, as in GeoIP2, GeoLite2
	// and DB-IP country databases.
	GeoIP2Country Layout = iota
	// IPLocationDB records look like {"country_code":"DE"}, as in the free ip-location-db
	// country mmdb files.
	IPLocationDB
	// GeoIP2City records carry city, location and subdivision data around the same
	// country.iso_code as GeoIP2Country, as in GeoIP2 and GeoLite2 City databases.
	GeoIP2City
)

// String returns the database type written into a file of this layout.
func (l Layout) String() string {
	switch l {
	case GeoIP2Country:
		return "GeoLite2-Country"
	case IPLocationDB:
		return "ip-location-db-country"
	case GeoIP2City:
		return "GeoLite2-City"
	}
	return fmt.Sprintf("Layout(%d)", int(l))
}

// Network maps one IPv4 or IPv6 network to an ISO 3166-1 alpha-2 country code.
type Network struct {
	CIDR    string
	Country string
}

// Write writes a MaxMind-format database at path holding nets (IPv4 and IPv6 CIDRs) in the
// given layout, with a database type and build epoch set. The build epoch is the time of
// the call, so a freshly written file never looks stale to readiness checks. The file is
// written to a temporary name first and renamed, so a reader never sees half a database.
func Write(path string, layout Layout, nets []Network) error {
	if layout < GeoIP2Country || layout > GeoIP2City {
		return fmt.Errorf("write geoip file %s: unknown layout %d", path, int(layout))
	}
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: layout.String(),
		BuildEpoch:   time.Now().Unix(),
		Description:  map[string]string{"en": "rumd synthetic " + layout.String() + " database"},
		Languages:    []string{"en"},
		// Tests and the load tool use documentation and private ranges on purpose.
		IncludeReservedNetworks: true,
		RecordSize:              28,
	})
	if err != nil {
		return fmt.Errorf("write geoip file %s: %w", path, err)
	}
	for _, n := range nets {
		_, ipnet, err := net.ParseCIDR(strings.TrimSpace(n.CIDR))
		if err != nil {
			return fmt.Errorf("write geoip file %s: network %q: %w", path, n.CIDR, err)
		}
		if err := tree.Insert(ipnet, record(layout, n)); err != nil {
			return fmt.Errorf("write geoip file %s: insert %s: %w", path, n.CIDR, err)
		}
	}

	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write geoip file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tree.WriteTo(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write geoip file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write geoip file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write geoip file %s: %w", path, err)
	}
	return nil
}

// record builds the data record for one network. The extra fields around the country code
// are there so that readers are exercised on records shaped like the real ones, where the
// code is one key among many. City records name the network, so that, as in real City
// databases, each network has a record of its own.
func record(layout Layout, n Network) mmdbtype.DataType {
	cc := mmdbtype.String(n.Country)
	switch layout {
	case IPLocationDB:
		return mmdbtype.Map{"country_code": cc}
	case GeoIP2City:
		return mmdbtype.Map{
			"city": mmdbtype.Map{
				"geoname_id": mmdbtype.Uint32(2950159),
				"names":      mmdbtype.Map{"en": mmdbtype.String("Synthetic City of " + n.CIDR)},
			},
			"continent": mmdbtype.Map{"code": mmdbtype.String("EU")},
			"location": mmdbtype.Map{
				"accuracy_radius": mmdbtype.Uint16(100),
				"latitude":        mmdbtype.Float64(52.5),
				"longitude":       mmdbtype.Float64(13.4),
				"time_zone":       mmdbtype.String("Europe/Berlin"),
			},
			"subdivisions": mmdbtype.Slice{
				mmdbtype.Map{"iso_code": mmdbtype.String("BE")},
			},
			"country":            mmdbtype.Map{"iso_code": cc, "is_in_european_union": mmdbtype.Bool(true)},
			"registered_country": mmdbtype.Map{"iso_code": cc},
		}
	default:
		return mmdbtype.Map{
			"continent":          mmdbtype.Map{"code": mmdbtype.String("EU")},
			"country":            mmdbtype.Map{"iso_code": cc, "names": mmdbtype.Map{"en": cc}},
			"registered_country": mmdbtype.Map{"iso_code": cc},
		}
	}
}
