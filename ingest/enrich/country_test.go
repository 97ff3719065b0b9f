package enrich_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/prometheus/client_golang/prometheus"

	"rumd/ingest/enrich"
	"rumd/internal/geoipfile"
	"rumd/internal/testutil"
)

// testNets are documentation ranges, so no test depends on who owns an address.
var testNets = []geoipfile.Network{
	{CIDR: "192.0.2.0/24", Country: "DE"},
	{CIDR: "198.51.100.0/24", Country: "us"}, // lower case in the file: must come out upper
	{CIDR: "203.0.113.0/25", Country: "JP"},
	{CIDR: "2001:db8:de::/48", Country: "DE"},
	{CIDR: "2001:db8:b2::/48", Country: "BR"},
	{CIDR: "2001:db8:ff::/48", Country: "T1"}, // not a country code
}

func mustEnricher(tb testing.TB, opts enrich.Options) *enrich.Enricher {
	tb.Helper()
	e, err := enrich.New(nil, nil, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	return e
}

func TestCountryFromDatabase(t *testing.T) {
	for _, layout := range []geoipfile.Layout{geoipfile.GeoIP2Country, geoipfile.IPLocationDB, geoipfile.GeoIP2City} {
		t.Run(layout.String(), func(t *testing.T) {
			opts := enrich.DefaultOptions()
			opts.GeoIPPath = testutil.MustGeoIPFile(t, layout, testNets...)
			e := mustEnricher(t, opts)
			for _, tc := range []struct {
				name, ip, want string
			}{
				{"ipv4", "192.0.2.10", "DE"},
				{"ipv4 lower case in file", "198.51.100.255", "US"},
				{"ipv4 mapped in ipv6", "::ffff:203.0.113.1", "JP"},
				{"ipv4 just outside", "203.0.113.128", "XX"},
				{"ipv6", "2001:db8:de::1", "DE"},
				{"ipv6 other", "2001:db8:b2:1234::42", "BR"},
				{"ipv6 bad code in file", "2001:db8:ff::1", "XX"},
				{"ipv6 unknown", "2001:db8:1::1", "XX"},
				{"unknown public", "8.8.8.8", "XX"},
				{"loopback", "127.0.0.1", "XX"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					ip := netip.MustParseAddr(tc.ip)
					// Twice: the first lookup fills the record cache, the second reads it.
					for range 2 {
						if got := e.Country(ip, "", ""); got != tc.want {
							t.Fatalf("Country(%s) = %q, want %q", tc.ip, got, tc.want)
						}
					}
				})
			}
		})
	}
}

func TestCountryWithoutDatabase(t *testing.T) {
	e := mustEnricher(t, enrich.DefaultOptions())
	for _, ip := range []string{"192.0.2.10", "2001:db8:de::1", "127.0.0.1"} {
		if got := e.Country(netip.MustParseAddr(ip), "", ""); got != "XX" {
			t.Errorf("Country(%s) without a database = %q, want XX", ip, got)
		}
	}
	if got := e.Country(netip.Addr{}, "", ""); got != "XX" {
		t.Errorf("Country(invalid address) = %q, want XX", got)
	}
	if _, _, ok := e.GeoIPInfo(); ok {
		t.Error("GeoIPInfo reports a database when none is configured")
	}
}

