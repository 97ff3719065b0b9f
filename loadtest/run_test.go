package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/gofiber/fiber/v2"

	"rumd/ingest"
	"rumd/ingest/beacon"
	"rumd/ingest/enrich"
	"rumd/internal/series"
	"rumd/internal/sketch"
	"rumd/server"
)

func testOptions() Options {
	o := DefaultOptions()
	o.Connections = 4
	o.Duration = 5 * time.Second
	o.Count = 2000
	o.Pool = 1000
	return o
}

func mustBaseline(tb testing.TB) *Baseline {
	tb.Helper()
	b, err := StartBaseline("127.0.0.1:0", "/timings")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = b.Close() })
	return b
}

func TestRunLoadBounds(t *testing.T) {
	b := mustBaseline(t)
	pool := mustPool(t, 1000, 0.1, time.Now())
	t.Run("count", func(t *testing.T) {
		o := testOptions()
		o.Count = 1234
		res, err := RunLoad(context.Background(), b.URL(), pool, &o)
		if err != nil {
			t.Fatal(err)
		}
		if res.Sent != 1234 || res.Accepted != 1234 || res.Errors != 0 || res.Status[204] != 1234 {
			t.Errorf("sent %d accepted %d errors %d status %v, want 1234 sent and accepted", res.Sent, res.Accepted, res.Errors, res.Status)
		}
		if res.Intended["bot"] == 0 || res.Intended[""] < 1000 {
			t.Errorf("intended %v: want the pool's mix", res.Intended)
		}
		if !(res.Latency.P50 > 0 && res.Latency.P50 <= res.Latency.P99 && res.Latency.P99 <= res.Latency.Max*1.011) {
			t.Errorf("latency %+v is not ordered", res.Latency)
		}
	})
	t.Run("duration", func(t *testing.T) {
		o := testOptions()
		o.Count = 1 << 30
		o.Duration = 300 * time.Millisecond
		start := time.Now()
		res, err := RunLoad(context.Background(), b.URL(), pool, &o)
		if err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el > 2*time.Second || res.Sent == 0 {
			t.Errorf("ran %s and sent %d, want about 300ms of sends", el, res.Sent)
		}
	})
	t.Run("open loop", func(t *testing.T) {
		o := testOptions()
		o.Rate, o.Count, o.Duration = 1000, 1<<30, time.Second
		res, err := RunLoad(context.Background(), b.URL(), pool, &o)
		if err != nil {
			t.Fatal(err)
		}
		if res.Mode != "open" || res.Sent < 900 || res.Sent > 1001 {
			t.Errorf("mode %s sent %d in 1s at 1000/s", res.Mode, res.Sent)
		}
	})
}

// miniCollector takes POST /timings through rumd's own ingest pipeline (decoder, validator,
// enricher, deriver) into sketches it keeps per group, and answers /api/v1/summary and
// /metrics from them. skew multiplies the quantiles it reports and drop hides a label value,
// to test that the load tool's checks notice a collector that is wrong.
type miniCollector struct {
	mu       sync.Mutex
	pipe     *ingest.Pipeline
	sketches map[string]*ddsketch.DDSketch // metric|dim|value
	accepted int
	rejected map[string]int
	skew     float64
	drop     string // a label value whose rows are left out of answers
}

func newMiniCollector(tb testing.TB) (*miniCollector, string) {
	tb.Helper()
	e, err := enrich.New(nil, nil, enrich.DefaultOptions())
	if err != nil {
		tb.Fatal(err)
	}
	c := &miniCollector{sketches: map[string]*ddsketch.DDSketch{}, rejected: map[string]int{}, skew: 1}
	if c.pipe, err = ingest.New(nil, nil, e, c, ingest.DefaultOptions()); err != nil {
		tb.Fatal(err)
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true, BodyLimit: 4 * maxBody})
	app.Post("/timings", c.ingest)
	app.Get("/api/v1/summary", c.summary)
	app.Get("/metrics", func(ctx *fiber.Ctx) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		var sb strings.Builder
		fmt.Fprintf(&sb, "rumd_beacons_accepted_total %d\n", c.accepted)
		for r, n := range c.rejected {
			fmt.Fprintf(&sb, "rumd_beacons_rejected_total{reason=%q} %d\n", r, n)
		}
		return ctx.SendString(sb.String())
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	tb.Cleanup(func() { _ = app.Shutdown(); e.Close() })
	return c, "http://" + ln.Addr().String()
}

func (c *miniCollector) reject(ctx *fiber.Ctx, r beacon.Reason) error {
	c.mu.Lock()
	c.rejected[r.String()]++
	c.mu.Unlock()
	return ctx.Status(server.BeaconStatus(r)).JSON(fiber.Map{"error": "rejected", "reason": r.String()})
}

func (c *miniCollector) ingest(ctx *fiber.Ctx) error {
	if len(ctx.Body()) > maxBody {
		return c.reject(ctx, beacon.TooLarge)
	}
	cl := c.pipe.Client(&ingest.Request{UserAgent: string(ctx.Request().Header.UserAgent())})
	var res ingest.Result
	c.pipe.Body(ctx.Body(), &cl, time.Now(), &res)
	if len(res.Refused) > 0 {
		return c.reject(ctx, res.Refused[0].Reason)
	}
	return ctx.SendStatus(fiber.StatusNoContent)
}

