// Package buildinfo says which build of rumd is running: version, commit and build date,
// as stamped by the Makefile, else as recorded by the Go toolchain.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Set with -ldflags "-X rumd/internal/buildinfo.version=... -X ...commit=... -X ...date=...";
// `make build` and `make dist` do. A plain `go build` leaves them empty, and Get falls back
// to what the toolchain recorded (the VCS revision and time of a build inside a checkout).
var version, commit, date string

// Info is one build's identity.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"` // RFC 3339, UTC: the commit's time, so builds are reproducible
	GoVersion string `json:"go_version"`
}

// Get returns the running build's identity; a field nothing recorded is "unknown", and the
// version of an unstamped build is "dev".
func Get() Info {
	return resolve(version, commit, date, runtime.Version(), readBuildInfo())
}

func readBuildInfo() *debug.BuildInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	return bi
}

// resolve prefers what the build was stamped with, then the toolchain's record.
func resolve(v, c, d, goVersion string, bi *debug.BuildInfo) Info {
	info := Info{Version: v, Commit: c, Date: d, GoVersion: goVersion}
	if bi != nil {
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" {
					info.Commit = s.Value
				}
			case "vcs.time":
				if info.Date == "" {
					info.Date = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		// A module built with `go install rumd@v1.2.3` knows its version; a checkout says (devel).
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		if modified && v == "" && info.Commit != "" && !strings.HasSuffix(info.Commit, "-dirty") {
			info.Commit += "-dirty"
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	for _, f := range []*string{&info.Commit, &info.Date, &info.GoVersion} {
		if *f == "" {
			*f = "unknown"
		}
	}
	return info
}

// String is the one line `rumd version` prints.
func (i Info) String() string {
	return fmt.Sprintf("rumd %s (commit %s, built %s, %s)", i.Version, i.Commit, i.Date, i.GoVersion)
}

// Register adds rumd_build_info{version,commit,go_version} 1 to reg, so dashboards and
// alerts can tell which build each instance runs.
func Register(reg prometheus.Registerer, i Info) error {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rumd_build_info",
		Help: "Always 1; its labels name the running build.",
	}, []string{"version", "commit", "go_version"})
	g.WithLabelValues(i.Version, i.Commit, i.GoVersion).Set(1)
	return reg.Register(g)
}
