package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"rumd/internal/testutil"
)

// startInProcess runs `rumd serve` in this process on 127.0.0.1 with a temp data dir.
func startInProcess(t *testing.T, args ...string) string {
	t.Helper()
	cfg, err := loadConfig(append([]string{"--listen", "127.0.0.1:0", "--data", t.TempDir(), "--log-level", "error", "--rate-limit", "0", "--rate-limit-prefix", "0"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, newLogger("error"), cfg, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + addr
}

func TestCompareCommandPrintsVerdict(t *testing.T) {
	base := startInProcess(t)
	r := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 800; i++ {
		variant, median := "cdn-a", 500.0
		if i%2 == 1 {
			variant, median = "cdn-b", 400.0
		}
		b := testutil.Beacon(time.Now(), "https://example.com/", math.Round(median*math.Exp(0.4*r.NormFloat64())), 3000)
		b["variant"] = variant
		req, _ := http.NewRequest("POST", base+"/timings", bytes.NewReader(testutil.MustJSON(t, b)))
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 Safari/537.36")
		resp, err := testutil.HTTP.Do(req)
		if err != nil || resp.StatusCode != 204 {
			t.Fatalf("post: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	var out, errOut bytes.Buffer
	var code int
	testutil.Eventually(t, 5*time.Second, func() (bool, string) {
		out.Reset()
		errOut.Reset()
		code = compareMain([]string{"--target", base, "--metric", "ttfb", "--to", "+1m", "--a", "variant=cdn-a", "--b", "variant=cdn-b"}, &out, &errOut)
		return strings.Contains(out.String(), "400 page views\n  b"), "compare output:\n" + out.String() + errOut.String()
	})
	text := out.String()
	t.Log("\n" + text)
	if code != 0 || !strings.Contains(text, "verdict: b is faster at p75 by") || !strings.Contains(text, "p95") ||
		!strings.Contains(text, "variant=cdn-a, read ") || !strings.Contains(text, " UTC, 400 page views") ||
		!strings.Contains(text, "* the 95% confidence interval excludes 0") {
		t.Fatalf("exit %d, output:\n%s\nstderr: %s", code, text, errOut.String())
	}
	// No row has the star: no footnote explains it.
	out.Reset()
	if code := compareMain([]string{"--target", base, "--metric", "ttfb", "--to", "+1m", "--a", "variant=cdn-a", "--b", "variant=never-seen"}, &out, &errOut); code != 0 ||
		strings.Contains(out.String(), "*") || !strings.Contains(out.String(), "verdict: too few page views") {
		t.Fatalf("exit %d, output without a significant row:\n%s\nstderr: %s", code, out.String(), errOut.String())
	}
	// Before/after a change three minutes ago: the table says which minutes each side read,
	// and, when the boundary fell inside a minute, that the minute was read by neither.
	out.Reset()
	deploy := time.Now().Unix()/60*60 - 150 // inside the minute [m-180, m-120)
	at := func(t int64) string { return fmt.Sprint(t) }
	before := []string{"--target", base, "--metric", "ttfb", "--a", "from=" + at(deploy-3600) + ",to=" + at(deploy), "--b", "from=" + at(deploy) + ",to=now"}
	minute := func(t int64) string { return time.Unix(t, 0).UTC().Format("15:04") }
	if code := compareMain(before, &out, &errOut); code != 0 || !strings.Contains(out.String(), "note: a and b met inside stored data") ||
		!strings.Contains(out.String(), "to "+time.Unix(deploy-30, 0).UTC().Format("2006-01-02 15:04")+" UTC, 0 page views") ||
		!strings.Contains(out.String(), "read "+time.Unix(deploy+30, 0).UTC().Format("2006-01-02 15:04")+" to ") {
		t.Fatalf("before/after at %s: exit %d, output:\n%s\nstderr: %s", minute(deploy), code, out.String(), errOut.String())
	}
	t.Log("\n" + out.String())
	out.Reset()
	if code := compareMain([]string{"--target", base, "--metric", "nope", "--a", "variant=x"}, &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "bad_metric") {
		t.Fatalf("bad metric: exit %d, stderr %q", code, errOut.String())
	}
	if code := compareMain([]string{"--a", "novalue"}, &out, &errOut); code != 2 {
		t.Fatalf("bad flag: exit %d", code)
	}
}
