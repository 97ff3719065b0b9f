package dashboards

import (
	"strings"
	"testing"
	"time"
)

func TestPromQLTargets(t *testing.T) {
	samples := PromQLSamples{Values: map[string]string{"probe": "cdn-a", "variant_a": "a", "variant_b": "b"},
		RateInterval: time.Minute, Range: 6 * time.Hour}
	got, err := PromQLTargets(samples)
	if err != nil {
		t.Fatal(err)
	}
	instant, perFile, families := 0, map[string]int{}, map[string]bool{}
	for _, tg := range got {
		perFile[tg.Dashboard]++
		if tg.Instant {
			instant++
		}
		if strings.Contains(tg.Expr, "$") || strings.Contains(tg.Expr, "[") && !strings.Contains(tg.Expr, "[1m]") && !strings.Contains(tg.Expr, "[6h]") {
			t.Errorf("%s/%s: variables left or intervals not expanded: %s", tg.Dashboard, tg.Panel, tg.Expr)
		}
		if strings.Count(tg.Expr, "(") != strings.Count(tg.Expr, ")") || strings.Count(tg.Expr, "{") != strings.Count(tg.Expr, "}") {
			t.Errorf("%s/%s: unbalanced %s", tg.Dashboard, tg.Panel, tg.Expr)
		}
		for _, n := range promName.FindAllString(tg.Expr, -1) {
			families[n] = true
		}
	}
	for _, f := range []string{"overview.json", "world.json", "pages.json", "devices.json", "before-after.json", "probes.json"} {
		if perFile[f] < 4 {
			t.Errorf("%s: %d targets", f, perFile[f])
		}
	}
	// Each option of the metric variable is read: every page metric the menus offer.
	for _, m := range []string{"lcp", "inp", "cls", "fcp", "ttfb", "load", "dom_interactive", "dcl", "probe_ttfb", "probe_total"} {
		if !families[FamilyName(m)] {
			t.Errorf("no target reads %s", FamilyName(m))
		}
	}
	t.Logf("%d PromQL targets, %d instant", len(got), instant)
	if instant == 0 || instant == len(got) || len(got) < 150 {
		t.Errorf("%d targets, %d instant", len(got), instant)
	}
	// A value given to a multi-value variable is matched as a literal.
	samples.Values["page"] = "/blog/:id.html"
	withPage, err := PromQLTargets(samples)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tg := range withPage {
		found = found || strings.Contains(tg.Expr, `page=~"/blog/:id\\.html"`)
	}
	if !found {
		t.Errorf("page=/blog/:id.html is not expanded to an escaped regex")
	}
	// A variable without All needs a value.
	delete(samples.Values, "probe")
	if _, err := PromQLTargets(samples); err == nil || !strings.Contains(err.Error(), "probe") {
		t.Errorf("no value for probe: %v", err)
	}
	if _, err := PromQLTargets(PromQLSamples{Values: samples.Values}); err == nil {
		t.Errorf("no intervals: no error")
	}
}
