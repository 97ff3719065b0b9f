// Package loadtest holds `rumd loadtest`: a generator of beacon-v1 traffic from a synthetic
// population, a load loop that sends it to a collector over keep-alive connections (open
// loop at a rate, or closed loop as fast as it can), and a report that checks the
// collector's answers: rejection counts against what it meant to send, and the quantiles the
// query API returns against the exact quantiles of the values it sent. It sits outside the
// pipeline and talks to rumd only over HTTP, as a browser and a dashboard would.
package loadtest

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Options configures one load run. The zero value is not usable: start from DefaultOptions.
type Options struct {
	// Target is the base URL of the collector, e.g. http://127.0.0.1:8080. Empty: no run
	// against rumd (only a baseline run, or only writing the GeoIP file).
	Target string
	// Path is the ingest path on Target.
	Path string
	// Format is the beacon format sent: FormatV1 (rumd's snippet, to /timings) or
	// FormatBoomerang (boomerang's form beacons, to /beacon).
	Format string
	// Rate is the open-loop rate in beacons per second; 0 sends as fast as the connections
	// allow (closed loop).
	Rate float64
	// Duration bounds the time spent sending.
	Duration time.Duration
	// Count bounds the number of beacons sent.
	Count int
	// Connections is the number of keep-alive connections, one sender each.
	Connections int
	// Timeout bounds one HTTP request.
	Timeout time.Duration

	// Baseline selects the bare 204 handler measured in the same run: "" for none,
	// "inproc" to start it in this process, "spawn" to start it in a child process (see
	// SpawnBaseline), or the base URL of one already running.
	Baseline string
	// SpawnBaseline starts a bare handler in a separate process and returns its base URL
	// and a function that stops it; used when Baseline is "spawn". Nil: "spawn" falls back
	// to "inproc".
	SpawnBaseline func() (baseURL string, stop func(), err error)

	// BadShare is the share of beacons that are meant to be rejected, spread over Reasons.
	BadShare float64
	// Reasons are the rejection reasons generated when BadShare > 0; empty means all of
	// BadReasons.
	Reasons []string
	// Pool is the number of distinct pre-encoded beacons; sends cycle through them, each
	// with a fresh page-view id.
	Pool int
	// Seed makes the population and the beacons reproducible.
	Seed int64

	// UseXFF sends each beacon's client address in X-Forwarded-For; rumd must trust the
	// load tool's address (--trusted-proxies 127.0.0.1/32) for the country mix to be real.
	UseXFF bool
	// WriteGeoIP, when set, is where the GeoIP file covering the population's client
	// ranges is written before the run.
	WriteGeoIP string
	// GeoIPLayout is the layout of that file: "geoip2-country" or "iplocation-db".
	GeoIPLayout string

	// Check runs the accuracy check after the run; it needs the query API on Target and
	// a collector that holds no other traffic in the run's time range.
	Check bool
	// MaxRelError is the worst relative quantile error tolerated by the accuracy check.
	MaxRelError float64
	// Quantiles are the quantiles compared by the accuracy check.
	Quantiles []float64
	// MaxGroups bounds the groups compared per dimension (the most frequent ones).
	MaxGroups int
	// VisibleTimeout bounds the wait for the accepted beacons to become visible in queries.
	VisibleTimeout time.Duration
	// APIToken, when set, is sent as a bearer token to the query API.
	APIToken string

	// Progress, when true, prints a live progress line (the CLI sets it for terminals).
	Progress bool
}

// DefaultOptions returns the options of a short, checked run against a local rumd.
func DefaultOptions() Options {
	return Options{
		Target:         "http://127.0.0.1:8080",
		Path:           "/timings",
		Format:         FormatV1,
		Rate:           0,
		Duration:       10 * time.Second,
		Count:          10_000_000,
		Connections:    16,
		Timeout:        5 * time.Second,
		BadShare:       0.05,
		Pool:           20_000,
		Seed:           1,
		UseXFF:         true,
		GeoIPLayout:    "geoip2-country",
		Check:          true,
		MaxRelError:    0.011,
		Quantiles:      []float64{0.5, 0.75, 0.95, 0.99},
		MaxGroups:      10,
		VisibleTimeout: 15 * time.Second,
	}
}

