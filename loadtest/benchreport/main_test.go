package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"rumd/loadtest"
)

func TestMediansPerFormatAndConnections(t *testing.T) {
	mk := func(format string, conns int, ratio, rate float64) *loadResult {
		r := ratio
		return &loadResult{format: format, conns: conns, cpu: time.Duration(rate) * time.Microsecond,
			rep: loadtest.Report{Ratio: &r, Rumd: &loadtest.Result{Sent: 1000, Rate: rate}}}
	}
	loads := []*loadResult{
		mk("v1", 16, 0.58, 100), mk("v1", 64, 0.70, 300),
		mk("v1", 16, 0.66, 200), mk("v1", 64, 0.50, 100),
		mk("v1", 16, 0.62, 300), mk("v1", 64, 0.61, 200),
	}
	var out bytes.Buffer
	printMedians(&out, loads)
	lines := strings.Split(out.String(), "\n")
	want := map[string]string{"16": "0.58 0.66 0.62", "64": "0.70 0.50 0.61"}
	medians := map[string]string{"16": "0.62", "64": "0.61"}
	found := 0
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 6 || f[0] != "v1" {
			continue
		}
		found++
		if got := strings.Join(f[2:5], " "); got != want[f[1]] {
			t.Errorf("conns %s: runs %q, want %q", f[1], got, want[f[1]])
		}
		if f[5] != medians[f[1]] || f[6] != "200" {
			t.Errorf("conns %s: median %s rate %s, want %s and 200\n%s", f[1], f[5], f[6], medians[f[1]], out.String())
		}
	}
	if found != 2 {
		t.Fatalf("want a row per connection count:\n%s", out.String())
	}
	if got := fmtMedian([]float64{0.5, 0.7}, "%.2f"); got != "0.60" {
		t.Errorf("median of two = %s", got)
	}
}
