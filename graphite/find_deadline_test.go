package graphite

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"rumd/internal/series"
	"rumd/query"
)

// TestFindUnderDeadlineNeverWider: rumd.page_country.*.AC lists the pages seen in AC, a
// narrowing query per page. Under deadlines that end anywhere from the first page to the
// last, every answer is either the exact list or 503 timeout: never every page, which is
// what a narrowing cut short by its deadline used to offer.
func TestFindUnderDeadlineNeverWider(t *testing.T) {
	now := testNow()
	const pages, countries, minutes = 120, 30, 8
	var recs []series.Record
	want := map[string]bool{}
	for p := 0; p < pages; p++ {
		page := fmt.Sprintf("/p%03d", p)
		for k := 0; k < 6; k++ { // each page is seen in 6 of the countries
			country := fmt.Sprintf("A%c", 'A'+byte((p+k*5)%countries))
			if country == "AC" {
				want[EncodeNode(page)] = true
			}
			for m := int64(1); m <= minutes; m++ {
				r := series.Record{Time: now.Unix() - 60*m}
				r.Labels[series.Page], r.Labels[series.Country] = page, country
				r.Labels[series.Device], r.Labels[series.Nav], r.Labels[series.Variant] = "desktop", "navigate", "none"
				r.Set(series.TTFB, float64(100+p))
				r.Set(series.FCP, float64(300+p))
				recs = append(recs, r)
			}
		}
	}
	if len(want) == 0 || len(want) == pages {
		t.Fatalf("control: %d of %d pages were seen in AC", len(want), pages)
	}
	e := mustEnv(t, now, recs)
	find := func(timeout time.Duration) (int, string, []string) {
		t.Helper()
		qo := query.DefaultOptions()
		qo.Timeout = timeout
		eng, err := query.New(nil, nil, e.store, e.agg, qo)
		if err != nil {
			t.Fatal(err)
		}
		c := mustServe(t, eng, e.h.opts)
		var raw json.RawMessage
		code := c.get(t, "/metrics/find", url.Values{"query": {"rumd.page_country.*.AC"}, "from": {"-1h"}}, &raw)
		if code != 200 {
			var fail query.ErrorBody
			if err := json.Unmarshal(raw, &fail); err != nil {
				t.Fatalf("find answered %d: %s", code, raw)
			}
			return code, string(fail.Reason), nil
		}
		var nodes []struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(raw, &nodes); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range nodes {
			page, _, _ := strings.Cut(strings.TrimPrefix(n.ID, "rumd.page_country."), ".")
			got = append(got, page)
		}
		sort.Strings(got)
		return code, "", got
	}
	var exact []string
	for p := range want {
		exact = append(exact, p)
	}
	sort.Strings(exact)

	t0 := time.Now()
	code, _, got := find(time.Minute)
	full := time.Since(t0)
	if code != 200 || strings.Join(got, ",") != strings.Join(exact, ",") {
		t.Fatalf("control: find without a tight deadline answered %d with %d pages, want %d: %v", code, len(got), len(exact), got)
	}
	timeouts := 0
	for _, frac := range []float64{0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7} {
		d := time.Duration(float64(full) * frac)
		code, reason, got := find(d)
		switch {
		case code == 503 && reason == string(query.Timeout):
			timeouts++
		case code == 200 && strings.Join(got, ",") == strings.Join(exact, ","):
		default:
			t.Errorf("deadline %s (%.0f%% of a full find): %d %s with %d pages, want the %d right ones or 503 timeout", d, frac*100, code, reason, len(got), len(exact))
		}
	}
	if timeouts == 0 {
		t.Errorf("control: no deadline from 2%% to 70%% of a full find (%s) ended it", full)
	}
}
