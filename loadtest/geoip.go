package loadtest

import (
	"fmt"

	"rumd/internal/geoipfile"
)

// WriteGeoIP writes a MaxMind-format country database covering the population's client
// ranges, so that rumd, started with it and trusting the load tool's X-Forwarded-For,
// reports the country mix the tool draws. layout is "geoip2-country" or "iplocation-db".
func WriteGeoIP(path, layout string) error {
	var l geoipfile.Layout
	switch layout {
	case "geoip2-country", "":
		l = geoipfile.GeoIP2Country
	case "iplocation-db":
		l = geoipfile.IPLocationDB
	default:
		return fmt.Errorf("geoip layout %q: want geoip2-country or iplocation-db", layout)
	}
	var nets []geoipfile.Network
	for _, c := range Countries {
		if c.Code != "XX" { // left out on purpose: its beacons must come out as unknown
			nets = append(nets, geoipfile.Network{CIDR: c.CIDR, Country: c.Code})
		}
	}
	if err := geoipfile.Write(path, l, nets); err != nil {
		return fmt.Errorf("write load-test geoip file: %w", err)
	}
	return nil
}
