package geoip

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// The ages at which rumd calls a country database old. A country is a coarse answer: an
// address block changes country mostly when it is transferred to a holder elsewhere, which
// moves a small share of the address space in a year, so a database some months old places
// nearly every visitor where a new one would, and a country's percentiles do not move. The
// pinned database is typically several months old by the time a release is installed;
// warning at 60 days showed every fresh install an orange warning and taught operators to
// ignore it. A year is when a refresh starts to matter; half a year earns a quiet note.
const (
	// NoteAge is the age from which the health check adds a note on how to refresh.
	NoteAge = 182 * 24 * time.Hour
	// WarnAge is the age from which the health check is a warning.
	WarnAge = 365 * 24 * time.Hour
)

// Freshness is how old a database is, as the health check and the home page report it.
type Freshness struct {
	AgeDays int
	// Stale is true from WarnAge on.
	Stale bool
	// Note is empty while the database is younger than NoteAge; else its age and how to
	// refresh it.
	Note string
	// Refresh says how to refresh the database at its path.
	Refresh string
}

// Age judges the database at path, built at built, at time now.
func Age(path string, built, now time.Time) Freshness {
	age := now.Sub(built)
	f := Freshness{AgeDays: int(age.Hours() / 24), Stale: age >= WarnAge, Refresh: RefreshHint(path)}
	switch {
	case age >= WarnAge:
		f.Note = fmt.Sprintf("database is over %d days old; countries drift as address blocks move to new holders. %s", int(WarnAge.Hours()/24), f.Refresh)
	case age >= NoteAge:
		f.Note = fmt.Sprintf("database is over %d days old, still fine for countries; refresh it at your next upgrade. %s", int(NoteAge.Hours()/24), f.Refresh)
	}
	return f
}

// RefreshHint says how to replace the database at path with a newer one: the npm command
// for the pinned package (docs/geoip.md), else replacing the file.
func RefreshHint(path string) string {
	if dir, _, ok := strings.Cut(filepath.ToSlash(path), "node_modules/"+Package+"/"); ok {
		if dir = strings.TrimSuffix(dir, "/"); dir == "" {
			dir = "."
		}
		return "To refresh: cd " + filepath.FromSlash(dir) + " && npm install " + Package + "@latest --save-exact, then restart rumd (docs/geoip.md)."
	}
	return "To refresh: replace " + path + " with a newer release of the same database (MaxMind's geoipupdate for GeoLite2), then restart rumd (docs/geoip.md)."
}