// Validate reports the first option that cannot work.
func (o *Options) Validate() error {
	if o.Target == "" && o.Baseline == "" && o.WriteGeoIP == "" {
		return errors.New("nothing to do: give a target, a baseline or a GeoIP file to write")
	}
	for _, u := range []string{o.Target, o.baselineURL()} {
		if u == "" {
			continue
		}
		if err := checkLoopback(u); err != nil {
			return err
		}
	}
	switch o.Baseline {
	case "", "inproc", "spawn":
	default:
		if !strings.Contains(o.Baseline, "://") {
			return fmt.Errorf("baseline %q: want inproc, spawn or a base URL", o.Baseline)
		}
	}
	if o.Target == "" && o.Baseline == "" {
		return nil // only writing the GeoIP file
	}
	if o.Format != "" && !slices.Contains(Formats(), o.Format) {
		return fmt.Errorf("format %q: want %s", o.Format, strings.Join(Formats(), " or "))
	}
	if !strings.HasPrefix(o.Path, "/") {
		return fmt.Errorf("path %q must start with /", o.Path)
	}
	if o.Rate < 0 {
		return fmt.Errorf("rate %g must not be negative", o.Rate)
	}
	// Beacons are encoded once, with the clock of the start: past 12 h, the good ones would
	// drift towards rumd's 24 h skew bound.
	if o.Duration <= 0 || o.Duration > 12*time.Hour {
		return fmt.Errorf("duration %s must be in (0, 12h]", o.Duration)
	}
	if o.Count <= 0 {
		return fmt.Errorf("count %d must be positive: every run is bounded", o.Count)
	}
	if o.Connections < 1 || o.Connections > 4096 {
		return fmt.Errorf("connections %d must be in [1, 4096]", o.Connections)
	}
	if o.Timeout <= 0 {
		return fmt.Errorf("timeout %s must be positive", o.Timeout)
	}
	if o.BadShare < 0 || o.BadShare > 1 {
		return fmt.Errorf("bad share %g must be in [0, 1]", o.BadShare)
	}
	for _, r := range o.Reasons {
		if !isBadReason(r) {
			return fmt.Errorf("reason %q is not one the generator makes (%s)", r, strings.Join(BadReasons, ", "))
		}
	}
	if o.Pool < 1 || o.Pool > 10_000_000 {
		return fmt.Errorf("pool %d must be in [1, 10000000]", o.Pool)
	}
	switch o.GeoIPLayout {
	case "geoip2-country", "iplocation-db":
	default:
		return fmt.Errorf("geoip layout %q: want geoip2-country or iplocation-db", o.GeoIPLayout)
	}
	if o.Check {
		if !(o.MaxRelError > 0) {
			return fmt.Errorf("max relative error %g must be positive", o.MaxRelError)
		}
		if len(o.Quantiles) == 0 {
			return errors.New("the accuracy check needs at least one quantile")
		}
		for _, q := range o.Quantiles {
			if !(q >= 0 && q <= 1) {
				return fmt.Errorf("quantile %g must be in [0, 1]", q)
			}
		}
		if o.MaxGroups < 1 {
			return fmt.Errorf("max groups %d must be positive", o.MaxGroups)
		}
	}
	return nil
}

func (o *Options) baselineURL() string {
	if strings.Contains(o.Baseline, "://") {
		return o.Baseline
	}
	return ""
}

// checkLoopback refuses targets that are not on this machine: the load tool is for
// measuring a local collector, never for sending traffic elsewhere.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("target %q: %w", raw, err)
	}
	if u.Scheme != "http" {
		return fmt.Errorf("target %q: only http:// is supported", raw)
	}
	switch h := u.Hostname(); {
	case h == "localhost", h == "::1", strings.HasPrefix(h, "127."):
		return nil
	default:
		return fmt.Errorf("target %q: only loopback hosts (127.0.0.0/8, ::1, localhost) are allowed", raw)
	}
}
