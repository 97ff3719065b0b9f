// Command benchreport is the second half of `make bench`: it reads the output of the Go
// micro-benchmarks, serves a fresh rumd on loopback, loads it and a bare 204 handler with
// `rumd loadtest --baseline`, samples rumd's resident memory meanwhile, and prints one
// summary table next to the budgets of docs/design.md §7. With several connection counts
// and -runs, it repeats each load and ends with the medians per format and connection
// count, which is what the ratio budget is judged on (single runs on a shared machine
// spread widely).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"rumd/loadtest"
)

func main() {
	benchFile := flag.String("bench", "", "output of go test -bench (- for stdin); empty: no micro-benchmarks")
	bin := flag.String("rumd", "bin/rumd", "rumd binary to load; empty: no load run")
	duration := flag.Duration("duration", 10*time.Second, "load duration per target")
	count := flag.Int("count", 5_000_000, "bound on beacons per target")
	conns := flag.String("connections", "16", "keep-alive connections; a comma-separated list loads each in turn")
	runs := flag.Int("runs", 1, "load runs per format and connection count; the summary gives their medians")
	rate := flag.Float64("rate", 0, "open-loop rate; 0 for closed loop")
	baseline := flag.Bool("baseline", true, "also load the bare 204 handler, for the ratio")
	formats := flag.String("formats", "v1,boomerang", "beacon formats to load, each against a fresh rumd (comma-separated)")
	flag.Parse()
	var connList []int
	for _, f := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 4096 {
			fmt.Fprintf(os.Stderr, "benchreport: -connections %q: want positive numbers like 16,64\n", *conns)
			os.Exit(2)
		}
		connList = append(connList, n)
	}
	if *runs < 1 || *runs > 20 {
		fmt.Fprintf(os.Stderr, "benchreport: -runs %d: want 1..20\n", *runs)
		os.Exit(2)
	}
	if err := run(*benchFile, *bin, strings.Split(*formats, ","), *duration, *count, connList, *runs, *rate, *baseline); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(benchFile, bin string, formats []string, duration time.Duration, count int, conns []int, runs int, rate float64, baseline bool) error {
	var benches []bench
	if benchFile != "" {
		var r io.Reader = os.Stdin
		if benchFile != "-" {
			f, err := os.Open(benchFile)
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		var err error
		if benches, err = parseBench(r); err != nil {
			return err
		}
	}
	var loads []*loadResult
	if bin != "" {
		// Runs go round the formats and connection counts in turn, so a stretch of other
		// work on the machine spreads over all of them rather than one.
		for i := 0; i < runs; i++ {
			for _, c := range conns {
				for _, format := range formats {
					load, err := runLoad(bin, strings.TrimSpace(format), duration, count, c, rate, baseline)
					if err != nil {
						return err
					}
					loads = append(loads, load)
				}
			}
		}
	}
	printTable(os.Stdout, benches, loads)
	if len(loads) > len(formats) {
		printMedians(os.Stdout, loads)
	}
	for _, load := range loads {
		if !load.rep.OK || load.exit != 0 {
			return fmt.Errorf("the %s load run failed its checks: %s", load.format, strings.Join(load.rep.Problems, "; "))
		}
	}
	return nil
}

// bench is one micro-benchmark, the median of its -count runs.
type bench struct {
	pkg, name              string
	runs                   int
	ns, bytes, allocs, mbs float64
}

func parseBench(r io.Reader) ([]bench, error) {
	type key struct{ pkg, name string }
	samples := map[key][][4]float64{}
	var order []key
	pkg := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimPrefix(strings.TrimSpace(p), "rumd/")
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		var s [4]float64
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				s[0] = v
			case "B/op":
				s[1] = v
			case "allocs/op":
				s[2] = v
			case "MB/s":
				s[3] = v
			}
		}
		k := key{pkg, name}
		if _, ok := samples[k]; !ok {
			order = append(order, k)
		}
		samples[k] = append(samples[k], s)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	out := make([]bench, 0, len(order))
	for _, k := range order {
		ss := samples[k]
		med := func(i int) float64 {
			xs := make([]float64, len(ss))
			for j, s := range ss {
				xs[j] = s[i]
			}
			sort.Float64s(xs)
			return xs[len(xs)/2]
		}
		out = append(out, bench{pkg: k.pkg, name: k.name, runs: len(ss), ns: med(0), bytes: med(1), allocs: med(2), mbs: med(3)})
	}
	return out, nil
}

type loadResult struct {
	format string
	conns  int
	cmd    string
	rep    loadtest.Report
	exit   int
	maxRSS int64 // bytes
	avgRSS int64
	cpu    time.Duration // rumd's CPU time (user + system) over the whole load command
	// bareCPU is the spawned bare handler's CPU time, as last sampled (≤ 100 ms short).
	bareCPU time.Duration
}

