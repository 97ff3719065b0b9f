package loadtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"rumd/internal/series"
)

// Run does what opts ask: write the GeoIP file, load the baseline, load rumd, check rumd's
// answers. Progress lines go to progress when opts.Progress is set. The returned report says
// whether every check passed; an error means the run itself could not be made.
func Run(ctx context.Context, opts Options, progress io.Writer) (*Report, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.WriteGeoIP != "" {
		if err := WriteGeoIP(opts.WriteGeoIP, opts.GeoIPLayout); err != nil {
			return nil, err
		}
	}
	rep := &Report{
		Machine: thisMachine(), Mode: "closed", Format: opts.Format, Rate: opts.Rate, Duration: opts.Duration.Seconds(),
		Count: opts.Count, Connections: opts.Connections, BadShare: opts.BadShare, Pool: opts.Pool,
	}
	if opts.Rate > 0 {
		rep.Mode = "open"
	}
	rep.GeoIPFile = opts.WriteGeoIP
	if opts.Target == "" && opts.Baseline == "" {
		rep.OK = true
		return rep, nil
	}
	build := BuildPool
	if opts.Format == FormatBoomerang {
		build = BuildBoomerangPool
	}
	pool, err := build(opts.Pool, opts.BadShare, opts.Reasons, opts.Seed, time.Now())
	if err != nil {
		return nil, err
	}
	if !opts.UseXFF {
		// Without X-Forwarded-For every beacon comes from 127.0.0.1, which no GeoIP file
		// places: rumd must report them all as unknown.
		for i := range pool.Items {
			pool.Items[i].Country = "XX"
		}
	}

	if opts.Baseline != "" {
		// The baseline goes first, while rumd idles, so neither run pays for the other.
		base, stop, err := startBaseline(&opts)
		if err != nil {
			return nil, err
		}
		res, err := loadWithProgress(ctx, base, pool, &opts, progress, "bare")
		stop()
		if err != nil {
			return nil, fmt.Errorf("baseline run: %w", err)
		}
		rep.Baseline = res
	}

	var metrics *Counts
	if opts.Target != "" {
		api := &apiClient{base: opts.Target, token: opts.APIToken, http: &http.Client{Timeout: 30 * time.Second}}
		before, berr := api.scrapeCounts(ctx)
		started := time.Now()
		res, err := loadWithProgress(ctx, opts.Target, pool, &opts, progress, "rumd")
		if err != nil {
			return nil, fmt.Errorf("rumd run: %w", err)
		}
		rep.Rumd = res
		if opts.Check && res.Accepted > 0 {
			from := started.Unix() - started.Unix()%60
			to := time.Now().Unix() + 120
			want := withTTFB(pool, res.accepted)
			seen, waited, err := api.waitVisible(ctx, from, to, want, opts.VisibleTimeout)
			if err != nil {
				rep.Problems = append(rep.Problems, "accuracy check: "+err.Error())
			} else if seen != want {
				rep.Problems = append(rep.Problems, fmt.Sprintf(
					"rumd counts %d ttfb values in the run's range after %s, the run had %d accepted with one (other traffic, or lost beacons)",
					seen, waited.Round(time.Millisecond), want))
			}
			acc, err := checkAccuracy(ctx, api, pool, res.accepted, from, to, &opts)
			if err != nil {
				return nil, fmt.Errorf("accuracy check: %w", err)
			}
			acc.VisibleAfter = waited.Seconds()
			rep.Accuracy = acc
		}
		if berr == nil {
			after, aerr := api.scrapeCounts(ctx)
			if aerr == nil {
				d := after.Sub(before)
				metrics = &d
			} else {
				rep.MetricsError = aerr.Error()
			}
		} else {
			rep.MetricsError = berr.Error()
		}
		if opts.Check {
			if ms, err := measureVisibility(ctx, api, &opts, pool); err == nil {
				rep.VisibleMs = &ms
			} else {
				rep.Problems = append(rep.Problems, "visibility: "+err.Error())
			}
		}
	}
	rep.evaluate(opts.MaxRelError, metrics)
	return rep, nil
}

// withTTFB is the number of accepted sends that carry a TTFB: every page load, but not
// boomerang's unload beacons, which carry only INP.
func withTTFB(pool *Pool, accepted []uint32) int64 {
	var n int64
	for i := range pool.Items {
		if pool.Items[i].Has&(1<<series.TTFB) != 0 {
			n += int64(accepted[i])
		}
	}
	return n
}

