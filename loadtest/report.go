package loadtest

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

// Machine describes where a run happened, for the performance record.
type Machine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPUModel   string `json:"cpu_model"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	// LoadAvg is the 1-minute load average before the run: other work on the machine
	// skews every number, and this says how much there was.
	LoadAvg float64 `json:"load_avg_1m"`
}

func thisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			m.LoadAvg, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return m
}

// ReasonCheck is one line of the rejection table: how many beacons were made to be rejected
// for a reason, how many rumd's answers named it, and how many its /metrics counted.
type ReasonCheck struct {
	Reason   string   `json:"reason"`
	Intended int64    `json:"intended"`
	Answered int64    `json:"answered"`
	Metrics  *float64 `json:"metrics,omitempty"`
	OK       bool     `json:"ok"`
}

// Report is the outcome of `rumd loadtest`: written as text, or as JSON with --json.
type Report struct {
	Machine     Machine  `json:"machine"`
	Mode        string   `json:"mode"`
	Format      string   `json:"format"`
	Rate        float64  `json:"target_rate"`
	Duration    float64  `json:"duration_s"`
	Count       int      `json:"count"`
	Connections int      `json:"connections"`
	BadShare    float64  `json:"bad_share"`
	Pool        int      `json:"pool"`
	Rumd        *Result  `json:"rumd,omitempty"`
	Baseline    *Result  `json:"baseline,omitempty"`
	Ratio       *float64 `json:"ratio,omitempty"` // rumd rate / bare rate
	// Rejections compares, per reason and for "accepted", intent with rumd's answers.
	Rejections []ReasonCheck `json:"rejections,omitempty"`
	// MetricsError says why rumd's /metrics could not be compared.
	MetricsError string    `json:"metrics_error,omitempty"`
	Accuracy     *Accuracy `json:"accuracy,omitempty"`
	// VisibleMs is the time from one beacon's 204 until a query counts it.
	VisibleMs *float64 `json:"visible_ms,omitempty"`
	// Problems lists every check that failed; the run passed when it is empty.
	Problems []string `json:"problems"`
	OK       bool     `json:"ok"`
	// GeoIPFile is the GeoIP file written before the run, if any.
	GeoIPFile string `json:"geoip_file,omitempty"`
}

// evaluate fills Rejections and Problems from what the run saw.
func (r *Report) evaluate(maxRelErr float64, metrics *Counts) {
	// Problems found while running (the visibility waits) stay; the checks below add theirs.
	if res := r.Rumd; res != nil {
		if res.Errors > 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("%d sends to rumd got no answer (first: %s)", res.Errors, res.FirstError))
		}
		reasons := map[string]bool{}
		for k := range res.Intended {
			if k != "" {
				reasons[k] = true
			}
		}
		for k := range res.Rejected {
			reasons[k] = true
		}
		if metrics != nil {
			for k := range metrics.Rejected {
				reasons[k] = true
			}
		}
		r.Rejections = nil
		check := func(name string, intended, answered int64, m *float64) {
			c := ReasonCheck{Reason: name, Intended: intended, Answered: answered, Metrics: m}
			c.OK = intended == answered && (m == nil || *m == float64(intended))
			if !c.OK {
				msg := fmt.Sprintf("%s: meant %d, rumd answered %d", name, intended, answered)
				if m != nil {
					msg += fmt.Sprintf(", /metrics counted %.0f", *m)
				}
				r.Problems = append(r.Problems, msg)
			}
			r.Rejections = append(r.Rejections, c)
		}
		for _, k := range sortedKeys(reasons) {
			var m *float64
			if metrics != nil {
				v := metrics.Rejected[k]
				m = &v
			}
			check(k, res.Intended[k], res.Rejected[k], m)
		}
		var m *float64
		if metrics != nil {
			v := metrics.Accepted
			m = &v
		}
		check("accepted", res.Intended[""], res.Accepted, m)
	}
	if r.Baseline != nil && r.Baseline.Errors > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d sends to the baseline got no answer (first: %s)", r.Baseline.Errors, r.Baseline.FirstError))
	}
	if r.Rumd != nil && r.Baseline != nil && r.Baseline.Rate > 0 {
		v := math.Round(r.Rumd.Rate/r.Baseline.Rate*1000) / 1000
		r.Ratio = &v
	}
	if a := r.Accuracy; a != nil {
		if a.GeoIPMismatch != "" {
			r.Problems = append(r.Problems, "rumd's countries differ from the load tool's ("+a.GeoIPMismatch+"): it runs without the tool's GeoIP file, so the checks by country were skipped; "+
				"run `rumd loadtest --target '' --write-geoip loadtest.mmdb` and restart rumd with `--geoip loadtest.mmdb --trusted-proxies 127.0.0.1/32` (or load it with --xff=false)")
		}
		if a.Worst != nil && !(a.Worst.RelError <= maxRelErr) {
			w := a.Worst
			r.Problems = append(r.Problems, fmt.Sprintf("accuracy: %s p%s %s: rumd %g, exact %g: error %.2f%% > %.2f%%",
				w.Metric, qLabel(w.Q), w.Group, w.Got, w.Exact, 100*w.RelError, 100*maxRelErr))
		}
		if a.Compared == 0 && len(a.QueryErrors) == 0 {
			r.Problems = append(r.Problems, "accuracy: nothing compared")
		}
		for _, m := range a.CountMismatches {
			r.Problems = append(r.Problems, "count: "+m)
		}
		for _, m := range a.Missing {
			r.Problems = append(r.Problems, "missing in rumd: "+m)
		}
		for _, m := range a.QueryErrors {
			r.Problems = append(r.Problems, "query: "+m)
		}
	}
	r.OK = len(r.Problems) == 0
}

func qLabel(q float64) string {
	s := fmt.Sprintf("%g", q*100)
	return s
}

// WriteText writes the report for a person.
func (r *Report) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }
	if r.GeoIPFile != "" {
		p("wrote GeoIP file %s covering the load tool's client ranges\n", r.GeoIPFile)
	}
	if r.Rumd == nil && r.Baseline == nil {
		return bw.Flush()
	}
	mode := "closed loop (as fast as it can)"
	if r.Rate > 0 {
		mode = fmt.Sprintf("open loop at %g/s", r.Rate)
	}
	format := r.Format
	if format == "" {
		format = FormatV1
	}
	p("rumd loadtest: %s beacons, %s, %d connections, at most %gs and %d beacons, %.1f%% bad, pool %d\n",
		format, mode, r.Connections, r.Duration, r.Count, 100*r.BadShare, r.Pool)
	p("machine: %d CPUs (GOMAXPROCS %d), %s, %s/%s, load average %.2f before the run\n\n",
		r.Machine.CPUs, r.Machine.GOMAXPROCS, r.Machine.CPUModel, r.Machine.OS, r.Machine.Arch, r.Machine.LoadAvg)
	p("%-9s %9s %9s %9s %7s %10s %8s %8s %8s %8s\n", "target", "sent", "accepted", "rejected", "errors", "rate/s", "p50 ms", "p95 ms", "p99 ms", "max ms")
	row := func(name string, res *Result) {
		var rej int64
		for _, v := range res.Rejected {
			rej += v
		}
		p("%-9s %9d %9d %9d %7d %10.1f %8.3f %8.3f %8.3f %8.3f\n", name, res.Sent, res.Accepted, rej, res.Errors,
			res.Rate, res.Latency.P50, res.Latency.P95, res.Latency.P99, res.Latency.Max)
		if res.Late > 0 {
			p("%-9s %d sends started over 10 ms behind schedule: all %d connections were busy\n", "", res.Late, r.Connections)
		}
	}
	if r.Rumd != nil {
		row("rumd", r.Rumd)
	}
	if r.Baseline != nil {
		row("bare", r.Baseline)
	}
	if r.Ratio != nil {
		p("ratio rumd/bare: %.3f (budget ≥ 0.60)\n", *r.Ratio)
	}
	if len(r.Rejections) > 0 {
		p("\n%-14s %9s %9s %9s\n", "reason", "meant", "answered", "/metrics")
		for _, c := range r.Rejections {
			m := "-"
			if c.Metrics != nil {
				m = fmt.Sprintf("%.0f", *c.Metrics)
			}
			verdict := "ok"
			if !c.OK {
				verdict = "MISMATCH"
			}
			p("%-14s %9d %9d %9s  %s\n", c.Reason, c.Intended, c.Answered, m, verdict)
		}
	}
	if r.MetricsError != "" {
		p("/metrics not compared: %s\n", r.MetricsError)
	}
	if a := r.Accuracy; a != nil {
		p("\naccuracy: %d quantiles of %d (metric, group) pairs from %d queries, visible after %.3f s\n",
			a.Compared, a.Groups, a.Queries, a.VisibleAfter)
		per := append([]Comparison(nil), a.PerQ...)
		sort.Slice(per, func(i, j int) bool { return per[i].Q < per[j].Q })
		for _, c := range per {
			p("  worst p%-4s %-15s %-38s exact %9.4g  rumd %9.4g  error %.3f%%  (n=%d)\n",
				qLabel(c.Q), c.Metric, c.Group, c.Exact, c.Got, 100*c.RelError, c.Count)
		}
	}
	if a := r.Accuracy; a != nil && len(a.PerMetric) > 0 {
		p("  worst by metric:")
		for i, c := range a.PerMetric {
			if i > 0 && i%6 == 0 {
				p("\n                  ")
			}
			p(" %s %.3f%%", c.Metric, 100*c.RelError)
		}
		p("\n")
	}
	if r.VisibleMs != nil {
		p("a beacon is visible in queries %.1f ms after its 204\n", *r.VisibleMs)
	}
	if r.OK {
		p("\nOK\n")
	} else {
		p("\nFAIL\n")
		for _, pr := range r.Problems {
			p("  %s\n", pr)
		}
	}
	return bw.Flush()
}
