package buildinfo

import (
	"runtime/debug"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestResolve(t *testing.T) {
	vcs := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	for _, tc := range []struct {
		name    string
		v, c, d string
		bi      *debug.BuildInfo
		want    Info
	}{
		{"stamped by the Makefile wins over the toolchain", "v1.2.0-3-gabc", "abc", "2026-11-30T00:00:00Z", vcs,
			Info{"v1.2.0-3-gabc", "abc", "2026-11-30T00:00:00Z", "go1.x"}},
		{"go build in a checkout: revision and time from the toolchain", "", "", "", vcs,
			Info{"dev", "0123abcd-dirty", "2026-12-01T10:00:00Z", "go1.x"}},
		{"go install of a tagged module", "", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.3.0"}},
			Info{"v1.3.0", "unknown", "unknown", "go1.x"}},
		{"nothing recorded", "", "", "", nil, Info{"dev", "unknown", "unknown", "go1.x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := resolve(tc.v, tc.c, tc.d, "go1.x", tc.bi); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	i := Info{Version: "v9.9.9", Commit: "abc", Date: "2026-12-01T00:00:00Z", GoVersion: "go1.x"}
	if err := Register(reg, i); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || mfs[0].GetName() != "rumd_build_info" || len(mfs[0].Metric) != 1 {
		t.Fatalf("gathered %v", mfs)
	}
	m := mfs[0].Metric[0]
	got := map[string]string{}
	for _, l := range m.Label {
		got[l.GetName()] = l.GetValue()
	}
	if got["version"] != "v9.9.9" || got["commit"] != "abc" || got["go_version"] != "go1.x" || len(got) != 3 || m.GetGauge().GetValue() != 1 {
		t.Fatalf("rumd_build_info labels %v value %v", got, m.GetGauge().GetValue())
	}
}
