// Package tlsconf builds rumd's TLS configuration: a certificate and key read from files and
// swapped in place when they change, or certificates obtained and renewed through ACME (Let's
// Encrypt by default) with golang.org/x/crypto/acme/autocert.
package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// LetsEncrypt is the default ACME directory.
const LetsEncrypt = acme.LetsEncryptURL

// Options say where rumd's certificate comes from: files (CertFile, KeyFile) or ACME
// (ACME.Hosts), never both. With neither, rumd serves plain HTTP.
type Options struct {
	CertFile, KeyFile string
	// CheckEvery is how often the files are looked at for a change; SIGHUP (Reload) looks at
	// once.
	CheckEvery time.Duration
	ACME       ACMEOptions
}

// ACMEOptions configure automatic certificates.
type ACMEOptions struct {
	Hosts        []string // the names a certificate is asked for; no other name gets one
	Email        string   // the account's contact, told about expiry problems
	CacheDir     string   // account key and certificates, kept across restarts (rate limits)
	DirectoryURL string
}

// DefaultOptions is plain HTTP; ACME, once hosts are set, uses Let's Encrypt.
func DefaultOptions() Options {
	return Options{CheckEvery: 10 * time.Second, ACME: ACMEOptions{DirectoryURL: LetsEncrypt}}
}

// Enabled says whether rumd serves TLS.
func (o Options) Enabled() bool { return o.CertFile != "" || o.KeyFile != "" || len(o.ACME.Hosts) > 0 }

// Validate checks the options.
func (o Options) Validate() error {
	switch {
	case (o.CertFile == "") != (o.KeyFile == ""):
		return errors.New("tls: cert_file and key_file go together: set both, or neither")
	case o.CertFile != "" && len(o.ACME.Hosts) > 0:
		return errors.New("tls: set either cert_file and key_file, or acme.hosts, not both")
	case o.CheckEvery <= 0:
		return fmt.Errorf("tls: check interval must be positive, got %s", o.CheckEvery)
	}
	if len(o.ACME.Hosts) > 0 {
		if o.ACME.CacheDir == "" {
			return errors.New("tls: acme.cache_dir is required with acme.hosts")
		}
		if !strings.HasPrefix(o.ACME.DirectoryURL, "https://") {
			return fmt.Errorf("tls: acme.directory_url must be an https URL, got %q", o.ACME.DirectoryURL)
		}
		for _, h := range o.ACME.Hosts {
			if h == "" || strings.ContainsAny(h, "/:* ") {
				return fmt.Errorf("tls: acme.hosts: %q is not a host name", h)
			}
		}
	}
	return nil
}

// TLS is rumd's certificate source. Close stops watching the files.
type TLS struct {
	opts Options
	log  *slog.Logger
	m    *metrics

	cert atomic.Pointer[tls.Certificate] // files: the pair served now
	acme *autocert.Manager

	mu      sync.Mutex // one reload at a time; guards stamp
	stamp   string     // size and mtime of the files last loaded, or last refused
	stop    chan struct{}
	stopped chan struct{}
}

type metrics struct {
	reloads  *prometheus.CounterVec
	notAfter prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rumd_tls_certificate_reloads_total",
			Help: "Loads of the certificate and key files after a change or SIGHUP, by result (ok, error: the pair served before is kept).",
		}, []string{"result"}),
		notAfter: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rumd_tls_certificate_expiry_seconds",
			Help: "Unix time at which the certificate loaded from cert_file expires; alert well before it.",
		}),
	}
	reg.MustRegister(m.reloads, m.notAfter)
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("error")
	return m
}

// New loads the certificate files (an error if they cannot be), or sets up ACME, and with
// files starts watching them for a change.
func New(logger *slog.Logger, reg prometheus.Registerer, opts Options) (*TLS, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	t := &TLS{opts: opts, log: logger, m: newMetrics(reg), stop: make(chan struct{}), stopped: make(chan struct{})}
	if len(opts.ACME.Hosts) > 0 {
		if err := os.MkdirAll(opts.ACME.CacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("tls: acme.cache_dir: %w", err)
		}
		t.acme = &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			HostPolicy: autocert.HostWhitelist(opts.ACME.Hosts...),
			Cache:      autocert.DirCache(opts.ACME.CacheDir),
			Email:      opts.ACME.Email,
			Client:     &acme.Client{DirectoryURL: opts.ACME.DirectoryURL},
		}
		close(t.stopped)
		return t, nil
	}
	if _, err := t.Reload(); err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	go t.watch()
	return t, nil
}

