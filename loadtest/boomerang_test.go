package loadtest

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"rumd/ingest"
	"rumd/ingest/boomerang"
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
	pipe, sink := poolPipeline(t)
	peer := netip.MustParseAddr("127.0.0.1")
	recv := now.Add(3 * time.Second)
	kinds := map[boomerang.Kind]int{}
	gets := 0
	checkPool(t, pool, sink, func(i int, it *Item) (string, string) {
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
		return r.String(), detail
	})
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
