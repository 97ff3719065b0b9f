//go:build integration

package loadtest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rumd/internal/testutil"
	"rumd/loadtest"
)

// rumdBin is the real binary, built once in TestMain.
var rumdBin string

func TestMain(m *testing.M) { testutil.RunWithRumd(m, &rumdBin) }

// startRumd writes the load tool's GeoIP file with the CLI, serves rumd on loopback with a
// fresh data directory and that file, trusting the load tool's address, and returns its
// base URL. rumd is stopped with SIGTERM at the end of the test.
func startRumd(t *testing.T, layout string) string {
	t.Helper()
	dir := t.TempDir()
	geo := filepath.Join(dir, "geoip.mmdb")
	testutil.MustRun(t, time.Minute, exec.Command(rumdBin, "loadtest", "--target", "", "--write-geoip", geo, "--geoip-layout", layout))
	r := testutil.StartRumd(t, rumdBin, "--data", filepath.Join(dir, "data"),
		"--geoip", geo, "--trusted-proxies", "127.0.0.1/32",
		// The tool's synthetic clients come from a few address ranges; at load-test rates
		// they would trip the per-prefix limit, which is not what is measured here.
		"--rate-limit", "0", "--rate-limit-prefix", "0")
	return r.URL
}

// runLoadtest runs the CLI with --json and returns its exit code and report.
func runLoadtest(t *testing.T, args ...string) (int, *loadtest.Report) {
	t.Helper()
	cmd := exec.Command(rumdBin, append([]string{"loadtest", "--json"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_, err := testutil.Run(5*time.Minute, cmd)
	if errors.Is(err, testutil.ErrDeadline) {
		t.Fatalf("rumd loadtest: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var rep loadtest.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("exit %d, report not JSON: %v\nstdout:\n%s\nstderr:\n%s", code, err, stdout.String(), stderr.String())
	}
	if strings.Contains(stdout.String(), "\r") {
		t.Errorf("a progress line was written to a stdout that is not a terminal")
	}
	return code, &rep
}

func checkReport(t *testing.T, code int, rep *loadtest.Report, sent int64) {
	t.Helper()
	if code != 0 || !rep.OK {
		t.Errorf("exit %d, problems:\n  %s", code, strings.Join(rep.Problems, "\n  "))
	}
	if rep.Rumd == nil || rep.Rumd.Sent != sent || rep.Rumd.Errors != 0 {
		t.Fatalf("rumd result %+v, want %d sent without errors", rep.Rumd, sent)
	}
	for _, c := range rep.Rejections {
		if !c.OK || c.Metrics == nil {
			t.Errorf("%s: meant %d, answered %d, /metrics %v", c.Reason, c.Intended, c.Answered, c.Metrics)
		}
	}
	if len(rep.Rejections) < len(loadtest.BadReasons)+1 {
		t.Errorf("only %d rejection lines: %+v", len(rep.Rejections), rep.Rejections)
	}
	a := rep.Accuracy
	if a == nil || a.Worst == nil || a.Compared < 500 {
		t.Fatalf("accuracy check compared too little: %+v", a)
	}
	if a.Worst.RelError > 0.011 {
		t.Errorf("worst error %.3f%% at %+v", 100*a.Worst.RelError, *a.Worst)
	}
	if rep.VisibleMs == nil || *rep.VisibleMs > 2000 {
		t.Errorf("accept to visible: %v ms, budget 2000", rep.VisibleMs)
	}
	t.Logf("rumd %.0f/s p99 %.2f ms, worst error %.3f%% (%s p%g %s), visible after %.0f ms",
		rep.Rumd.Rate, rep.Rumd.Latency.P99, 100*a.Worst.RelError, a.Worst.Metric, 100*a.Worst.Q, a.Worst.Group, *rep.VisibleMs)
}

// TestLoadtestAgainstRumd runs the CLI against the real server. Every run is bounded by its
// count; the durations are generous so that a busy machine slows the runs down rather than
// cutting them short.
func TestLoadtestAgainstRumd(t *testing.T) {
	t.Run("closed loop with baseline", func(t *testing.T) {
		base := startRumd(t, "geoip2-country")
		code, rep := runLoadtest(t, "--target", base, "--count", "20000", "--duration", "60s",
			"--connections", "8", "--bad-share", "0.05", "--baseline")
		checkReport(t, code, rep, 20000)
		if rep.Baseline == nil || rep.Ratio == nil || rep.Baseline.Accepted != rep.Baseline.Sent {
			t.Errorf("baseline %+v ratio %v", rep.Baseline, rep.Ratio)
		} else {
			t.Logf("bare %.0f/s, ratio %.3f", rep.Baseline.Rate, *rep.Ratio)
		}
	})
	t.Run("open loop, ip-location-db layout", func(t *testing.T) {
		base := startRumd(t, "iplocation-db")
		code, rep := runLoadtest(t, "--target", base, "--rate", "2000", "--count", "4000", "--duration", "30s",
			"--connections", "4", "--bad-share", "0.2", "--seed", "7")
		checkReport(t, code, rep, 4000)
		if rep.Rumd.Mode != "open" {
			t.Errorf("mode %q", rep.Rumd.Mode)
		}
	})
	t.Run("boomerang beacons with baseline", func(t *testing.T) {
		base := startRumd(t, "geoip2-country")
		code, rep := runLoadtest(t, "--target", base, "--format", "boomerang", "--count", "10000", "--duration", "60s",
			"--connections", "8", "--bad-share", "0.05", "--baseline")
		checkReport(t, code, rep, 10000)
		if rep.Format != "boomerang" || rep.Baseline == nil || rep.Ratio == nil || rep.Baseline.Accepted != rep.Baseline.Sent {
			t.Errorf("format %q, baseline %+v, ratio %v", rep.Format, rep.Baseline, rep.Ratio)
		}
		// Unload beacons carry INP alone: the INP comparison is theirs.
		inp := false
		for _, c := range rep.Accuracy.PerMetric {
			inp = inp || c.Metric == "inp"
		}
		if !inp {
			t.Errorf("no INP compared: %+v", rep.Accuracy.PerMetric)
		}
	})
	t.Run("a check that must fail", func(t *testing.T) {
		// A tolerance below the sketch's own accuracy cannot be met: the tool must say so
		// with a non-zero exit, or its passing verdicts mean nothing.
		base := startRumd(t, "geoip2-country")
		code, rep := runLoadtest(t, "--target", base, "--count", "3000", "--duration", "30s",
			"--connections", "4", "--max-error", "0.0001")
		if code != 1 || rep.OK {
			t.Errorf("exit %d ok %v with an impossible tolerance", code, rep.OK)
		}
	})
}
