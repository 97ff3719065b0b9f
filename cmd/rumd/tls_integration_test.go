//go:build integration

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"rumd/internal/testutil"
)

// TestTLSReloadOnHangup runs the real binary with certificate files, replaces them, sends
// SIGHUP, and checks new connections get the new certificate while a keep-alive connection
// opened before carries on, and that a broken file leaves the served certificate in place.
func TestTLSReloadOnHangup(t *testing.T) {
	dir := t.TempDir()
	first := testutil.MustCert(t, dir, "rumd", "rum.test")
	r := testutil.StartRumd(t, binary, "--data", t.TempDir(), "--geoip", "none",
		"--tls-cert-file", first.CertFile, "--tls-key-file", first.KeyFile)
	addr := strings.TrimPrefix(r.URL, "http://")
	r.URL = "https://" + addr
	r.Client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: first.Pool, ServerName: "rum.test"}}}

	served := func() string { return testutil.ServedSerial(t, addr, "rum.test") }
	if got := served(); got != first.Leaf.SerialNumber.String() {
		t.Fatalf("served serial %s, want %s", got, first.Leaf.SerialNumber)
	}
	old := testutil.MustKeepConn(t, addr, "rum.test", first.Pool)
	get := func(when string) {
		t.Helper()
		if code := old.MustGet("/rumd.js"); code != 200 {
			t.Fatalf("%s: GET /rumd.js on the connection opened before the reload: %d", when, code)
		}
	}
	get("before the reload")

	hangup := func() {
		t.Helper()
		if err := syscall.Kill(r.PID(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	second := testutil.MustCert(t, dir, "rumd", "rum.test")
	hangup()
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		got := served()
		return got == second.Leaf.SerialNumber.String(), "served serial " + got + ", want " + second.Leaf.SerialNumber.String()
	})
	get("after the reload")

	if err := os.WriteFile(second.KeyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	hangup()
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		return strings.Contains(r.Logs(), "do not load"), "no warning about the broken key"
	})
	r.Client.Transport.(*http.Transport).TLSClientConfig.RootCAs = second.Pool
	if got := served(); got != second.Leaf.SerialNumber.String() || !r.Running() {
		t.Fatalf("after a broken key: served %s (want %s), running %v", got, second.Leaf.SerialNumber, r.Running())
	}
	if n := r.Metric("rumd_tls_certificate_reloads_total", "result", "error"); n != 1 {
		t.Fatalf("rumd_tls_certificate_reloads_total{result=error} = %v, want 1", n)
	}
}

// TestHangupWithoutTLS checks SIGHUP (systemctl reload) does not end a rumd that has no
// certificate files to reload: it would otherwise exit without writing its open windows.
func TestHangupWithoutTLS(t *testing.T) {
	r := testutil.StartRumd(t, binary, "--data", t.TempDir(), "--geoip", "none")
	if err := syscall.Kill(r.PID(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		return strings.Contains(r.Logs(), "SIGHUP: nothing to reload"), fmt.Sprintf("running %v, no SIGHUP line", r.Running())
	})
	if !r.Running() {
		t.Fatal("rumd exited on SIGHUP")
	}
}

// TestACMEWithPebble gets a certificate for rum.test from pebble, a test ACME server on
// 127.0.0.1 (Debian's pebble package), and checks rumd serves it on a connection to
// 127.0.0.1 that asks for rum.test, chained to pebble's root: once with the challenge
// skipped (PEBBLE_VA_ALWAYS_VALID), then with pebble really validating, through
// pebble-challtestsrv's DNS that resolves rum.test to 127.0.0.1: TLS-ALPN-01 on rumd's TLS
// listener, and HTTP-01 on its plain-HTTP listener (TLS-ALPN-01 then finds no listener).
func TestACMEWithPebble(t *testing.T) {
	pebble, err := exec.LookPath("pebble")
	if err != nil {
		t.Skip("pebble (a test ACME server) is not installed: apt-get install pebble (make deps and .ci/run do)")
	}
	for _, tc := range []struct {
		name      string
		challenge string // "": skipped
	}{
		{"challenge skipped", ""},
		{"tls-alpn-01", "tls-alpn-01"},
		{"http-01", "http-01"},
	} {
		t.Run(tc.name, func(t *testing.T) { acmeRound(t, pebble, tc.challenge) })
	}
}

