package graphite

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"rumd/internal/series"
)

// benchEnv stores 30 days of page views: a window every 10 minutes up to a day ago and every
// minute in the last day, 8 page views each over 20 countries, in views [] and [country].
func benchEnv(b *testing.B) (*env, *fiber.App) {
	b.Helper()
	now := testNow()
	rng := rand.New(rand.NewPCG(7, 11))
	countries := make([]string, 20)
	for i := range countries {
		countries[i] = string(rune('A'+i)) + "X"
	}
	var recs []series.Record
	cur := floorTo(now.Unix(), 60)
	for t := cur - 30*86400; t < cur; t += 60 {
		if t < cur-86400 && (t/60)%10 != 0 {
			continue
		}
		for i := 0; i < 8; i++ {
			r := series.Record{Time: t + int64(i)}
			r.Labels[series.Country] = countries[rng.IntN(len(countries))]
			for m := series.Metric(0); int(m) < series.NumPageMetrics; m++ {
				r.Set(m, math.Round(300*math.Exp(0.6*rng.NormFloat64())))
			}
			recs = append(recs, r)
		}
	}
	t0 := time.Now()
	e := mustEnvViews(b, now, recs, []series.View{series.NewView(), series.NewView(series.Country)})
	e.recs = nil
	b.Logf("seeded %d page views over 30 days in %s", len(recs), time.Since(t0).Round(time.Millisecond))
	app := fiber.New()
	if err := Mount(app, e.eng, e.h.opts); err != nil {
		b.Fatal(err)
	}
	return e, app
}

// benchRender runs /render in-process (no network), as Grafana's backend posts it.
func benchRender(b *testing.B, app *fiber.App, target, from string, maxDataPoints, wantPoints int) {
	h := app.Handler()
	form := grafanaForm("A", target, from, "now", maxDataPoints).Encode()
	var ctx fasthttp.RequestCtx
	run := func() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.Header.SetMethod("POST")
		ctx.Request.SetRequestURI("/render")
		ctx.Request.Header.SetContentType("application/x-www-form-urlencoded")
		ctx.Request.SetBodyString(form)
		h(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	run()
	b.ReportMetric(float64(len(ctx.Response.Body())), "bytes/answer")
	if n := countPoints(ctx.Response.Body()); n < wantPoints {
		b.Fatalf("answer has %d non-null points, want at least %d", n, wantPoints)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		run()
	}
}

func countPoints(body []byte) int {
	n := 0
	for i := 0; i+1 < len(body); i++ {
		if body[i] == '[' && body[i+1] >= '0' && body[i+1] <= '9' {
			n++
		}
	}
	return n
}

// BenchmarkRender24hMinuteSteps is a day at 1-minute steps: 1440 points, each the merge of
// one minute's sketches.
func BenchmarkRender24hMinuteSteps(b *testing.B) {
	_, app := benchEnv(b)
	b.Run("total/p75", func(b *testing.B) { benchRender(b, app, "rumd.total.ttfb.p75", "-24h", 1440, 1400) })
	b.Run("country=*/p50,p75,p95", func(b *testing.B) {
		benchRender(b, app, "rumd.country.*.ttfb.{p50,p75,p95}", "-24h", 1440, 3*1400*8/20)
	})
}

// BenchmarkRender30dDaySteps is 30 days at 1-day steps: 30 points, each the merge of a day
// rollup (the newest from hours and minutes).
func BenchmarkRender30dDaySteps(b *testing.B) {
	_, app := benchEnv(b)
	b.Run("total/p75", func(b *testing.B) { benchRender(b, app, "rumd.total.ttfb.p75", "-30d", 30, 30) })
	b.Run("country=*/p50,p75,p95", func(b *testing.B) {
		benchRender(b, app, "rumd.country.*.ttfb.{p50,p75,p95}", "-30d", 30, 3*30*20)
	})
}