// TestCountryManyRecords looks up more distinct records than the record cache has entries, in
// a City database where every network has a record of its own, so that cache slots are
// overwritten and any mix-up between records shows as a wrong country.
func TestCountryManyRecords(t *testing.T) {
	var nets []geoipfile.Network
	want := map[netip.Addr]string{}
	for i := range 26 * 26 * 8 {
		cc := string([]byte{byte('A' + i/26%26), byte('A' + i%26)})
		if cc == "XX" {
			cc = "XY"
		}
		cidr := fmt.Sprintf("10.%d.%d.0/24", i/256, i%256)
		nets = append(nets, geoipfile.Network{CIDR: cidr, Country: cc})
		want[netip.MustParseAddr(fmt.Sprintf("10.%d.%d.7", i/256, i%256))] = cc
	}
	opts := enrich.DefaultOptions()
	opts.GeoIPPath = testutil.MustGeoIPFile(t, geoipfile.GeoIP2City, nets...)
	e := mustEnricher(t, opts)
	// Concurrent passes, so that the race detector sees readers and writers share slots.
	var wg sync.WaitGroup
	for pass := range 4 {
		wg.Go(func() {
			for ip, cc := range want {
				if got := e.Country(ip, "", ""); got != cc {
					t.Errorf("pass %d: Country(%s) = %q, want %q", pass, ip, got, cc)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestClientAddr(t *testing.T) {
	opts := enrich.DefaultOptions()
	opts.TrustedProxies = []string{"10.0.0.0/8", "2001:db8:aaaa::/48", "172.16.0.1"}
	e := mustEnricher(t, opts)
	for _, tc := range []struct {
		name, peer, xff, want string
	}{
		{"untrusted peer, no xff", "192.0.2.1", "", "192.0.2.1"},
		{"untrusted peer spoofs xff", "192.0.2.1", "198.51.100.9", "192.0.2.1"},
		{"trusted peer, no xff", "10.1.2.3", "", "10.1.2.3"},
		{"trusted peer", "10.1.2.3", "198.51.100.9", "198.51.100.9"},
		{"trusted bare address", "172.16.0.1", "198.51.100.9", "198.51.100.9"},
		{"next to a trusted bare address", "172.16.0.2", "198.51.100.9", "172.16.0.2"},
		{"client spoofs left of real hop", "10.1.2.3", "203.0.113.66, 198.51.100.9", "198.51.100.9"},
		{"chain of trusted proxies", "10.1.2.3", "198.51.100.9, 10.9.9.9,10.8.8.8", "198.51.100.9"},
		{"all hops trusted", "10.1.2.3", "10.0.0.5, 10.0.0.6", "10.0.0.5"},
		{"ipv6 client", "2001:db8:aaaa::1", "2001:db8:1::77", "2001:db8:1::77"},
		{"ipv4-mapped peer", "::ffff:10.1.2.3", "198.51.100.9", "198.51.100.9"},
		{"ipv4-mapped hop", "10.1.2.3", "::ffff:198.51.100.9", "198.51.100.9"},
		{"hop with port", "10.1.2.3", "198.51.100.9:4711", "198.51.100.9"},
		{"ipv6 hop with port", "10.1.2.3", "[2001:db8:1::77]:443", "2001:db8:1::77"},
		{"empty entries", "10.1.2.3", " , 198.51.100.9 ,, ", "198.51.100.9"},
		{"garbage stops at last trusted hop", "10.1.2.3", "198.51.100.9, unknown, 10.0.0.7", "10.0.0.7"},
		{"garbage right after peer", "10.1.2.3", "198.51.100.9, <script>", "10.1.2.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := e.ClientAddr(netip.MustParseAddr(tc.peer), tc.xff)
			if want := netip.MustParseAddr(tc.want); got != want {
				t.Fatalf("ClientAddr(%s, %q) = %s, want %s", tc.peer, tc.xff, got, want)
			}
		})
	}
}

func TestCountryTrust(t *testing.T) {
	opts := enrich.DefaultOptions()
	opts.GeoIPPath = testutil.MustGeoIPFile(t, geoipfile.GeoIP2Country, testNets...)
	opts.TrustedProxies = []string{"10.0.0.0/8", "2001:db8:aaaa::/48"}
	opts.CountryHeader = "CF-IPCountry"
	e := mustEnricher(t, opts)
	for _, tc := range []struct {
		name, peer, xff, cdn, want string
	}{
		{"untrusted peer, own address", "192.0.2.1", "", "", "DE"},
		{"untrusted peer spoofs xff", "192.0.2.1", "198.51.100.9", "", "DE"},
		{"untrusted peer spoofs cdn header", "192.0.2.1", "", "FR", "DE"},
		{"untrusted peer spoofs both", "192.0.2.1", "2001:db8:b2::1", "FR", "DE"},
		{"untrusted unknown peer spoofs", "8.8.4.4", "198.51.100.9", "US", "XX"},
		{"trusted peer, xff", "10.1.2.3", "198.51.100.9", "", "US"},
		{"trusted ipv6 peer, ipv6 xff", "2001:db8:aaaa::1", "2001:db8:b2::1", "", "BR"},
		{"trusted peer, cdn header wins", "10.1.2.3", "198.51.100.9", "fr", "FR"},
		{"trusted peer, cdn header padded", "10.1.2.3", "", " GB ", "GB"},
		{"cdn unknown falls back to xff", "10.1.2.3", "198.51.100.9", "XX", "US"},
		{"cdn tor falls back to xff", "10.1.2.3", "198.51.100.9", "T1", "US"},
		{"cdn garbage falls back to xff", "10.1.2.3", "198.51.100.9", "Germany", "US"},
		{"trusted peer without xff is looked up itself", "10.1.2.3", "", "", "XX"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.Country(netip.MustParseAddr(tc.peer), tc.xff, tc.cdn); got != tc.want {
				t.Fatalf("Country(%s, %q, %q) = %q, want %q", tc.peer, tc.xff, tc.cdn, got, tc.want)
			}
		})
	}
	if got := e.CountryHeader(); got != "CF-IPCountry" {
		t.Errorf("CountryHeader() = %q", got)
	}
}

// TestCountryIPInfoLayout reads ipinfo's layout, where "country" is the code itself, and a
// record with no usable code at all.
func TestCountryIPInfoLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipinfo.mmdb")
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "ipinfo country.mmdb", IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, rec := range map[string]mmdbtype.Map{
		"192.0.2.0/24":    {"country": mmdbtype.String("NZ"), "country_name": mmdbtype.String("New Zealand"), "continent": mmdbtype.String("OC")},
		"198.51.100.0/24": {"country": mmdbtype.Uint32(554)},
		"203.0.113.0/24":  {"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("AU")}},
	} {
		_, n, _ := net.ParseCIDR(cidr)
		if err := tree.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	f.Close()

	reg := prometheus.NewPedanticRegistry()
	o := enrich.DefaultOptions()
	o.GeoIPPath = path
	e, err := enrich.New(nil, reg, o)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, tc := range []struct{ ip, want string }{
		{"192.0.2.1", "NZ"},
		{"198.51.100.1", "XX"},
		{"203.0.113.1", "AU"}, // registered_country only, as for anycast networks
	} {
		for range 2 {
			if got := e.Country(netip.MustParseAddr(tc.ip), "", ""); got != tc.want {
				t.Fatalf("Country(%s) = %q, want %q", tc.ip, got, tc.want)
			}
		}
	}
	if got := testutil.MustMetric(t, reg, "rumd_geoip_lookup_errors_total"); got != 2 {
		t.Errorf("rumd_geoip_lookup_errors_total = %v, want 2 (the numeric record, looked up twice)", got)
	}
}
