package loadtest

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"rumd/ingest"
	"rumd/ingest/boomerang"
	"rumd/ingest/enrich"
)

// TestBoomerangPoolAgainstServer feeds every boomerang beacon of a pool through rumd's own
// ingest pipeline, as the server does for /beacon: page loads and unload beacons must be
// accepted with exactly the labels and values the load tool will compare against (the page
// load without INP, the unload beacon with INP alone), and each bad one refused for the
// reason it was made for.
func TestBoomerangPoolAgainstServer(t *testing.T) {
	now := time.Now()
	pool, err := BuildBoomerangPool(6000, 0.2, nil, 42, now)
	if err != nil {
		t.Fatal(err)
	}
	geo := filepath.Join(t.TempDir(), "geo.mmdb")
	if err := WriteGeoIP(geo, "geoip2-country"); err != nil {
		t.Fatal(err)
	}
	opts := enrich.DefaultOptions()
	opts.GeoIPPath = geo
	opts.TrustedProxies = []string{"127.0.0.1/32"}
	e, err := enrich.New(nil, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sink := &lastRecord{}
	pipe, err := ingest.New(nil, nil, e, sink, ingest.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	peer := netip.MustParseAddr("127.0.0.1")
	recv := now.Add(3 * time.Second)

	got := map[string]int{}
	kinds := map[boomerang.Kind]int{}
	gets := 0
	for i := range pool.Items {
		it := &pool.Items[i]
		reason := "ok"
		if len(it.Body) > maxBody {
			reason = "too_large"
		} else {
			cl := pipe.Client(&ingest.Request{Peer: peer, ForwardedFor: it.IP, UserAgent: it.UA})
			var query, body []byte
			if it.Get {
				query = it.Body
				gets++
			} else {
				body = it.Body
			}
			kind, r, detail := pipe.Boomerang(query, body, &cl, recv)
			kinds[kind]++
			if kind.Ignored() {
				t.Fatalf("item %d is an ignored %v beacon", i, kind)
			}
			if r.String() != "ok" {
				reason = r.String()
				if it.Reason != reason {
					t.Errorf("item %d (%s) refused as %s: %s\n%s", i, it.Reason, reason, detail, it.Body)
				}
			} else {
				checkRecord(t, i, &sink.rec, it)
			}
		}
		want := it.Reason
		if want == "" {
			want = "ok"
		}
		if reason != want {
			t.Errorf("item %d: meant %s, got %s", i, want, reason)
		}
		got[reason]++
		if t.Failed() && i > 50 {
			t.FailNow()
		}
	}
	for _, r := range BadReasons {
		if got[r] != 120 {
			t.Errorf("%s: %d beacons, want 120", r, got[r])
		}
	}
	if got["ok"] != 4800 {
		t.Errorf("good: %d beacons, want 4800", got["ok"])
	}
	// About 70% of page views had an interaction, so about 40% of the good beacons are
	// unload beacons; a fifth of the page loads go as GETs.
	if kinds[boomerang.Unload] < 1400 || kinds[boomerang.PageLoad] < 2800 || gets < 400 {
		t.Errorf("kinds %v, %d GETs", kinds, gets)
	}
}

// TestBoomerangLoadMixesGetsAndPosts sends a boomerang pool, GETs among POSTs on the same
// keep-alive connections, to the bare handler: every send must be answered.
func TestBoomerangLoadMixesGetsAndPosts(t *testing.T) {
	b, err := StartBaseline("127.0.0.1:0", "/beacon")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pool, err := BuildBoomerangPool(200, 0, nil, 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	gets := 0
	for _, it := range pool.Items {
		if it.Get {
			gets++
		}
	}
	o := DefaultOptions()
	o.Path, o.Format, o.Count, o.Connections, o.Timeout = "/beacon", FormatBoomerang, 400, 2, 2*time.Second
	res, err := RunLoad(context.Background(), b.URL(), pool, &o)
	if err != nil {
		t.Fatal(err)
	}
	if gets == 0 || res.Answered != 400 || res.Errors != 0 || res.Status[204] != 400 {
		t.Errorf("%d GETs in the pool; answered %d, errors %d (%s), status %v", gets, res.Answered, res.Errors, res.FirstError, res.Status)
	}
}
