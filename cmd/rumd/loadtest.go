package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"

	"rumd/ingest"
	"rumd/loadtest"
)

// baselineFlag is --baseline: bare, it means "spawn"; with a value, inproc, spawn or a URL.
type baselineFlag struct{ v *string }

func (f baselineFlag) String() string {
	if f.v == nil {
		return ""
	}
	return *f.v
}

func (f baselineFlag) Set(s string) error {
	switch s {
	case "true":
		*f.v = "spawn"
	case "false":
		*f.v = ""
	default:
		*f.v = s
	}
	return nil
}

func (f baselineFlag) IsBoolFlag() bool { return true }

// runLoadtest is `rumd loadtest`: it parses the flags into loadtest.Options, runs, prints
// the report and returns the exit code: 0 when every check passed, 1 when one failed, 2
// when the run could not be made.
func runLoadtest(args []string) int {
	opts := loadtest.DefaultOptions()
	fs := flag.NewFlagSet("rumd loadtest", flag.ContinueOnError)
	fs.StringVar(&opts.Target, "target", opts.Target, "base URL of the rumd to load (loopback only); empty: none")
	fs.StringVar(&opts.Path, "path", opts.Path, "ingest path on the target and the baseline (default: the format's own, e.g. /beacon with --format boomerang)")
	fs.StringVar(&opts.Format, "format", opts.Format, "beacons to send: "+loadtestFormats())
	fs.Float64Var(&opts.Rate, "rate", opts.Rate, "open-loop rate in beacons/s; 0: closed loop, as fast as it can")
	fs.DurationVar(&opts.Duration, "duration", opts.Duration, "bound on the time spent sending, per target")
	fs.IntVar(&opts.Count, "count", opts.Count, "bound on the beacons sent, per target")
	fs.IntVar(&opts.Connections, "connections", opts.Connections, "keep-alive connections, one sender each")
	fs.DurationVar(&opts.Timeout, "timeout", opts.Timeout, "bound on one HTTP request")
	fs.Var(baselineFlag{&opts.Baseline}, "baseline", "first load a bare fiber handler answering 204, for the rumd/bare ratio: given alone or =spawn, in a child process; =inproc in this one; =URL one already running")
	fs.Float64Var(&opts.BadShare, "bad-share", opts.BadShare, "share of beacons made to be rejected, spread over --reasons")
	reasons := fs.String("reasons", "", "comma-separated rejection reasons to make, each with an optional integer weight as in bot:3,clock_skew:1 (default: all of "+strings.Join(loadtest.BadReasons, ",")+", evenly)")
	fs.IntVar(&opts.Pool, "pool", opts.Pool, "distinct pre-encoded beacons to cycle through")
	fs.Int64Var(&opts.Seed, "seed", opts.Seed, "seed of the synthetic population")
	fs.BoolVar(&opts.UseXFF, "xff", opts.UseXFF, "send client addresses in X-Forwarded-For (rumd must trust 127.0.0.1)")
	fs.StringVar(&opts.WriteGeoIP, "write-geoip", "", "write a GeoIP file covering the population's client ranges to this path first")
	fs.StringVar(&opts.GeoIPLayout, "geoip-layout", opts.GeoIPLayout, "layout of --write-geoip: geoip2-country or iplocation-db")
	fs.BoolVar(&opts.Check, "check", opts.Check, "check rumd's quantiles against the exact ones (needs a rumd with no other traffic)")
	fs.Float64Var(&opts.MaxRelError, "max-error", opts.MaxRelError, "worst relative quantile error the check tolerates")
	quantiles := fs.String("quantiles", "0.5,0.75,0.95,0.99", "quantiles the check compares")
	fs.IntVar(&opts.MaxGroups, "groups", opts.MaxGroups, "most frequent groups compared per dimension")
	fs.DurationVar(&opts.VisibleTimeout, "visible-timeout", opts.VisibleTimeout, "bound on the wait for accepted beacons to show in queries")
	fs.StringVar(&opts.APIToken, "token", os.Getenv("RUMD_API_TOKEN"), "bearer token for the query API and /metrics (default $RUMD_API_TOKEN)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	progress := fs.String("progress", "auto", "live progress line: auto (when stdout is a terminal), always or never")
	serveBaseline := fs.String("serve-baseline", "", "only serve the bare handler on this address until stdin closes (used by --baseline=spawn)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "rumd loadtest: unexpected arguments %q\n", fs.Args())
		return 2
	}
	pathSet := false
	fs.Visit(func(f *flag.Flag) { pathSet = pathSet || f.Name == "path" })
	if f, ok := ingest.LookupFormat(opts.Format); ok && !pathSet {
		opts.Path = f.Path // the format's own default path on rumd
	}
	if *serveBaseline != "" {
		return serveBareBaseline(*serveBaseline, opts.Path)
	}
	if *reasons != "" {
		rs, err := parseReasons(*reasons)
		if err != nil {
			fmt.Fprintf(os.Stderr, "rumd loadtest: --reasons: %v\n", err)
			return 2
		}
		opts.Reasons = rs
	}
	opts.Quantiles = opts.Quantiles[:0]
	for _, s := range strings.Split(*quantiles, ",") {
		q, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "rumd loadtest: --quantiles: %v\n", err)
			return 2
		}
		opts.Quantiles = append(opts.Quantiles, q)
	}
	switch *progress {
	case "auto":
		opts.Progress = isatty.IsTerminal(os.Stdout.Fd())
	case "always":
		opts.Progress = true
	case "never":
		opts.Progress = false
	default:
		fmt.Fprintf(os.Stderr, "rumd loadtest: --progress %q: want auto, always or never\n", *progress)
		return 2
	}
	opts.SpawnBaseline = func() (string, func(), error) { return spawnBaseline(opts.Path) }
	if err := opts.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "rumd loadtest: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := loadtest.Run(ctx, opts, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rumd loadtest: %v\n", err)
		return 2
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(os.Stderr, "rumd loadtest: %v\n", err)
			return 2
		}
	} else if err := rep.WriteText(os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "rumd loadtest: %v\n", err)
		return 2
	}
	if !rep.OK {
		return 1
	}
	return 0
}

