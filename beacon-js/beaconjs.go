// Package beaconjs serves what runs in visitors' browsers, the first stage of rumd's
// pipeline: the snippet (/rumd.js) that sends one beacon (wire format v1) per sampled page
// view, the test page (/test) that shows visitors their own timings and runs the probes, and
// its silent, sampled iframe mode (/test/embed). The scripts are bundled from src/ by
// `go generate` into dist/, committed, and embedded in the binary.
package beaconjs

//go:generate go run ./build

import (
	"embed"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"
)

//go:embed dist/rumd.js dist/testpage.js dist/embed.js src/test.html src/embed.html
var files embed.FS

// Probe is one object the test page fetches to time a host, e.g. the same small file on two
// CDNs. Every {rand} in URL is replaced by one fresh random token per fetch (in the host
// name too, for a cold DNS lookup under a wildcard record); a URL without {rand} gets the
// token as a cache-busting query parameter.
type Probe struct {
	Name string `yaml:"name" validate:"required"`
	URL  string `yaml:"url" validate:"required"`
}

// Options configures what Mount serves.
type Options struct {
	// Endpoint is where beacons are posted: a path on rumd's host (resolved against
	// /rumd.js's own URL, so the snippet works from any site) or an absolute http(s) URL.
	Endpoint string
	// SampleRate is the share of page views, in percent (0–100), the snippet reports
	// unless its script tag or page config says otherwise.
	SampleRate float64
	// Probes are run, in order, by /test and /test/embed.
	Probes []Probe
	// EmbedMaxSample caps, in percent, the ?sample= of /test/embed; a missing or invalid
	// ?sample= means this ceiling.
	EmbedMaxSample float64
	// Experiments are A/B tests of /test and /test/embed: each of their page views picks a
	// variant of one experiment (?experiment=, default the first) by weight, runs its
	// probes after Probes, and reports the variant's name.
	Experiments []Experiment
}

// DefaultOptions returns the options rumd serves when its config says nothing.
func DefaultOptions() Options {
	return Options{Endpoint: "/timings", SampleRate: 100, EmbedMaxSample: 10}
}

var probeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Validate reports every setting that cannot be served, joined into one error.
func (o Options) Validate() error {
	var errs []error
	if err := validEndpoint(o.Endpoint); err != nil {
		errs = append(errs, err)
	}
	if !validPercent(o.SampleRate) {
		errs = append(errs, fmt.Errorf("sample rate %v: want a percentage from 0 to 100", o.SampleRate))
	}
	if !validPercent(o.EmbedMaxSample) {
		errs = append(errs, fmt.Errorf("embed max sample %v: want a percentage from 0 to 100", o.EmbedMaxSample))
	}
	errs = append(errs, validProbes("", o.Probes, nil)...)
	errs = append(errs, validExperiments(o.Experiments, o.Probes)...)
	return errors.Join(errs...)
}

func validPercent(v float64) bool { return !math.IsNaN(v) && v >= 0 && v <= 100 }

func validEndpoint(e string) error {
	if strings.HasPrefix(e, "/") && !strings.HasPrefix(e, "//") {
		return nil
	}
	u, err := url.Parse(e)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("endpoint %q: want a path starting with / or an absolute http(s) URL", e)
	}
	return nil
}

// validProbeURL accepts an absolute http(s) URL or a path on rumd's host, {rand} anywhere.
func validProbeURL(tpl string) error {
	s := strings.ReplaceAll(tpl, "{rand}", "r4nd")
	if strings.ContainsAny(s, "{}\"<> \t\n") {
		return fmt.Errorf("url %q: only {rand} may stand in braces, and no spaces, quotes or angle brackets", tpl)
	}
	if strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q: want an absolute http(s) URL or a path starting with /", tpl)
	}
	return nil
}