// runLoad serves rumd from bin on a free loopback port with a fresh data directory and the
// load tool's GeoIP file, then runs `rumd loadtest --json` (with --baseline when asked)
// against it, sending beacons of format (v1 or boomerang).
func runLoad(bin, format string, duration time.Duration, count, conns int, rate float64, baseline bool) (*loadResult, error) {
	dir, err := os.MkdirTemp("", "rumd-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	geo := filepath.Join(dir, "geoip.mmdb")
	if err := loadtest.WriteGeoIP(geo, "geoip2-country"); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	var logs bytes.Buffer
	srv := exec.Command(bin, "serve", "--listen", addr, "--data", filepath.Join(dir, "data"),
		"--geoip", geo, "--trusted-proxies", "127.0.0.1/32",
		// The tool's synthetic clients come from a few address ranges; at load-test rates
		// they would trip the per-prefix limit, which is not what is measured here.
		"--rate-limit", "0", "--rate-limit-prefix", "0")
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start rumd: %w", err)
	}
	defer func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = srv.Process.Kill()
			<-done
		}
	}()
	base := "http://" + addr
	if err := waitHealthy(base, 30*time.Second); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, logs.String())
	}

	args := []string{"loadtest", "--target", base, "--duration", duration.String(),
		"--count", strconv.Itoa(count), "--connections", strconv.Itoa(conns),
		"--rate", strconv.FormatFloat(rate, 'g', -1, 64), "--format", format, "--json"}
	if baseline {
		args = append(args, "--baseline")
	}
	lt := exec.Command(bin, args...)
	var out bytes.Buffer
	lt.Stdout, lt.Stderr = &out, os.Stderr
	cpu0, cpuErr := cpuOf(srv.Process.Pid)
	if err := lt.Start(); err != nil {
		return nil, err
	}

	// Sample rumd's memory, and the CPU time of the load command's children (the spawned
	// bare handler), until the load command exits.
	var mu sync.Mutex
	var maxRSS, sumRSS, nRSS int64
	childCPU := map[int]time.Duration{}
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			mu.Lock()
			if rss, err := rssOf(srv.Process.Pid); err == nil {
				maxRSS = max(maxRSS, rss)
				sumRSS += rss
				nRSS++
			}
			for _, pid := range childrenOf(lt.Process.Pid) {
				if c, err := cpuOf(pid); err == nil {
					childCPU[pid] = max(childCPU[pid], c)
				}
			}
			mu.Unlock()
		}
	}()
	err = lt.Wait()
	cpu1, cpuErr1 := cpuOf(srv.Process.Pid)
	close(stop)
	<-sampled
	res := &loadResult{format: format, conns: conns, cmd: "rumd " + strings.Join(args, " "), maxRSS: maxRSS}
	if cpuErr == nil && cpuErr1 == nil {
		res.cpu = cpu1 - cpu0
	}
	for _, c := range childCPU {
		res.bareCPU += c
	}
	if nRSS > 0 {
		res.avgRSS = sumRSS / nRSS
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.exit = ee.ExitCode()
	} else if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(out.Bytes(), &res.rep); err != nil {
		return nil, fmt.Errorf("rumd loadtest exited %d without a JSON report: %v", res.exit, err)
	}
	return res, nil
}

