package beacon

import (
	stdjson "encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"rumd/internal/series"
)

// The seed corpora are checked in under testdata/fuzz/; run with
//
//	go test -run '^$' -fuzz FuzzDecode ./ingest/beacon
//	go test -run '^$' -fuzz FuzzPipeline ./ingest/beacon

func addFixtureSeeds(f *testing.F, add func(body []byte)) {
	for _, name := range []string{"beacon.json", "beacon_page.json", "level1.json", "batch_mixed.json"} {
		add(mustRead(f, name))
	}
}

// FuzzDecode checks that Decode never panics, never accepts what is not JSON, and that
// what it returns keeps its promises.
func FuzzDecode(f *testing.F) {
	addFixtureSeeds(f, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, in []byte) {
		body := append([]byte(nil), in...)
		bs, errs, err := Decode(body, nil)
		if err != nil {
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not an *Error", err)
			}
			if len(bs) != 0 || errs != nil {
				t.Fatalf("error with %d beacons and errs %v", len(bs), errs)
			}
			return
		}
		if !stdjson.Valid(in) {
			t.Fatalf("accepted a body that is not JSON: %q", in)
		}
		if errs != nil && len(errs) != len(bs) {
			t.Fatalf("%d errs for %d beacons", len(errs), len(bs))
		}
		for i := range bs {
			if errs != nil && errs[i] != nil {
				continue
			}
			b := &bs[i]
			if b.V != 1 || !validID(b.ID) || strings.ContainsAny(b.URL, "?#") || !b.HasNT && !b.HasNT1 {
				t.Fatalf("beacon %d accepted with v %d id %q url %q", i, b.V, b.ID, b.URL)
			}
			for _, s := range []string{b.URL, b.Nav, b.Conn, b.Variant, b.NT.NextHopProtocol} {
				if !utf8.ValidString(s) {
					t.Fatalf("invalid UTF-8 in %q", s)
				}
			}
			if len(b.Probes) > MaxProbes {
				t.Fatalf("%d probes", len(b.Probes))
			}
		}
	})
}

// FuzzPipeline runs Decode, Validate and Derive as the ingest path does and checks that an
// accepted beacon only yields finite values within the ceilings.
func FuzzPipeline(f *testing.F) {
	recv := benchRecv.UnixMilli()
	addFixtureSeeds(f, func(b []byte) { f.Add(b, recv) })
	f.Fuzz(func(t *testing.T, body []byte, recvMs int64) {
		o := DefaultOptions()
		bs, errs, err := Decode(body, nil)
		if err != nil {
			return
		}
		at := time.UnixMilli(recvMs)
		var rec series.Record
		for i := range bs {
			if errs != nil && errs[i] != nil {
				continue
			}
			b := &bs[i]
			r, detail := Validate(b, at, &o)
			if r2, _ := Validate(b, at, &o); r2 != r {
				t.Fatalf("Validate not repeatable: %v then %v", r, r2)
			}
			if r != OK {
				if detail == "" || r == TooLarge || r == RateLimited || r == Overloaded {
					t.Fatalf("reason %v with detail %q", r, detail)
				}
				continue
			}
			Derive(b, &rec)
			for m := series.Metric(0); int(m) < series.NumPageMetrics; m++ {
				if rec.Has&(1<<m) == 0 {
					continue
				}
				x, ceil := rec.Values[m], ms(o.MaxTiming)
				if m == series.CLS {
					ceil = o.MaxCLS
				}
				if !(x >= 0 && x <= ceil) {
					t.Fatalf("accepted beacon yields %v = %v", m, x)
				}
			}
			for _, p := range rec.Probes {
				for j, x := range p.Values {
					if p.Has&(1<<j) != 0 && !(x >= 0 && x <= ms(o.MaxTiming)) {
						t.Fatalf("accepted beacon yields probe %v = %v", series.ProbeDNS+series.Metric(j), x)
					}
				}
			}
			if math.Abs(Skew(b, at)) > o.MaxSkew.Seconds() {
				t.Fatalf("accepted beacon with skew %v s", Skew(b, at))
			}
		}
	})
}
