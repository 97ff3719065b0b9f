package tlsconf

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"rumd/internal/testutil"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Options)
		want string // in the error; empty: valid
	}{
		{"plain HTTP", func(o *Options) {}, ""},
		{"files", func(o *Options) { o.CertFile, o.KeyFile = "a.crt", "a.key" }, ""},
		{"cert without key", func(o *Options) { o.CertFile = "a.crt" }, "cert_file and key_file go together"},
		{"files and acme", func(o *Options) {
			o.CertFile, o.KeyFile, o.ACME.Hosts, o.ACME.CacheDir = "a", "b", []string{"x.example"}, "/c"
		}, "not both"},
		{"acme", func(o *Options) { o.ACME.Hosts, o.ACME.CacheDir = []string{"rum.example.com"}, "/c" }, ""},
		{"acme without cache", func(o *Options) { o.ACME.Hosts = []string{"rum.example.com"} }, "acme.cache_dir"},
		{"acme host with a port", func(o *Options) { o.ACME.Hosts, o.ACME.CacheDir = []string{"rum.example.com:443"}, "/c" }, "not a host name"},
		{"acme over http", func(o *Options) {
			o.ACME.Hosts, o.ACME.CacheDir, o.ACME.DirectoryURL = []string{"a.example"}, "/c", "http://ca.example/dir"
		}, "https URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			tc.edit(&o)
			err := o.Validate()
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestReload serves TLS on 127.0.0.1 from certificate files, replaces them, and checks new
// connections get the new certificate while a connection opened before keeps working; a
// pair that does not load leaves the served one in place.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	first := testutil.MustCert(t, dir, "rumd", "rum.test")
	o := DefaultOptions()
	o.CertFile, o.KeyFile, o.CheckEvery = first.CertFile, first.KeyFile, 20*time.Millisecond
	reg := prometheus.NewRegistry()
	tc, err := New(slog.New(slog.NewTextHandler(io.Discard, nil)), reg, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tc.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tc.Config())
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	addr := ln.Addr().String()

	served := func() string { return testutil.ServedSerial(t, addr, "rum.test") }
	if got := served(); got != first.Leaf.SerialNumber.String() {
		t.Fatalf("served serial %s, want the first certificate's %s", got, first.Leaf.SerialNumber)
	}
	// A connection opened before the change, kept alive across it.
	old := testutil.MustKeepConn(t, addr, "rum.test", first.Pool)
	old.MustGet("/")

	second := testutil.MustCert(t, dir, "rumd", "rum.test")
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		got := served()
		return got == second.Leaf.SerialNumber.String(), "served serial " + got
	})
	old.MustGet("/")

	// A broken certificate file: the second pair stays, the failure is counted.
	if err := os.WriteFile(second.CertFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		n := counter(t, reg, "error")
		return n >= 1, "no failed reload counted"
	})
	if got := served(); got != second.Leaf.SerialNumber.String() {
		t.Fatalf("after a broken file, served serial %s, want the second certificate's %s", got, second.Leaf.SerialNumber)
	}
	// Reload (SIGHUP) picks a fixed pair up at once, without waiting for the next look.
	third := testutil.MustCert(t, dir, "rumd", "rum.test")
	if _, err := tc.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := served(); got != third.Leaf.SerialNumber.String() {
		t.Fatalf("after Reload, served serial %s, want the third certificate's %s", got, third.Leaf.SerialNumber)
	}
}

func counter(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "rumd_tls_certificate_reloads_total" {
			continue
		}
		for _, m := range mf.Metric {
			if m.Label[0].GetValue() == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestHTTPRedirect checks the plain-HTTP listener sends pages to https, and refuses a POST
// rather than redirecting it into a GET that would drop its body.
func TestHTTPRedirect(t *testing.T) {
	dir := t.TempDir()
	c := testutil.MustCert(t, dir, "rumd", "rum.test")
	o := DefaultOptions()
	o.CertFile, o.KeyFile = c.CertFile, c.KeyFile
	tc, err := New(slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close(context.Background())
	h := tc.HTTPHandler()
	for _, r := range []struct {
		method, url string
		code        int
		location    string
	}{
		{"GET", "http://rum.test/rumd.js?x=1", http.StatusMovedPermanently, "https://rum.test/rumd.js?x=1"},
		{"POST", "http://rum.test/timings", http.StatusBadRequest, ""},
		{"GET", "http://rum.test:8080/test", http.StatusMovedPermanently, "https://rum.test/test"},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(r.method, r.url, nil))
		if w.Code != r.code || w.Header().Get("Location") != r.location {
			t.Errorf("%s %s: %d %q, want %d %q", r.method, r.url, w.Code, w.Header().Get("Location"), r.code, r.location)
		}
	}
}