// parseReasons reads "bot:3,clock_skew" into the rotation the pool draws bad beacons from:
// a reason of weight w appears w times.
func parseReasons(s string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(s, ",") {
		name, w, hasW := strings.Cut(strings.TrimSpace(part), ":")
		n := 1
		if hasW {
			var err error
			if n, err = strconv.Atoi(w); err != nil || n < 1 || n > 100 {
				return nil, fmt.Errorf("weight of %s must be an integer in [1, 100], got %q", name, w)
			}
		}
		for range n {
			out = append(out, name)
		}
	}
	return out, nil
}

// serveBareBaseline serves the bare handler until stdin is closed (the parent went away)
// or a signal arrives. Its first line on stdout is the base URL.
func serveBareBaseline(addr, path string) int {
	b, err := loadtest.StartBaseline(addr, path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rumd loadtest: %v\n", err)
		return 2
	}
	fmt.Println(b.URL())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(eof)
	}()
	select {
	case <-ctx.Done():
	case <-eof:
	}
	if err := b.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "rumd loadtest: %v\n", err)
		return 1
	}
	return 0
}

// spawnBaseline starts `rumd loadtest --serve-baseline` as a child process, so the bare
// handler runs in a process of its own as rumd does, and returns its URL.
func spawnBaseline(path string) (string, func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(exe, "loadtest", "--serve-baseline", "127.0.0.1:0", "--path", path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stopChild := func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- strings.TrimSpace(sc.Text())
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case u, ok := <-line:
		if !ok || !strings.HasPrefix(u, "http://") {
			stopChild()
			return "", nil, fmt.Errorf("baseline child said %q", u)
		}
		return u, stopChild, nil
	case <-time.After(10 * time.Second):
		stopChild()
		return "", nil, errors.New("baseline child did not start within 10 s")
	}
}

// loadtestFormats describes the formats the load tool generates, from the registry.
func loadtestFormats() string {
	var parts []string
	for _, name := range loadtest.Formats() {
		f, _ := ingest.LookupFormat(name)
		parts = append(parts, name+" ("+f.Summary+")")
	}
	return strings.Join(parts, " or ")
}
