package server

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"rumd/ingest/beacon"
	"rumd/ingest/enrich"
	"rumd/internal/testutil"
)

func TestProxyHintSaysOnce(t *testing.T) {
	proxy := netip.MustParseAddr("203.0.113.7")
	spread := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}) }
	type refusal struct {
		r       beacon.Reason
		addr    netip.Addr
		direct  bool
		trusted bool
	}
	for _, tc := range []struct {
		name string
		send func(i int) refusal
		want int // warnings naming --trusted-proxies
		xff  int // warnings asking for X-Forwarded-For
	}{
		{"one untrusted address", func(i int) refusal { return refusal{beacon.RateLimited, proxy, true, false} }, 1, 0},
		{"one trusted proxy naming no client", func(i int) refusal { return refusal{beacon.RateLimited, proxy, true, true} }, 0, 1},
		{"one address, mixed with other refusals", func(i int) refusal {
			if i%3 == 0 {
				return refusal{beacon.Malformed, netip.Addr{}, false, false}
			}
			return refusal{beacon.RateLimited, proxy, true, false}
		}, 1, 0},
		{"many addresses", func(i int) refusal { return refusal{beacon.RateLimited, spread(i), true, false} }, 0, 0},
		{"clients named by a trusted proxy", func(i int) refusal { return refusal{beacon.RateLimited, proxy, false, true} }, 0, 0},
		{"mostly other reasons", func(i int) refusal {
			if i%3 == 0 {
				return refusal{beacon.RateLimited, proxy, true, false}
			}
			return refusal{beacon.ClockSkew, netip.Addr{}, false, false}
		}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&buf, nil))
			var h proxyHint
			now := time.Unix(1_700_000_000, 0)
			for i := 0; i < 300; i++ {
				r := tc.send(i)
				h.observe(log, now.Add(time.Duration(i)*10*time.Millisecond), r.r, r.addr, r.direct, r.trusted, true)
			}
			got := strings.Count(buf.String(), "--trusted-proxies")
			if got != tc.want {
				t.Fatalf("%d warnings, want %d:\n%s", got, tc.want, buf.String())
			}
			if got := strings.Count(buf.String(), "send X-Forwarded-For"); got != tc.xff {
				t.Fatalf("%d warnings asking for X-Forwarded-For, want %d:\n%s", got, tc.xff, buf.String())
			}
			if tc.want+tc.xff > 0 && !strings.Contains(buf.String(), `"address":"203.0.113.7"`) {
				t.Errorf("warning does not name the address:\n%s", buf.String())
			}
		})
	}
}

// TestProxyHintKnowsTrustedProxies drives the hint through the server: beacons from a
// trusted proxy (127.0.0.1 here) that names no client are rate limited, and the hint must
// not ask for the proxy to be trusted, which it already is.
func TestProxyHintKnowsTrustedProxies(t *testing.T) {
	var buf testutil.SyncBuffer
	ts := startServerLogged(t, slog.New(slog.NewJSONHandler(&buf, nil)), func(o *Options, eo *enrich.Options) {
		eo.TrustedProxies = []string{"127.0.0.1/32"}
		o.RateLimit.PerAddr, o.RateLimit.AddrBurst = 1, 1
	}, nil, nil)
	body := testutil.MustJSON(t, testutil.Beacon(time.Now(), "/", 100, 900))
	limited := 0
	for i := 0; i < 4*hintMinRefused && !strings.Contains(buf.String(), "rate_limited from one"); i++ {
		if code, _, _ := ts.post(t, body, nil); code == 429 {
			limited++
		}
	}
	if limited < hintMinRefused {
		t.Fatalf("only %d of the beacons were rate limited", limited)
	}
	logs := buf.String()
	if strings.Contains(logs, "--trusted-proxies") || !strings.Contains(logs, "send X-Forwarded-For") {
		t.Fatalf("want the hint to ask for X-Forwarded-For, not for trusting the proxy again:\n%s", logs)
	}
}
