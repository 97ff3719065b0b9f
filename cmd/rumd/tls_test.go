package main

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"rumd/internal/testutil"
)

// TestServeHTTPS runs `rumd serve` in process with a certificate and key, and checks it
// answers over https on 127.0.0.1 with that certificate, and announces https URLs.
func TestServeHTTPS(t *testing.T) {
	dir := t.TempDir()
	cert := testutil.MustCert(t, dir, "rumd", "rum.test")
	cfg, err := loadConfig([]string{"--listen", "127.0.0.1:0", "--data", t.TempDir(), "--geoip", "none",
		"--tls-cert-file", cert.CertFile, "--tls-key-file", cert.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- serve(ctx, logger, cfg, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not start within 30 s:\n%s", logs.String())
	}
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("serve did not stop within 30 s")
		}
	}()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.Pool}}}
	resp, err := client.Get("https://" + addr + "/rumd.js")
	if err != nil {
		t.Fatalf("GET over https: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(body) == 0 || resp.TLS == nil ||
		resp.TLS.PeerCertificates[0].SerialNumber.Cmp(cert.Leaf.SerialNumber) != 0 {
		t.Fatalf("GET https://%s/rumd.js: %d, %d bytes, TLS %v", addr, resp.StatusCode, len(body), resp.TLS != nil)
	}
	if resp.TLS.NegotiatedProtocol == "h2" {
		t.Fatal("h2 negotiated, but the server speaks HTTP/1.1 only")
	}
	// Plain HTTP on the TLS port is not answered as if it were served.
	if resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/rumd.js"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP on the TLS port was answered 200")
		}
	}
	if l := logs.String(); !strings.Contains(l, `"home":"https://127.0.0.1:`) || !strings.Contains(l, `"tls":true`) {
		t.Fatalf("start log does not announce https:\n%s", l)
	}
}

// TestTLSConfigErrors checks each TLS mistake is refused at start, naming the YAML key.
func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cert := testutil.MustCert(t, dir, "rumd", "rum.test")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert-file", cert.CertFile}, "tls.cert_file: tls: cert_file and key_file go together"},
		{[]string{"--tls-http-listen", ":80"}, "tls.http_listen: is only for TLS"},
		{[]string{"--tls-cert-file", cert.CertFile, "--tls-key-file", cert.KeyFile, "--tls-acme-hosts", "rum.example.com"}, "not both"},
		{[]string{"--tls-acme-hosts", "rum.example.com:443"}, "tls.acme.hosts"},
	} {
		_, err := loadConfig(append([]string{"--data", dir}, tc.args...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	// A certificate file that is not one stops serve before anything opens.
	cfg, err := loadConfig([]string{"--listen", "127.0.0.1:0", "--data", t.TempDir(), "--tls-cert-file", cert.KeyFile, "--tls-key-file", cert.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := serve(ctx, slog.New(slog.NewJSONHandler(io.Discard, nil)), cfg, nil); err == nil || !strings.Contains(err.Error(), "tls:") {
		t.Fatalf("serve with a key as certificate: %v", err)
	}
}