func acmeRound(t *testing.T, pebble, challenge string) {
	dir := t.TempDir()
	// pebble's own HTTPS certificate; rumd trusts it through SSL_CERT_FILE.
	pc := testutil.MustCert(t, dir, "pebble", "localhost")
	dirPort, mgmtPort, httpPort := freePort(t), freePort(t), freePort(t)
	directory := fmt.Sprintf("https://127.0.0.1:%d/dir", dirPort)

	t.Setenv("SSL_CERT_FILE", pc.CertFile)
	cache := filepath.Join(t.TempDir(), "acme")
	args := []string{"--data", t.TempDir(), "--geoip", "none",
		"--tls-acme-hosts", "rum.test", "--tls-acme-email", "ops@rum.test",
		"--tls-acme-directory-url", directory, "--tls-acme-cache-dir", cache}
	if challenge == "http-01" {
		args = append(args, "--tls-http-listen", fmt.Sprintf("127.0.0.1:%d", httpPort))
	}
	r := testutil.StartRumd(t, binary, args...)
	addr := strings.TrimPrefix(r.URL, "http://")
	_, rumdPort, _ := net.SplitHostPort(addr)

	tlsPort := rumdPort
	if challenge != "tls-alpn-01" {
		tlsPort = fmt.Sprint(freePort(t)) // nothing listens: TLS-ALPN-01 fails
	}
	conf := fmt.Sprintf(`{"pebble": {"listenAddress": "127.0.0.1:%d", "managementListenAddress": "127.0.0.1:%d",
		"certificate": %q, "privateKey": %q, "httpPort": %d, "tlsPort": %s, "ocspResponderURL": "",
		"externalAccountBindingRequired": false}}`, dirPort, mgmtPort, pc.CertFile, pc.KeyFile, httpPort, tlsPort)
	confPath := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	pebbleArgs := []string{"-config", confPath}
	env := []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"}
	if challenge == "" {
		env = append(env, "PEBBLE_VA_ALWAYS_VALID=1")
	} else {
		dns := freePort(t)
		startProcess(t, "pebble-challtestsrv", []string{"-dns01", fmt.Sprintf("127.0.0.1:%d", dns), "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
			"-http01", "", "-https01", "", "-tlsalpn01", "", "-management", fmt.Sprintf("127.0.0.1:%d", freePort(t))})
		pebbleArgs = append(pebbleArgs, "-dnsserver", fmt.Sprintf("127.0.0.1:%d", dns))
	}
	pebbleLog := startProcess(t, pebble, pebbleArgs, env...)
	toPebble := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pc.Pool}}}
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		resp, err := toPebble.Get(directory)
		if err != nil {
			return false, fmt.Sprintf("pebble not up: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode == 200, fmt.Sprintf("pebble directory: %d", resp.StatusCode)
	})

	// pebble's root, which signs the certificates it issues (a new one each run).
	resp, err := toPebble.Get(fmt.Sprintf("https://127.0.0.1:%d/roots/0", mgmtPort))
	if err != nil {
		t.Fatal(err)
	}
	rootPEM, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		t.Fatalf("pebble /roots/0 gave no certificate: %q", rootPEM)
	}
	// The first handshake waits while rumd gets the certificate.
	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "rum.test"},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, addr)
		},
	}}
	resp, err = client.Get("https://rum.test/rumd.js")
	if err != nil {
		t.Fatalf("GET https://rum.test/rumd.js at %s: %v\npebble:\n%s", addr, err, pebbleLog)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	leaf := resp.TLS.PeerCertificates[0]
	if resp.StatusCode != 200 || len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "rum.test" {
		t.Fatalf("GET: %d, certificate for %v", resp.StatusCode, leaf.DNSNames)
	}
	// pebble logs its HTTP-01 attempts (not its TLS-ALPN-01 ones): the certificate came by
	// the listener the case meant, since the other has nothing listening.
	if tried := strings.Contains(pebbleLog.String(), "validate w/ HTTP"); tried != (challenge == "http-01") {
		t.Fatalf("challenge %q: pebble tried HTTP-01: %v:\n%s", challenge, tried, pebbleLog)
	}
	// Kept for the next start, so a restart does not ask the authority again.
	if ents, err := os.ReadDir(cache); err != nil || len(ents) < 2 {
		t.Fatalf("ACME cache %s: %v, %d files", cache, err, len(ents))
	}
	// A name rumd was not told to get a certificate for gets none.
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, &tls.Config{RootCAs: roots, ServerName: "other.test"})
	if err == nil {
		c.Close()
		t.Fatal("a handshake for other.test succeeded")
	}
}

// startProcess runs a helper server for the test's length under testutil's supervisor, so
// it dies with the test binary too, and returns its output, logged if the test failed.
func startProcess(t *testing.T, name string, args []string, env ...string) *testutil.SyncBuffer {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	p := testutil.MustStart(t, cmd)
	t.Cleanup(func() {
		_ = p.Stop(syscall.SIGTERM, 5*time.Second)
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out)
		}
	})
	return out
}

// freePort is a port free on 127.0.0.1 a moment ago, for pebble, which cannot announce the
// port it bound.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestVersionStamped builds rumd the way the Makefile does, with the version, commit and
// date stamped, and checks `rumd version`, rumd_build_info and /api/v1/status name them.
func TestVersionStamped(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "rumd")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const v, commit, date = "v9.8.7-1-gabcdef0", "abcdef0123456789abcdef0123456789abcdef01", "2026-12-01T12:00:00Z"
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "-ldflags",
		"-X rumd/internal/buildinfo.version="+v+" -X rumd/internal/buildinfo.commit="+commit+" -X rumd/internal/buildinfo.date="+date, "rumd/cmd/rumd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "rumd " + v + " (commit " + commit + ", built " + date + ", go"; !strings.HasPrefix(string(out), want) {
		t.Fatalf("rumd version: %q, want it to start %q", out, want)
	}
	r := testutil.StartRumd(t, bin, "--data", t.TempDir(), "--geoip", "none")
	if n := r.Metric("rumd_build_info", "version", v, "commit", commit); n != 1 {
		t.Fatalf("rumd_build_info{version=%q,commit=%q} = %v, want 1", v, commit, n)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(r.URL + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Build struct{ Version, Commit string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.Build.Version != v || st.Build.Commit != commit {
		t.Fatalf("/api/v1/status build %+v", st.Build)
	}
}
