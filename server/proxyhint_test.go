package server

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"rumd/ingest/beacon"
)

func TestProxyHintSaysOnce(t *testing.T) {
	proxy := netip.MustParseAddr("203.0.113.7")
	spread := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}) }
	type refusal struct {
		r      beacon.Reason
		addr   netip.Addr
		direct bool
	}
	for _, tc := range []struct {
		name string
		send func(i int) refusal
		want int // warnings logged
	}{
		{"one untrusted address", func(i int) refusal { return refusal{beacon.RateLimited, proxy, true} }, 1},
		{"one address, mixed with other refusals", func(i int) refusal {
			if i%3 == 0 {
				return refusal{beacon.Malformed, netip.Addr{}, false}
			}
			return refusal{beacon.RateLimited, proxy, true}
		}, 1},
		{"many addresses", func(i int) refusal { return refusal{beacon.RateLimited, spread(i), true} }, 0},
		{"clients named by a trusted proxy", func(i int) refusal { return refusal{beacon.RateLimited, proxy, false} }, 0},
		{"mostly other reasons", func(i int) refusal {
			if i%3 == 0 {
				return refusal{beacon.RateLimited, proxy, true}
			}
			return refusal{beacon.ClockSkew, netip.Addr{}, false}
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&buf, nil))
			var h proxyHint
			now := time.Unix(1_700_000_000, 0)
			for i := 0; i < 300; i++ {
				r := tc.send(i)
				h.observe(log, now.Add(time.Duration(i)*10*time.Millisecond), r.r, r.addr, r.direct, true)
			}
			got := strings.Count(buf.String(), "--trusted-proxies")
			if got != tc.want {
				t.Fatalf("%d warnings, want %d:\n%s", got, tc.want, buf.String())
			}
			if tc.want > 0 && !strings.Contains(buf.String(), `"address":"203.0.113.7"`) {
				t.Errorf("warning does not name the address:\n%s", buf.String())
			}
		})
	}
}
