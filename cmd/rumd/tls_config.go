package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"rumd/internal/tlsconf"
)

// tlsConfig is how rumd serves HTTPS (docs/deploy.md): certificate files, or automatic
// certificates through ACME, and an optional plain-HTTP listener for ACME's HTTP-01
// challenge and a redirect to https.
type tlsConfig struct {
	CertFile   string     `yaml:"cert_file"`
	KeyFile    string     `yaml:"key_file"`
	HTTPListen string     `yaml:"http_listen"`
	ACME       acmeConfig `yaml:"acme"`
}

type acmeConfig struct {
	Hosts []string `yaml:"hosts"`
	Email string   `yaml:"email"`
	// CacheDir empty means <data>/acme.
	CacheDir     string `yaml:"cache_dir"`
	DirectoryURL string `yaml:"directory_url"`
}

func defaultTLSConfig() tlsConfig {
	return tlsConfig{ACME: acmeConfig{DirectoryURL: tlsconf.DefaultOptions().ACME.DirectoryURL}}
}

func tlsFlags(fs *flag.FlagSet, cfg *Config) {
	t := &cfg.TLS
	fs.StringVar(&t.CertFile, "tls-cert-file", t.CertFile, "PEM certificate (chain) to serve HTTPS with; reloaded when it changes and on SIGHUP")
	fs.StringVar(&t.KeyFile, "tls-key-file", t.KeyFile, "PEM private key of --tls-cert-file")
	fs.StringVar(&t.HTTPListen, "tls-http-listen", t.HTTPListen, "with TLS, also serve plain HTTP here (e.g. :80): ACME HTTP-01 challenges, and a redirect to https; empty: off")
	fs.Var(stringList{&t.ACME.Hosts}, "tls-acme-hosts", "comma-separated host names to get certificates for through ACME (Let's Encrypt by default); empty: off")
	fs.StringVar(&t.ACME.Email, "tls-acme-email", t.ACME.Email, "contact address given to the ACME certificate authority")
	fs.StringVar(&t.ACME.CacheDir, "tls-acme-cache-dir", t.ACME.CacheDir, "directory keeping the ACME account key and certificates (empty: acme/ under --data)")
	fs.StringVar(&t.ACME.DirectoryURL, "tls-acme-directory-url", t.ACME.DirectoryURL, "ACME directory of the certificate authority")
}

// tlsBindings hand the tls: options to tlsconf, whose Validate holds the rules. The files
// are a pair, so tls.cert_file hands both, and the ACME cache and directory come before the
// hosts that need them: replaying the bindings one by one (buildOptions) then names the
// option really at fault, not its partner still at its default.
var tlsBindings = []binding{
	{"tls.cert_file", func(c *Config, o *options) error {
		o.tls.CertFile, o.tls.KeyFile = c.TLS.CertFile, c.TLS.KeyFile
		return nil
	}},
	{"tls.key_file", func(c *Config, o *options) error { o.tls.KeyFile = c.TLS.KeyFile; return nil }},
	{"tls.acme.cache_dir", func(c *Config, o *options) error {
		o.tls.ACME.CacheDir = c.TLS.ACME.CacheDir
		if o.tls.ACME.CacheDir == "" {
			o.tls.ACME.CacheDir = filepath.Join(c.Data, "acme")
		}
		return nil
	}},
	{"tls.acme.directory_url", func(c *Config, o *options) error { o.tls.ACME.DirectoryURL = c.TLS.ACME.DirectoryURL; return nil }},
	{"tls.acme.email", func(c *Config, o *options) error { o.tls.ACME.Email = c.TLS.ACME.Email; return nil }},
	{"tls.acme.hosts", func(c *Config, o *options) error { o.tls.ACME.Hosts = c.TLS.ACME.Hosts; return nil }},
	{"tls.http_listen", func(c *Config, o *options) error {
		if c.TLS.HTTPListen != "" && !o.tls.Enabled() {
			return errors.New("is only for TLS: set tls.cert_file and tls.key_file, or tls.acme.hosts")
		}
		return nil
	}},
}

// reloadOnHangup loads the certificate files again on each SIGHUP (systemctl reload), for a
// renewal tool that should see its new certificate served at once; with no files (certs nil)
// it says there is nothing to reload. It returns once it is listening for the signal, and
// stops listening when ctx ends.
func reloadOnHangup(ctx context.Context, logger *slog.Logger, certs *tlsconf.TLS) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go watchHangup(ctx, logger, certs, hup)
}

func watchHangup(ctx context.Context, logger *slog.Logger, certs *tlsconf.TLS, hup chan os.Signal) {
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if certs == nil {
				logger.Info("SIGHUP: nothing to reload (no tls.cert_file); the configuration is read only at start")
				continue
			}
			changed, err := certs.Reload()
			switch {
			case err != nil:
				logger.Warn("SIGHUP: the certificate files do not load; the certificate served before is kept", "err", err)
			case !changed:
				logger.Info("SIGHUP: the certificate files are unchanged")
			}
		}
	}
}

// serveHTTPRedirect serves the plain-HTTP listener beside the TLS one: ACME HTTP-01
// challenges and a redirect to https. Its timeouts bound what a slow client can hold.
func serveHTTPRedirect(addr string, h http.Handler, logger *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tls.http_listen on %s: %w", addr, err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go hs.Serve(ln)
	logger.Info("serving plain HTTP: ACME challenges and a redirect to https", "addr", ln.Addr().String())
	return func() { hs.Close() }, nil
}