// Config is the listener's TLS configuration. The certificate is looked up per handshake,
// so a reload applies to new connections and leaves open ones as they are.
func (t *TLS) Config() *tls.Config {
	// fiber (fasthttp) speaks HTTP/1.1 only: never offer h2.
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	if t.acme != nil {
		cfg.GetCertificate = t.acme.GetCertificate
		// TLS-ALPN-01 challenges are answered on this listener.
		cfg.NextProtos = append(cfg.NextProtos, acme.ALPNProto)
		return cfg
	}
	cfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return t.cert.Load(), nil }
	return cfg
}

// HTTPHandler answers the plain-HTTP listener: ACME's HTTP-01 challenges (with ACME) and a
// redirect of everything else to https.
func (t *TLS) HTTPHandler() http.Handler {
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// A beacon POSTed to http:// would be lost by a redirect that turns it into a GET.
			http.Error(w, "use https", http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, "https://"+r.Host+r.URL.RequestURI(), http.StatusMovedPermanently)
	})
	var h http.Handler = redirect
	if t.acme != nil {
		h = t.acme.HTTPHandler(redirect)
	}
	// The host is matched without a port: autocert's host policy compares names only, and the
	// https port is not the plain-HTTP one, so a redirect keeps the name and drops the port.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if host, _, err := net.SplitHostPort(r.Host); err == nil {
			r = r.Clone(r.Context())
			r.Host = host
		}
		h.ServeHTTP(w, r)
	})
}

// Reload loads the certificate files if they changed since the last look, and swaps the
// pair served for new handshakes. A pair that does not load (a key not yet written beside
// its new certificate, a typo) leaves the one served before in place. changed says whether
// a new pair is served.
func (t *TLS) Reload() (changed bool, err error) {
	if t.acme != nil {
		return false, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	stamp, err := fileStamp(t.opts.CertFile, t.opts.KeyFile)
	if err != nil || stamp == t.stamp {
		return false, err
	}
	t.stamp = stamp
	pair, err := tls.LoadX509KeyPair(t.opts.CertFile, t.opts.KeyFile)
	if err != nil {
		t.m.reloads.WithLabelValues("error").Inc()
		return false, fmt.Errorf("load %s and %s: %w", t.opts.CertFile, t.opts.KeyFile, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.m.reloads.WithLabelValues("error").Inc()
		return false, fmt.Errorf("parse %s: %w", t.opts.CertFile, err)
	}
	pair.Leaf = leaf
	t.cert.Store(&pair)
	t.m.reloads.WithLabelValues("ok").Inc()
	t.m.notAfter.Set(float64(leaf.NotAfter.Unix()))
	t.log.Info("TLS certificate loaded", "cert_file", t.opts.CertFile, "subject", leaf.Subject.String(),
		"names", leaf.DNSNames, "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	if until := time.Until(leaf.NotAfter); until < 14*24*time.Hour {
		t.log.Warn("TLS certificate expires soon", "cert_file", t.opts.CertFile, "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return true, nil
}

// fileStamp names the files' current content by size and modification time, which every
// way of replacing them (write in place, rename over, symlink swap) changes.
func fileStamp(paths ...string) (string, error) {
	var b strings.Builder
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%d/%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String(), nil
}

func (t *TLS) watch() {
	defer close(t.stopped)
	tick := time.NewTicker(t.opts.CheckEvery)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			if _, err := t.Reload(); err != nil {
				t.log.Warn("TLS certificate files changed but do not load; the certificate served before is kept", "err", err)
			}
		}
	}
}

// Close stops watching the files.
func (t *TLS) Close(ctx context.Context) error {
	select {
	case <-t.stop:
	default:
		close(t.stop)
	}
	select {
	case <-t.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