// Add is the pipeline's sink: every page metric of the record goes into the sketch of each
// of its labels.
func (c *miniCollector) Add(rec *series.Record) error {
	labels := map[string]string{
		"": "", "page": rec.Labels[series.Page], "country": rec.Labels[series.Country],
		"device": rec.Labels[series.Device], "nav": rec.Labels[series.Nav], "variant": rec.Labels[series.Variant],
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.accepted++
	for m := range series.NumPageMetrics {
		if rec.Has&(1<<m) == 0 {
			continue
		}
		for d, v := range labels {
			k := series.Metric(m).String() + "|" + d + "|" + v
			s := c.sketches[k]
			if s == nil {
				s = sketch.New()
				c.sketches[k] = s
			}
			_ = s.Add(rec.Values[m])
		}
	}
	return nil
}

func (c *miniCollector) summary(ctx *fiber.Ctx) error {
	metric, by := ctx.Query("metric"), ctx.Query("by")
	qs := strings.Split(ctx.Query("q"), ",")
	if cc := ctx.Query("country"); cc != "" && cc != "XX" {
		return ctx.JSON(fiber.Map{"rows": []any{}}) // every beacon here is from XX
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	row := func(s *ddsketch.DDSketch, labels map[string]string) summaryRow {
		r := summaryRow{Labels: labels, Count: s.GetCount(), Q: map[string]float64{}}
		for _, q := range qs {
			f, _ := strconv.ParseFloat(q, 64)
			r.Q[q] = sketch.Quantile(s, f) * c.skew
		}
		return r
	}
	rows := []summaryRow{}
	if v := ctx.Query("variant"); v != "" {
		// variant=X alone, or by country (all XX here): the variant's own sketch.
		if s := c.sketches[metric+"|variant|"+v]; s != nil {
			switch by {
			case "":
				rows = append(rows, row(s, map[string]string{}))
			case "country":
				rows = append(rows, row(s, map[string]string{"country": "XX"}))
			default:
				return ctx.Status(400).JSON(fiber.Map{"error": "no view", "reason": "bad_request"})
			}
		}
		return ctx.JSON(fiber.Map{"metric": metric, "rows": rows})
	}
	prefix := metric + "|" + by + "|"
	for k, s := range c.sketches {
		v, ok := strings.CutPrefix(k, prefix)
		if !ok || (v == c.drop && by != "") {
			continue
		}
		labels := map[string]string{}
		if by != "" {
			labels[by] = v
		}
		rows = append(rows, row(s, labels))
	}
	return ctx.JSON(fiber.Map{"metric": metric, "rows": rows})
}

func TestRunAgainstMiniCollector(t *testing.T) {
	for _, tc := range []struct {
		name   string
		skew   float64
		drop   string
		xff    bool
		wantOK bool
		want   string
	}{
		{name: "exact", skew: 1, wantOK: true},
		{name: "quantiles 2% high", skew: 1.02, want: "accuracy:"},
		{name: "a page missing", skew: 1, drop: "/cart", want: "missing in rumd:"},
		// Client addresses of real countries sent to a collector that places none of them:
		// one line naming the GeoIP file, not one per country group.
		{name: "no geoip file", skew: 1, xff: true, want: "without the tool's GeoIP file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, url := newMiniCollector(t)
			c.skew, c.drop = tc.skew, tc.drop
			o := testOptions()
			o.Target = url
			o.Count = 3000
			o.BadShare = 0.1
			o.UseXFF = tc.xff // the mini collector has no GeoIP: every country is XX
			rep, err := Run(context.Background(), o, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.xff && len(rep.Problems) != 1 {
				t.Errorf("want the one GeoIP line, got %d problems: %q", len(rep.Problems), rep.Problems)
			}
			if rep.OK != tc.wantOK {
				t.Fatalf("ok = %v, want %v; problems: %q", rep.OK, tc.wantOK, rep.Problems)
			}
			if tc.want != "" && !strings.Contains(strings.Join(rep.Problems, "\n"), tc.want) {
				t.Errorf("problems %q do not say %q", rep.Problems, tc.want)
			}
			if rep.Rumd.Sent != 3000 || rep.Accuracy == nil || rep.Accuracy.Compared < 100 {
				t.Fatalf("sent %d, accuracy %+v", rep.Rumd.Sent, rep.Accuracy)
			}
			if tc.wantOK {
				if w := rep.Accuracy.Worst.RelError; w > sketch.RelativeAccuracy+1e-9 {
					t.Errorf("worst error %g over the sketch's accuracy", w)
				}
				for _, r := range BadReasons {
					if rep.Rumd.Rejected[r] == 0 {
						t.Errorf("no %s rejections in %v", r, rep.Rumd.Rejected)
					}
				}
				if rep.VisibleMs == nil || *rep.VisibleMs > 5000 {
					t.Errorf("visibility not measured: %v", rep.VisibleMs)
				}
			}
			js, err := json.Marshal(rep)
			if err != nil || !strings.Contains(string(js), `"rejections"`) {
				t.Errorf("json report: %v %s", err, js)
			}
		})
	}
}

// TestCheckAccuracySelections checks that the two-dimension cuts are asked of the API with
// their filters.
func TestCheckAccuracySelections(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mu.Lock()
		seen[q.Get("country")+"/"+q.Get("variant")+"/"+q.Get("by")] = true
		mu.Unlock()
		_, _ = w.Write([]byte(`{"rows":[]}`))
	}))
	defer srv.Close()
	pool := mustPool(t, 2000, 0, time.Now())
	acc := make([]uint32, len(pool.Items))
	for i := range acc {
		acc[i] = 1
	}
	o := testOptions()
	api := &apiClient{base: srv.URL, http: srv.Client()}
	a, err := checkAccuracy(context.Background(), api, pool, acc, 0, math.MaxInt32, &o)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"//", "//country", "//page", "//device", "//nav", "//variant", "US//page", "/cdn-a/country"} {
		if !seen[k] {
			t.Errorf("no query %q among %v", k, seen)
		}
	}
	if len(a.Missing) == 0 || a.Compared != 0 {
		t.Errorf("empty answers: missing %d, compared %d", len(a.Missing), a.Compared)
	}
}
