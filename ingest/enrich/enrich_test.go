package enrich_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/prometheus/client_golang/prometheus"

	"rumd/ingest/enrich"
	"rumd/internal/geoipfile"
	"rumd/internal/testutil"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*enrich.Options)
		want string // "" means valid
	}{
		{"defaults", func(*enrich.Options) {}, ""},
		{"cidrs and bare addresses", func(o *enrich.Options) {
			o.TrustedProxies = []string{"10.0.0.0/8", " fd00::/8 ", "192.0.2.7", "2001:db8::1"}
		}, ""},
		{"bad cidr", func(o *enrich.Options) { o.TrustedProxies = []string{"10.0.0.0/8", "10.0.0.0/33"} },
			`trusted_proxies[1] "10.0.0.0/33": not a CIDR`},
		{"hostname as proxy", func(o *enrich.Options) { o.TrustedProxies = []string{"proxy.internal"} },
			`trusted_proxies[0] "proxy.internal": not a CIDR`},
		{"zone in proxy", func(o *enrich.Options) { o.TrustedProxies = []string{"fe80::1%eth0"} },
			`trusted_proxies[0] "fe80::1%eth0"`},
		{"header name with space", func(o *enrich.Options) { o.CountryHeader = "CF IPCountry" },
			`country_header "CF IPCountry": not a valid HTTP header name`},
		{"good header", func(o *enrich.Options) { o.CountryHeader = "CloudFront-Viewer-Country" }, ""},
		{"templates and regexes", func(o *enrich.Options) {
			o.PageRules = []enrich.PageRule{
				{Match: "/"}, {Match: "/questions/:id"}, {Match: "/static/*", Name: "static"},
				{Match: `re:^/users/\d+$`, Name: "/users/:id"},
			}
		}, ""},
		{"bad regex", func(o *enrich.Options) {
			o.PageRules = []enrich.PageRule{{Match: "/a"}, {Match: "re:^/users/(\\d+", Name: "users"}}
		}, `page_rules[1] (match "re:^/users/(\\d+"): bad regular expression: error parsing regexp: missing closing )`},
		{"empty regex", func(o *enrich.Options) { o.PageRules = []enrich.PageRule{{Match: "re:", Name: "x"}} },
			`page_rules[0] (match "re:"): empty regular expression`},
		{"regex without name", func(o *enrich.Options) { o.PageRules = []enrich.PageRule{{Match: "re:^/u/"}} },
			`page_rules[0] (match "re:^/u/"): a regular-expression rule needs a name`},
		{"empty match", func(o *enrich.Options) { o.PageRules = []enrich.PageRule{{Name: "x"}} },
			`page_rules[0] (match ""): empty match`},
		{"template without slash", func(o *enrich.Options) { o.PageRules = []enrich.PageRule{{Match: "questions/:id"}} },
			`must start with "/"`},
		{"star not last", func(o *enrich.Options) { o.PageRules = []enrich.PageRule{{Match: "/static/*/x"}} },
			`"*" must be the last segment`},
		{"star inside segment", func(o *enrich.Options) { o.PageRules = []enrich.PageRule{{Match: "/static/*.js"}} },
			`segment "*.js": "*" and ":" must start a segment`},
		{"empty parameter", func(o *enrich.Options) { o.PageRules = []enrich.PageRule{{Match: "/q/:"}} },
			`parameter ":"`},
		{"bad parameter", func(o *enrich.Options) { o.PageRules = []enrich.PageRule{{Match: "/q/:id-x"}} },
			`parameter ":id-x"`},
		{"double slash", func(o *enrich.Options) { o.PageRules = []enrich.PageRule{{Match: "/a//b"}} },
			`empty path segment`},
		{"query in template", func(o *enrich.Options) { o.PageRules = []enrich.PageRule{{Match: "/search?q=:q"}} },
			`matches paths only`},
		{"reserved name", func(o *enrich.Options) { o.PageRules = []enrich.PageRule{{Match: "/x", Name: "__other__"}} },
			`reserved`},
		{"long name", func(o *enrich.Options) {
			o.PageRules = []enrich.PageRule{{Match: "re:x", Name: "/" + strings.Repeat("n", 200)}}
		}, `name is 201 bytes, over the limit of 200`},
		{"control character in name", func(o *enrich.Options) { o.PageRules = []enrich.PageRule{{Match: "/x", Name: "a\nb"}} },
			`control character`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := enrich.DefaultOptions()
			tc.edit(&o)
			err := o.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
			// New refuses exactly what Validate refuses.
			e, err := enrich.New(nil, nil, o)
			if (err == nil) != (tc.want == "") {
				t.Fatalf("New error = %v, want error: %v", err, tc.want != "")
			}
			if e != nil {
				e.Close()
			}
		})
	}
}

func TestNewGeoIPErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.mmdb")
	if err := os.WriteFile(garbage, []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	asn := filepath.Join(dir, "asn.mmdb")
	writeASNDatabase(t, asn)
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing file", filepath.Join(dir, "nope.mmdb"), "open geoip database " + filepath.Join(dir, "nope.mmdb")},
		{"not a database", garbage, "open geoip database " + garbage},
		{"asn database", asn, `database type "GeoLite2-ASN" holds no country data`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := enrich.DefaultOptions()
			o.GeoIPPath = tc.path
			e, err := enrich.New(nil, nil, o)
			if err == nil {
				e.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func writeASNDatabase(t *testing.T, path string) {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-ASN", IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	_, n, _ := net.ParseCIDR("192.0.2.0/24")
	if err := tree.Insert(n, mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(64496)}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
}

func TestGeoIPInfoAndMetrics(t *testing.T) {
	for _, layout := range []geoipfile.Layout{geoipfile.GeoIP2Country, geoipfile.IPLocationDB} {
		t.Run(layout.String(), func(t *testing.T) {
			path := testutil.MustGeoIPFile(t, layout, testNets...)
			db, err := maxminddb.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			wantEpoch := int64(db.Metadata.BuildEpoch)
			db.Close()

			reg := prometheus.NewPedanticRegistry()
			o := enrich.DefaultOptions()
			o.GeoIPPath = path
			e, err := enrich.New(nil, reg, o)
			if err != nil {
				t.Fatal(err)
			}
			gotPath, built, ok := e.GeoIPInfo()
			if !ok || gotPath != path || built.Unix() != wantEpoch || built.Location() != time.UTC {
				t.Errorf("GeoIPInfo() = %q, %v, %v; want %q, %d UTC, true", gotPath, built, ok, path, wantEpoch)
			}
			if got := testutil.MustMetric(t, reg, "rumd_geoip_build_timestamp_seconds"); got != float64(wantEpoch) {
				t.Errorf("rumd_geoip_build_timestamp_seconds = %v, want %d", got, wantEpoch)
			}
			if got := testutil.MustMetric(t, reg, "rumd_geoip_database_info", "database_type", layout.String()); got != 1 {
				t.Errorf("rumd_geoip_database_info{database_type=%q} = %v, want 1", layout.String(), got)
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			if err := e.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		})
	}
	t.Run("no database", func(t *testing.T) {
		reg := prometheus.NewPedanticRegistry()
		e, err := enrich.New(nil, reg, enrich.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if strings.HasPrefix(mf.GetName(), "rumd_geoip_build") || strings.HasPrefix(mf.GetName(), "rumd_geoip_database") {
				t.Errorf("%s exported without a database", mf.GetName())
			}
		}
	})
}