func startBaseline(opts *Options) (string, func(), error) {
	switch opts.Baseline {
	case "spawn":
		if opts.SpawnBaseline != nil {
			u, stop, err := opts.SpawnBaseline()
			if err != nil {
				return "", nil, fmt.Errorf("spawn baseline: %w", err)
			}
			if err := checkLoopback(u); err != nil {
				stop()
				return "", nil, err
			}
			return u, stop, nil
		}
		fallthrough
	case "inproc":
		b, err := StartBaseline("127.0.0.1:0", opts.Path)
		if err != nil {
			return "", nil, err
		}
		return b.URL(), func() { _ = b.Close() }, nil
	}
	return opts.Baseline, func() {}, nil
}

// loadWithProgress runs the load and, when asked, rewrites one progress line a second.
func loadWithProgress(ctx context.Context, target string, pool *Pool, opts *Options, w io.Writer, name string) (*Result, error) {
	live := &counters{}
	done := make(chan struct{})
	stopped := make(chan struct{})
	if opts.Progress && w != nil {
		go func() {
			defer close(stopped)
			t := time.NewTicker(time.Second)
			defer t.Stop()
			start := time.Now()
			var lastAns, lastLat int64
			for {
				select {
				case <-done:
					fmt.Fprint(w, "\r\033[K")
					return
				case <-t.C:
				}
				ans, lat := live.answered.Load(), live.latNanos.Load()
				mean := 0.0
				if ans > lastAns {
					mean = float64(lat-lastLat) / float64(ans-lastAns) / 1e6
				}
				fmt.Fprintf(w, "\r\033[K%s %5.0fs  sent %d  rate %.0f/s  rejected %d  errors %d  latency %.2f ms",
					name, time.Since(start).Seconds(), live.sent.Load(), float64(ans-lastAns),
					live.rejected.Load(), live.errors.Load(), mean)
				lastAns, lastLat = ans, lat
			}
		}()
	} else {
		close(stopped)
	}
	res, err := runLoad(ctx, target, pool, opts, live)
	close(done)
	<-stopped
	return res, err
}

// measureVisibility sends one good beacon labelled with a variant of its own and returns
// the milliseconds from its 204 until a query counts it.
func measureVisibility(ctx context.Context, api *apiClient, opts *Options, pool *Pool) (float64, error) {
	var it *Item
	for i := range pool.Items {
		if pool.Items[i].Reason == "" {
			it = &pool.Items[i]
			break
		}
	}
	if it == nil {
		return 0, fmt.Errorf("no good beacon in the pool")
	}
	variant := "lt-visible-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	var b Beacon
	v := View{URL: "https://www.example.com/", Nav: "navigate", netSlow: 1, renderSlow: 1}
	r := newRand(opts.Seed + 7)
	b.URL, b.Nav, b.Variant = v.URL, v.Nav, variant
	timeline(r, &b, &v, float64(time.Now().UnixMilli()))
	body, off := b.AppendJSON(nil)
	ct := "text/plain;charset=UTF-8"
	if opts.Format == FormatBoomerang {
		toBoomerang(&b)
		body, off = b.AppendBoomerangLoad(nil, clockOf(&b))
		ct = formContentType
	}
	putID(body[off:], uint32(time.Now().Unix()), uint64(time.Now().UnixNano()))
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(opts.Target + opts.Path)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType(ct)
	req.Header.SetUserAgent(it.UA)
	req.SetBodyRaw(body)
	if err := fasthttp.DoTimeout(req, resp, opts.Timeout); err != nil {
		return 0, fmt.Errorf("send: %w", err)
	}
	if resp.StatusCode() != http.StatusNoContent {
		return 0, fmt.Errorf("marker beacon answered %d: %s", resp.StatusCode(), resp.Body())
	}
	accepted := time.Now()
	from := accepted.Unix() - accepted.Unix()%60 - 60
	to := accepted.Unix() + 120
	sel := selection{filter: map[string]string{"variant": variant}}
	for time.Since(accepted) < opts.VisibleTimeout {
		a, err := api.summary(ctx, "ttfb", from, to, []string{"0.5"}, sel)
		if err != nil {
			return 0, err
		}
		for _, row := range a.Rows {
			if row.Count > 0 {
				return float64(time.Since(accepted).Microseconds()) / 1000, nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return 0, fmt.Errorf("not visible after %s", opts.VisibleTimeout)
}