func waitHealthy(base string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("rumd not healthy on %s after %s: %v", base, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cpuOf reads a process's user and system CPU time from /proc (in USER_HZ ticks, 100 on
// Linux).
func cpuOf(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed stat times")
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// childrenOf lists a process's children: on Linux each thread lists those it forked, in
// /proc/PID/task/TID/children.
func childrenOf(pid int) []int {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if p, err := strconv.Atoi(f); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// rssOf reads a process's resident set size from /proc.
func rssOf(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, errors.New("no VmRSS")
}

func printTable(w io.Writer, benches []bench, loads []*loadResult) {
	cpu := cpuModel()
	fmt.Fprintf(w, "\nrumd performance summary: %d CPUs %s, %s %s/%s\n", runtime.NumCPU(), cpu, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintln(w)
	if len(benches) > 0 {
		fmt.Fprintf(w, "%-64s %12s %10s %10s\n", "micro-benchmark (median of runs)", "ns/op", "B/op", "allocs/op")
		for _, b := range benches {
			fmt.Fprintf(w, "%-64s %12.1f %10.0f %10.0f\n", trim(b.pkg+" "+b.name, 64), b.ns, b.bytes, b.allocs)
		}
		fmt.Fprintln(w)
	}
	for _, load := range loads {
		printLoad(w, load)
	}
}

// printMedians prints, per format and connection count, each run's ratio and the medians of
// the ratio and of the CPU per beacon.
func printMedians(w io.Writer, loads []*loadResult) {
	type key struct {
		format string
		conns  int
	}
	var order []key
	by := map[key][]*loadResult{}
	for _, l := range loads {
		k := key{l.format, l.conns}
		if by[k] == nil {
			order = append(order, k)
		}
		by[k] = append(by[k], l)
	}
	fmt.Fprintf(w, "medians of runs (budget: ratio ≥ 0.60 at every format and connection count)\n")
	fmt.Fprintf(w, "%-10s %6s %-24s %7s %12s %12s %12s\n", "format", "conns", "ratio of each run", "median", "rumd b/s", "rumd µs/b", "bare µs/b")
	for _, k := range order {
		var ratios, rates, cpu, bare []float64
		for _, l := range by[k] {
			r := &l.rep
			if r.Ratio != nil {
				ratios = append(ratios, *r.Ratio)
			}
			if r.Rumd != nil && r.Rumd.Sent > 0 {
				rates = append(rates, r.Rumd.Rate)
				if l.cpu > 0 {
					cpu = append(cpu, float64(l.cpu.Microseconds())/float64(r.Rumd.Sent))
				}
			}
			if r.Baseline != nil && r.Baseline.Sent > 0 && l.bareCPU > 0 {
				bare = append(bare, float64(l.bareCPU.Microseconds())/float64(r.Baseline.Sent))
			}
		}
		each := make([]string, len(ratios))
		for i, x := range ratios {
			each[i] = fmt.Sprintf("%.2f", x)
		}
		fmt.Fprintf(w, "%-10s %6d %-24s %7s %12s %12s %12s\n", k.format, k.conns, strings.Join(each, " "),
			fmtMedian(ratios, "%.2f"), fmtMedian(rates, "%.0f"), fmtMedian(cpu, "%.1f"), fmtMedian(bare, "%.1f"))
	}
	fmt.Fprintln(w)
}

func fmtMedian(xs []float64, format string) string {
	if len(xs) == 0 {
		return "-"
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return fmt.Sprintf(format, m)
}

// printLoad prints one load run: its rates and latencies, and its checks against the budgets.
func printLoad(w io.Writer, load *loadResult) {
	r := &load.rep
	fmt.Fprintf(w, "%s beacons, %d connections — load average before the run: %.2f (other work on the machine skews the figures)\n", load.format, load.conns, r.Machine.LoadAvg)
	fmt.Fprintf(w, "%-24s %12s %9s %9s %9s %9s\n", "load ("+r.Mode+" loop)", "beacons/s", "p50 ms", "p95 ms", "p99 ms", "max ms")
	row := func(name string, res *loadtest.Result) {
		if res == nil {
			return
		}
		fmt.Fprintf(w, "%-24s %12.0f %9.3f %9.3f %9.3f %9.3f\n", name, res.Rate, res.Latency.P50,
			res.Latency.P95, res.Latency.P99, res.Latency.Max)
	}
	row("bare fiber 204", r.Baseline)
	row("rumd", r.Rumd)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-40s %-22s %s\n", "measure", "measured", "budget (docs/design.md §7)")
	if r.Ratio != nil {
		fmt.Fprintf(w, "%-40s %-22s %s\n", "ingest rate, rumd / bare", fmt.Sprintf("%.2f", *r.Ratio), "≥ 0.60")
	}
	if a := r.Accuracy; a != nil && a.Worst != nil {
		fmt.Fprintf(w, "%-40s %-22s %s\n", "worst quantile error (p50..p99)",
			fmt.Sprintf("%.3f%% (%d compared)", 100*a.Worst.RelError, a.Compared), "≤ 1.1%")
	}
	if a := r.Accuracy; a != nil && len(a.PerMetric) > 0 {
		var parts []string
		for _, c := range a.PerMetric {
			parts = append(parts, fmt.Sprintf("%s %.2f%%", c.Metric, 100*c.RelError))
		}
		fmt.Fprintf(w, "  by metric: %s\n", strings.Join(parts, ", "))
	}
	if r.VisibleMs != nil {
		fmt.Fprintf(w, "%-40s %-22s %s\n", "accepted → visible in a query", fmt.Sprintf("%.1f ms", *r.VisibleMs), "≤ 2 s")
	}
	if r.Rumd != nil && r.Rumd.Sent > 0 && load.cpu > 0 {
		fmt.Fprintf(w, "%-40s %-22s %s\n", "rumd CPU per beacon (all of its work)",
			fmt.Sprintf("%.1f µs", float64(load.cpu.Microseconds())/float64(r.Rumd.Sent)), "")
	}
	if r.Baseline != nil && r.Baseline.Sent > 0 && load.bareCPU > 0 {
		fmt.Fprintf(w, "%-40s %-22s %s\n", "bare handler CPU per beacon",
			fmt.Sprintf("%.1f µs", float64(load.bareCPU.Microseconds())/float64(r.Baseline.Sent)), "")
	}
	fmt.Fprintf(w, "%-40s %-22s %s\n", "rumd RSS during load (max / mean)",
		fmt.Sprintf("%.0f / %.0f MiB", float64(load.maxRSS)/(1<<20), float64(load.avgRSS)/(1<<20)), "bounded")
	rej := "all match"
	for _, c := range r.Rejections {
		if !c.OK {
			rej = "MISMATCH"
		}
	}
	fmt.Fprintf(w, "%-40s %-22s %s\n", "rejections by reason vs intended", rej, "exact")
	verdict := "OK"
	if !r.OK {
		verdict = "FAIL: " + strings.Join(r.Problems, "; ")
	}
	fmt.Fprintf(w, "\nload command: %s\nverdict: %s\n\n", load.cmd, verdict)
}

func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return "(" + strings.TrimSpace(v) + ")"
		}
	}
	return ""
}
