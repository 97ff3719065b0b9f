package testutil

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// PrometheusBinary is Debian's Prometheus server, installed by make deps and .ci/run.
const PrometheusBinary = "/usr/bin/prometheus"

// Prometheus is a real Prometheus server on 127.0.0.1 with native histograms enabled,
// scraping rumd targets every second.
type Prometheus struct {
	URL  string
	logs *SyncBuffer
}

// MustPrometheus starts Prometheus with a temporary config and data directory, scraping
// path on targets (host:port) every second, and waits until it is ready. With
// native-histograms enabled, Prometheus 2.42 asks targets for the protobuf format, the only
// one that carries native histograms. It is stopped when the test ends.
func MustPrometheus(tb testing.TB, path string, targets ...string) *Prometheus {
	tb.Helper()
	if _, err := os.Stat(PrometheusBinary); err != nil {
		tb.Fatalf("Prometheus is not installed (apt-get install prometheus, as .ci/run does): %v", err)
	}
	dir := tb.TempDir()
	quoted := make([]string, len(targets))
	for i, t := range targets {
		quoted[i] = strconv.Quote(t)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: rumd
    metrics_path: %s
    static_configs:
      - targets: [%s]
`, strconv.Quote(path), strings.Join(quoted, ", "))
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	addr := MustFreeAddr(tb)
	p := &Prometheus{URL: "http://" + addr, logs: &SyncBuffer{}}
	cmd := exec.Command(PrometheusBinary,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--enable-feature=native-histograms",
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	proc := MustStart(tb, cmd)
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("Prometheus output:\n%s", p.logs)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := HTTP.Get(p.URL + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-proc.Done():
			tb.Fatalf("Prometheus exited at start (%v):\n%s", proc.Err(), p.logs)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("Prometheus not ready within 30 s:\n%s", p.logs)
		}
	}
}

// Logs is what Prometheus wrote so far.
func (p *Prometheus) Logs() string { return p.logs.String() }

// PromSample is one element of an instant-query vector: its labels, and either a float
// value or a native histogram's count.
type PromSample struct {
	Metric    map[string]string `json:"metric"`
	Value     []json.RawMessage `json:"value"`
	Histogram []json.RawMessage `json:"histogram"`
}

// Float is the sample's float value, NaN if it has none.
func (s PromSample) Float() float64 {
	if len(s.Value) != 2 {
		return nanValue()
	}
	var str string
	if json.Unmarshal(s.Value[1], &str) != nil {
		return nanValue()
	}
	f, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return nanValue()
	}
	return f
}

func nanValue() float64 { f, _ := strconv.ParseFloat("NaN", 64); return f }

// MustQuery runs an instant query at time at (zero: now) and returns its vector, failing the
// test on any error.
func (p *Prometheus) MustQuery(tb testing.TB, expr string, at time.Time) []PromSample {
	tb.Helper()
	v := url.Values{"query": {expr}}
	if !at.IsZero() {
		v.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64))
	}
	resp, err := HTTP.Get(p.URL + "/api/v1/query?" + v.Encode())
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("query %s: read the answer: %v", expr, err)
	}
	var ans struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string       `json:"resultType"`
			Result     []PromSample `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ans); err != nil || ans.Status != "success" {
		tb.Fatalf("query %s: %d %s", expr, resp.StatusCode, body)
	}
	if ans.Data.ResultType != "vector" {
		tb.Fatalf("query %s: result type %s, want vector", expr, ans.Data.ResultType)
	}
	return ans.Data.Result
}

// MustFreeAddr returns a 127.0.0.1 address whose port was free a moment ago, only for an
// outside program that cannot report the port it bound when given :0 (Prometheus,
// WebKitWebDriver); rumd itself is started on :0 by StartRumd.
func MustFreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
