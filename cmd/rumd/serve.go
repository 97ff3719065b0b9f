package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	rtpprof "runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"rumd/aggregator"
	beaconjs "rumd/beacon-js"
	"rumd/dashboards"
	"rumd/graphite"
	"rumd/home"
	"rumd/ingest"
	"rumd/ingest/enrich"
	"rumd/internal/buildinfo"
	"rumd/internal/tlsconf"
	"rumd/promexp"
	"rumd/query"
	"rumd/server"
	"rumd/storage"
)

func runServe(args []string) int {
	cfg, err := loadConfig(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rumd serve:", err)
		return 2
	}
	logger := newLogger(cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serve(ctx, logger, cfg, nil); err != nil {
		logger.Error("rumd stopped", "err", err)
		return 1
	}
	return 0
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// serve runs rumd until ctx ends: components start in pipeline order (storage, aggregator,
// enrichment, HTTP) and stop in reverse, so on SIGTERM no accepted beacon is lost: the
// listener closes, requests in flight finish, the aggregator drains its queue and writes
// every window, and Badger closes. ready, when not nil, gets the bound address.
func serve(ctx context.Context, logger *slog.Logger, cfg *Config, ready chan<- string) error {
	o, err := buildOptions(cfg)
	if err != nil {
		return err
	}
	resolveGeoIP(logger, cfg.GeoIP, &o.enrich)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build := buildinfo.Get()
	if err := buildinfo.Register(reg, build); err != nil {
		return err
	}
	// TLS first: a certificate that does not load stops rumd before it opens anything.
	var certs *tlsconf.TLS
	if o.tls.Enabled() {
		if certs, err = tlsconf.New(logger.With("component", "tls"), reg, o.tls); err != nil {
			return err
		}
		defer certs.Close(context.Background())
	}

	var store sketchStore = &noStorage{}
	if cfg.Storage != "none" {
		if store, err = storage.Open(cfg.Data, logger.With("component", "storage"), reg, o.storage); err != nil {
			return err
		}
	}
	agg, err := aggregator.Open(logger.With("component", "aggregator"), reg, store, o.agg)
	if err != nil {
		store.Close(context.Background())
		return err
	}
	// enrich names its own component in its log lines.
	enr, err := enrich.New(logger, reg, o.enrich)
	if err != nil {
		agg.Close(context.Background())
		store.Close(context.Background())
		return err
	}
	pipe, err := ingest.New(logger.With("component", "ingest"), reg, enr, agg, o.ingest)
	if err != nil {
		enr.Close()
		agg.Close(context.Background())
		store.Close(context.Background())
		return err
	}
	eng, err := query.New(logger.With("component", "query"), reg, store, agg, o.query)
	if err != nil {
		enr.Close()
		agg.Close(context.Background())
		store.Close(context.Background())
		return err
	}
	gopts := graphite.DefaultOptions()
	var rum prometheus.Gatherer
	if len(o.agg.Totals.Views) > 0 {
		rum = promexp.NewRegistry(promexp.NewCollector(agg, o.agg.Views))
	}
	srv, err := server.New(logger.With("component", "server"), reg, server.Deps{
		Pipeline:    pipe,
		Engine:      eng,
		Gatherer:    reg,
		RUMGatherer: rum,
		Checks:      healthChecks(store, agg, enr, o.agg.HoldBytes),
		Mounts: []func(fiber.Router) error{
			func(r fiber.Router) error { return beaconjs.Mount(r, o.snippet) },
			func(r fiber.Router) error { return graphite.Mount(r, eng, gopts) },
			dashboards.Mount,
			func(r fiber.Router) error {
				return home.Mount(r, reg, home.Options{Version: build.Version, Commit: build.Commit, IngestPath: o.snippet.Endpoint})
			},
		},
	}, o.server)
	if err != nil {
		enr.Close()
		agg.Close(context.Background())
		store.Close(context.Background())
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		enr.Close()
		agg.Close(context.Background())
		store.Close(context.Background())
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	var stopHTTP func()
	if certs != nil {
		ln = tls.NewListener(ln, certs.Config())
		if cfg.TLS.HTTPListen != "" {
			if stopHTTP, err = serveHTTPRedirect(cfg.TLS.HTTPListen, certs.HTTPHandler(), logger); err != nil {
				ln.Close()
				enr.Close()
				agg.Close(context.Background())
				store.Close(context.Background())
				return err
			}
			defer stopHTTP()
		}
	}
	// SIGHUP (systemctl reload) would otherwise end rumd without draining what it holds.
	if o.tls.CertFile != "" {
		reloadOnHangup(ctx, logger, certs)
	} else {
		reloadOnHangup(ctx, logger, nil)
	}
	logger.Info("rumd serving", "addr", ln.Addr().String(), "storage", cfg.Storage, "data", cfg.Data, "geoip", o.enrich.GeoIPPath, "prometheus", rum != nil,
		"ingest", o.snippet.Endpoint, "formats", servedFormats(o.server), "views", len(o.agg.Views), "version", build.Version, "commit", build.Commit,
		"tls", certs != nil)
	logStartURLs(logger, ln.Addr(), certs != nil, o.tls.ACME.Hosts)
	warnOpenReadAPI(logger, ln.Addr(), o.server.Token)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	if cfg.PprofListen != "" {
		stopPprof, err := servePprof(cfg.PprofListen, logger)
		if err != nil {
			srv.Shutdown(context.Background())
			agg.Close(context.Background())
			enr.Close()
			store.Close(context.Background())
			return err
		}
		defer stopPprof()
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case <-ctx.Done():
	case err := <-served:
		logger.Error("HTTP server stopped", "err", err)
	}
	t0 := time.Now()
	logger.Info("shutting down: draining requests, queue and windows")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownAfter)
	defer cancel()
	var errs []error
	if err := srv.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("stop HTTP: %w", err))
	}
	if err := agg.Close(sctx); err != nil {
		errs = append(errs, fmt.Errorf("drain aggregator: %w", err))
		if errors.Is(err, context.DeadlineExceeded) {
			// A drain that outlives the timeout is waiting on something it should not: say
			// what every goroutine was doing, so the cause is in the log.
			var stacks strings.Builder
			_ = rtpprof.Lookup("goroutine").WriteTo(&stacks, 1)
			logger.Error("the aggregator did not drain within the shutdown timeout; the goroutines follow", "goroutines", stacks.String())
		}
		if windows, beacons, _ := agg.Held(); windows > 0 {
			logger.Error("windows could not be written before exit; their beacons are lost",
				"unwritten_windows", windows, "unwritten_beacons", beacons, "err", err)
		}
	}
	if err := enr.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := store.Close(sctx); err != nil {
		errs = append(errs, err)
	}
	logger.Info("rumd stopped", "shutdown", time.Since(t0).String(), "flushed_until", time.Unix(store.Flushed(), 0).UTC())
	return errors.Join(errs...)
}

