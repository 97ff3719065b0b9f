package testutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// RunWithRumd is a TestMain body for tests that run the real binary: it builds rumd once
// into a temporary directory, sets *bin to its path, runs the tests and exits with their
// code, removing the directory.
func RunWithRumd(m *testing.M, bin *string) {
	dir, err := os.MkdirTemp("", "rumd-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	*bin = filepath.Join(dir, "rumd")
	build := exec.Command("go", "build", "-o", *bin, "rumd/cmd/rumd")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if _, err := Run(10*time.Minute, build); err != nil {
		fmt.Fprintln(os.Stderr, "build rumd:", err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Rumd is a real rumd process serving on 127.0.0.1, started by StartRumd.
type Rumd struct {
	// URL is the base URL of the bound address, e.g. http://127.0.0.1:41234.
	URL string
	// Client reads /metrics (HTTP, with its deadline); a test of rumd serving HTTPS sets URL
	// to https:// and a client that trusts its certificate.
	Client *http.Client
	tb     testing.TB
	proc   *Proc
	logs   *SyncBuffer
}

// StartRumd runs `bin serve --listen 127.0.0.1:0 args...` (MustStart) and reads the address
// it bound back from its start-up log line, so no port is picked before it is taken. It
// fails the test if rumd does not announce itself within 30 s or exits first. The process
// gets SIGTERM (then SIGKILL after 30 s) when the test ends; its output is logged if the
// test failed.
func StartRumd(tb testing.TB, bin string, args ...string) *Rumd {
	tb.Helper()
	r := &Rumd{tb: tb, logs: &SyncBuffer{}, Client: HTTP}
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	addr := make(chan string, 1)
	cmd.Stdout = r.logs
	cmd.Stderr = NewLineWriter(func(line []byte) {
		r.logs.Write(append(line, '\n'))
		var l struct{ Msg, Addr string }
		if json.Unmarshal(line, &l) == nil && l.Msg == "rumd serving" && l.Addr != "" {
			select {
			case addr <- l.Addr:
			default:
			}
		}
	})
	r.proc = MustStart(tb, cmd)
	tb.Cleanup(func() {
		if r.Running() {
			_ = r.Stop(syscall.SIGTERM)
		}
		if tb.Failed() {
			tb.Logf("rumd %s output:\n%s", strings.Join(args, " "), r.logs)
		}
	})
	select {
	case a := <-addr:
		r.URL = "http://" + a
		return r
	case <-r.proc.Done():
		tb.Fatalf("rumd exited at start (%v):\n%s", r.proc.Err(), r.logs)
	case <-time.After(30 * time.Second):
		tb.Fatalf("rumd did not announce its address within 30 s:\n%s", r.logs)
	}
	return nil
}

// Running reports whether the process has not exited yet.
func (r *Rumd) Running() bool {
	select {
	case <-r.proc.Done():
		return false
	default:
		return true
	}
}

// Stop sends sig and waits up to 30 s for the process to exit, then kills it and fails the
// test. It returns the process's exit error (non-nil after SIGKILL, nil after a clean stop).
func (r *Rumd) Stop(sig syscall.Signal) error {
	r.tb.Helper()
	err := r.proc.Stop(sig, 30*time.Second)
	if r.Running() || (err != nil && err != r.proc.Err()) {
		r.tb.Errorf("rumd: %v", err)
	}
	return r.proc.Err()
}

// PID is rumd's own process id (not its supervisor's), e.g. to read its /proc/PID/status.
func (r *Rumd) PID() int { return r.proc.ChildPid() }

// Logs is everything the process wrote so far.
func (r *Rumd) Logs() string { return r.logs.String() }

// Metrics reads the process's /metrics (with the bearer token when given).
func (r *Rumd) Metrics(token string) map[string]*dto.MetricFamily {
	r.tb.Helper()
	req, _ := http.NewRequest("GET", r.URL+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := r.Client.Do(req)
	if err != nil {
		r.tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.tb.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		r.tb.Fatalf("parse /metrics: %v", err)
	}
	return mfs
}

// Metric is the value of one sample of rumd's /metrics (see MetricValue for labels); 0 when
// there is none.
func (r *Rumd) Metric(name string, labels ...string) float64 {
	r.tb.Helper()
	mfs := r.Metrics("")
	v, _ := MetricValue(r.tb, prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		out := make([]*dto.MetricFamily, 0, len(mfs))
		for _, mf := range mfs {
			out = append(out, mf)
		}
		return out, nil
	}), name, labels...)
	return v
}

// WaitApplied waits until rumd has accepted at least n beacons and its aggregator has added
// every accepted one to its sketches, so a query sees them all; it fails the test after
// timeout.
func (r *Rumd) WaitApplied(n int, timeout time.Duration) {
	r.tb.Helper()
	Eventually(r.tb, timeout, func() (bool, string) {
		acc, app := r.Metric("rumd_beacons_accepted_total"), r.Metric("rumd_aggregator_applied_total")
		return acc >= float64(n) && app >= acc, fmt.Sprintf("accepted %v, applied %v, want %d", acc, app, n)
	})
}

// Eventually calls cond every 20 ms until it reports true, and fails the test with cond's
// last description if that has not happened within timeout.
func Eventually(tb testing.TB, timeout time.Duration, cond func() (ok bool, state string)) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("not true after %s: %s", timeout, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// HTTP is the client tests talk to the processes they start with: a request that gets no
// answer fails after 30 s instead of hanging the test.
var HTTP = &http.Client{Timeout: 30 * time.Second}

// SyncBuffer is a bytes.Buffer safe for one writer and concurrent readers (a process's
// output read while it runs).
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
