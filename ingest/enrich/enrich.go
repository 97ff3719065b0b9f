// Package enrich derives, for each beacon at ingest, everything the server learns from the
// request rather than from the beacon body: the client address behind trusted proxies, its
// country (CDN header or GeoIP database), the device class, whether the client is a bot, and
// the page group of the beacon's URL. It sits between validation and aggregation in the
// server stage, and every call on the hot path is cheap and allocation-free once warm.
package enrich

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configures an Enricher.
type Options struct {
	// GeoIPPath is a MaxMind-format database (GeoIP2/GeoLite2/DB-IP Country or City, or an
	// ip-location-db country file). Empty means no database: every country is "XX".
	GeoIPPath string `yaml:"geoip"`
	// TrustedProxies are CIDRs (or bare addresses) of the proxies in front of rumd.
	// X-Forwarded-For and the CDN country header are honoured only when the TCP peer is
	// inside one of them.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// CountryHeader names a CDN's country header, e.g. "CF-IPCountry". Empty means none.
	CountryHeader string `yaml:"country_header"`
	// PageRules map URL paths to page groups; the first match wins, and paths no rule
	// matches go through the default rule.
	PageRules []PageRule `yaml:"page_rules"`
}

// DefaultOptions returns the options rumd runs with when nothing is configured: no GeoIP
// database, no CDN header, no page rules, and only loopback trusted (a reverse proxy on the
// same host), which cannot be spoofed from outside.
func DefaultOptions() Options {
	return Options{TrustedProxies: []string{"127.0.0.0/8", "::1/128"}}
}

// Validate reports the first configuration mistake, naming the option and the bad value.
func (o Options) Validate() error {
	if _, err := parseProxies(o.TrustedProxies); err != nil {
		return err
	}
	if h := o.CountryHeader; h != "" && !validHeaderName(h) {
		return fmt.Errorf("country_header %q: not a valid HTTP header name", h)
	}
	if _, err := compileRules(o.PageRules); err != nil {
		return err
	}
	return nil
}

func parseProxies(cidrs []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(cidrs))
	for i, s := range cidrs {
		s = strings.TrimSpace(s)
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("trusted_proxies[%d] %q: not a CIDR like 10.0.0.0/8 or fd00::/8", i, s)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("trusted_proxies[%d] %q: not a CIDR like 10.0.0.0/8 or fd00::/8", i, s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// validHeaderName reports whether h is an RFC 9110 token.
func validHeaderName(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Enricher derives a beacon's request-side dimensions. It is safe for concurrent use.
type Enricher struct {
	logger        *slog.Logger
	trusted       []netip.Prefix
	countryHeader string
	rules         []pageRule
	pages         *interner
	pageCache     *stringCache[string]      // page group by URL path
	agents        *stringCache[agentAnswer] // device class and bot by User-Agent
	counts        *cacheCounts              // lookups of those caches and of countries

	db        *maxminddb.Reader
	geoPath   string
	geoBuilt  time.Time
	countries *countryCache
	metrics   *metrics
}

type metrics struct {
	geoipErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, db *maxminddb.Reader) *metrics {
	m := &metrics{
		geoipErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rumd_geoip_lookup_errors_total",
			Help: "GeoIP lookups that failed on a corrupt database record; the country was recorded as XX.",
		}),
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.geoipErrors)
	if db != nil {
		built := prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rumd_geoip_build_timestamp_seconds",
			Help: "Build time of the loaded GeoIP database, as a Unix timestamp (the database's age is time() minus this).",
		})
		built.Set(float64(db.Metadata.BuildEpoch))
		info := prometheus.NewGauge(prometheus.GaugeOpts{
			Name:        "rumd_geoip_database_info",
			Help:        "The loaded GeoIP database's type; always 1.",
			ConstLabels: prometheus.Labels{"database_type": db.Metadata.DatabaseType},
		})
		info.Set(1)
		reg.MustRegister(built, info)
	}
	return m
}

// New validates opts, opens the GeoIP database if one is configured and registers the
// enrichment metrics on reg (which may be nil).
func New(logger *slog.Logger, reg prometheus.Registerer, opts Options) (*Enricher, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("enrich options: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	trusted, _ := parseProxies(opts.TrustedProxies)
	rules, _ := compileRules(opts.PageRules)
	e := &Enricher{
		logger:        logger.With("component", "enrich"),
		trusted:       trusted,
		countryHeader: opts.CountryHeader,
		rules:         rules,
		pages:         newInterner(),
		pageCache:     newStringCache[string](pageCacheSets, maxPageKey),
		agents:        newStringCache[agentAnswer](agentCacheSets, maxAgentKey),
		counts:        new(cacheCounts),
		geoPath:       opts.GeoIPPath,
	}
	if opts.GeoIPPath != "" {
		db, err := maxminddb.Open(opts.GeoIPPath)
		if err != nil {
			return nil, fmt.Errorf("open geoip database %s: %w", opts.GeoIPPath, err)
		}
		if err := checkCountryDatabase(db); err != nil {
			db.Close()
			return nil, fmt.Errorf("open geoip database %s: %w", opts.GeoIPPath, err)
		}
		e.db = db
		e.geoBuilt = db.Metadata.BuildTime().UTC()
		e.countries = new(countryCache)
		e.logger.Info("geoip database loaded", "path", opts.GeoIPPath,
			"type", db.Metadata.DatabaseType, "built", e.geoBuilt, "ip_version", db.Metadata.IPVersion)
	}
	e.metrics = newMetrics(reg, e.db)
	if reg != nil {
		reg.MustRegister(newCacheCollector(e.counts))
	}
	return e, nil
}

// checkCountryDatabase refuses databases that can never yield a country, such as an ASN
// database passed by mistake, so that the mistake shows at start-up rather than as a
// world map of XX.
func checkCountryDatabase(db *maxminddb.Reader) error {
	t := strings.ToLower(db.Metadata.DatabaseType)
	for _, bad := range []string{"asn", "isp", "connection-type", "anonymous", "domain"} {
		if strings.Contains(t, bad) && !strings.Contains(t, "country") && !strings.Contains(t, "city") {
			return fmt.Errorf("database type %q holds no country data; want a Country or City database", db.Metadata.DatabaseType)
		}
	}
	if db.Metadata.IPVersion != 4 && db.Metadata.IPVersion != 6 {
		return fmt.Errorf("database has ip_version %d", db.Metadata.IPVersion)
	}
	return nil
}

// GeoIPInfo reports the loaded GeoIP database's path and build time, for readiness checks;
// ok is false when no database is configured.
func (e *Enricher) GeoIPInfo() (path string, buildEpoch time.Time, ok bool) {
	if e.db == nil {
		return "", time.Time{}, false
	}
	return e.geoPath, e.geoBuilt, true
}

// Close releases the GeoIP database. It must be called after the last lookup: the database
// is memory-mapped, and the ingest path stops before enrichment is closed.
func (e *Enricher) Close() error {
	if e.db == nil {
		return nil
	}
	err := e.db.Close()
	e.db = nil
	if err != nil {
		return fmt.Errorf("close geoip database %s: %w", e.geoPath, err)
	}
	return nil
}