// warnOpenReadAPI says at start when anyone who can reach rumd can read what it holds: no
// token, and a listener that is not on loopback only (behind a proxy on the same machine,
// rumd listens on loopback and the proxy decides who reaches it).
func warnOpenReadAPI(logger *slog.Logger, addr net.Addr, token string) {
	if token != "" {
		return
	}
	if ta, ok := addr.(*net.TCPAddr); ok && ta.IP.IsLoopback() {
		return
	}
	logger.Warn("the read API (queries, Graphite, dashboards, /metrics/rum) is open to anyone who can reach this address: "+
		"set --token, or listen on 127.0.0.1 behind a proxy that authenticates", "addr", addr.String())
}

// healthChecks builds the /readyz tree: storage, GeoIP database and aggregator queue.
func healthChecks(st sketchStore, agg *aggregator.Aggregator, enr *enrich.Enricher, holdBytes int64) []server.Check {
	return []server.Check{
		{Name: "storage", Check: func() server.Health {
			store, ok := st.(*storage.DB)
			if !ok {
				return server.Health{Status: server.Healthy, Attributes: map[string]any{"mode": "none",
					"note": "stateless node: nothing is kept on disk; the query and Graphite APIs see only the windows in memory"}}
			}
			h := server.Health{Status: server.Healthy, Attributes: map[string]any{"disk_bytes": store.DiskBytes()}}
			if err := store.Check(); err != nil {
				h.Status, h.Attributes["error"] = server.Critical, err.Error()
			}
			if f := store.Flushed(); f > 0 {
				h.Attributes["flushed_until"] = time.Unix(f, 0).UTC().Format(time.RFC3339)
			}
			if n := agg.PendingWindows(); n > 2 {
				h.Status, h.Attributes["pending_windows"] = max(h.Status, server.Warning), n
			}
			h.Attributes["free_bytes"], h.Attributes["reserve_bytes"] = store.FreeBytes(), store.ReserveBytes()
			if store.Full() {
				windows, beacons, bytes := agg.Held()
				h.Status, h.Attributes["reason"] = server.Critical, "storage_full"
				h.Attributes["note"] = "less than reserve_bytes free, or the last write failed for want of room: closed windows are held in memory, and at hold_bytes beacons are answered 503 storage_full"
				h.Attributes["held_windows"], h.Attributes["held_beacons"], h.Attributes["held_bytes"] = windows, beacons, bytes
				h.Attributes["hold_bytes"], h.Attributes["refusing_beacons"] = holdBytes, agg.Refusing()
			}
			return h
		}},
		{Name: "geoip", Check: func() server.Health { return geoipHealth(enr, time.Now()) }},
		{Name: "aggregator", Check: func() server.Health {
			depth, capacity := agg.QueueDepth(), agg.QueueCapacity()
			h := server.Health{Status: server.Healthy, Attributes: map[string]any{"queue_depth": depth, "queue_capacity": capacity}}
			switch {
			case depth >= capacity:
				h.Status = server.Critical
			case depth*10 >= capacity*8:
				h.Status = server.Warning
			}
			return h
		}},
	}
}

// servePprof serves Go's profiles on their own listener, off the public port, so an operator
// can see where a busy rumd spends its time.
func servePprof(addr string, logger *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	logger.Info("pprof serving", "addr", ln.Addr().String())
	return func() { hs.Close() }, nil
}
