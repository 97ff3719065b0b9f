// Command genformat1 wrote storage/testdata/format1: a data directory in on-disk format 1,
// as the release before format versioning wrote it (commit b3656ef), and expected.json, what
// it holds, worked out from the records themselves rather than read back from the store.
//
// It was run once, against that commit:
//
//	go run ./storage/testdata/genformat1 -out storage/testdata/format1
//
// Do not run it again to "refresh" the fixture: a later build writes with its own code, and
// the point of the fixture is that every later build reads what the old one wrote. See
// docs/on-disk-format.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"time"

	"rumd/aggregator"
	"rumd/internal/series"
	"rumd/storage"
)

// Expected is the content of expected.json.
type Expected struct {
	Flushed  int64               `json:"flushed"`
	HourDone int64               `json:"hour_done"`
	DayDone  int64               `json:"day_done"`
	Values   map[string][]string `json:"label_values"` // by dimension name, sorted
	Sketches []Sketch            `json:"sketches"`     // sorted by ID
}

// Sketch is one stored sketch: its identity by names, its count and its largest value.
type Sketch struct {
	Res    string            `json:"res"`
	View   string            `json:"view"`
	Metric string            `json:"metric"`
	Start  int64             `json:"start"`
	Labels map[string]string `json:"labels"`
	Count  int               `json:"count"`
	Max    float64           `json:"max"`
}

func (s *Sketch) id() string {
	return fmt.Sprintf("%s|%s|%s|%d|%v", s.Res, s.View, s.Metric, s.Start, s.Labels)
}

const day0 = int64(1763683200) // 2025-11-21 00:00 UTC

func main() {
	out := flag.String("out", "", "directory to write (must not exist)")
	flag.Parse()
	if *out == "" {
		log.Fatal("-out is required")
	}
	if _, err := os.Stat(*out); err == nil {
		log.Fatalf("%s exists", *out)
	}
	r := rand.New(rand.NewPCG(2025, 11))
	// Four windows across midnight: 23:58 and 23:59 close the hour and the day, so the store
	// holds 1-minute windows, an hour rollup and a day rollup.
	starts := []int64{day0 + 86400 - 120, day0 + 86400 - 60, day0 + 86400, day0 + 86400 + 60}
	var recs []series.Record
	for _, st := range starts {
		for i := 0; i < 12; i++ {
			recs = append(recs, record(r, st+int64(i*5)))
		}
	}

	dbDir := filepath.Join(*out, "db")
	db, err := storage.Open(dbDir, nil, nil, storage.DefaultOptions())
	if err != nil {
		log.Fatal(err)
	}
	opts := aggregator.DefaultOptions()
	opts.Shards = 1
	opts.Now = func() time.Time { return time.Unix(starts[0], 0) }
	opts.Tick = time.Hour
	agg, err := aggregator.Open(nil, nil, db, opts)
	if err != nil {
		log.Fatal(err)
	}
	for i := range recs {
		agg.Apply(&recs[i])
	}
	if err := agg.Close(context.Background()); err != nil {
		log.Fatal(err)
	}
	exp := Expected{Flushed: db.Flushed()}
	exp.HourDone, exp.DayDone = db.Rolled()
	if err := db.Close(context.Background()); err != nil {
		log.Fatal(err)
	}
	if exp.Flushed != starts[3]+60 || exp.HourDone != day0+86400 || exp.DayDone != day0+86400 {
		log.Fatalf("unexpected watermarks %+v", exp)
	}
	// DISCARD is a megabyte of zeros that Badger recreates when it is missing.
	if err := os.Remove(filepath.Join(dbDir, "DISCARD")); err != nil {
		log.Fatal(err)
	}
	fill(&exp, recs)
	if err := os.WriteFile(filepath.Join(*out, "expected.json"), encode(&exp), 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %d records, %d sketches", len(recs), len(exp.Sketches))
}

// encode writes exp as JSON with one sketch per line, so that the file diffs well.
func encode(exp *Expected) []byte {
	sk := exp.Sketches
	exp.Sketches = nil
	head, err := json.Marshal(exp)
	if err != nil {
		log.Fatal(err)
	}
	exp.Sketches = sk
	b := append(head[:len(head)-len("null}")], "[\n"...)
	for i := range sk {
		line, err := json.Marshal(&sk[i])
		if err != nil {
			log.Fatal(err)
		}
		b = append(b, line...)
		if i < len(sk)-1 {
			b = append(b, ',')
		}
		b = append(b, '\n')
	}
	return append(b, "]}\n"...)
}

// record makes one page view. Each metric is present with its own probability and has its
// own scale, so two metrics read under each other's code would not match in count or size.
func record(r *rand.Rand, t int64) series.Record {
	pick := func(vs ...string) string { return vs[r.IntN(len(vs))] }
	rec := series.Record{Time: t}
	rec.Labels[series.Page] = pick("/", "/checkout", "/blog/post")
	rec.Labels[series.Country] = pick("DE", "US")
	rec.Labels[series.Device] = pick("desktop", "mobile")
	rec.Labels[series.Nav] = pick("navigate", "reload")
	rec.Labels[series.Variant] = pick("none", "b")
	for m := series.Metric(0); int(m) < series.NumPageMetrics; m++ {
		if r.IntN(16) < int(m)+4 {
			rec.Set(m, value(r, m))
		}
	}
	for p := 0; p < r.IntN(3); p++ {
		pv := series.ProbeValues{Name: pick("cdn-a", "cdn-b")}
		for m := series.ProbeDNS; m < series.NumMetrics; m++ {
			if r.IntN(8) < int(m-series.ProbeDNS)+3 {
				pv.Set(m, value(r, m))
			}
		}
		rec.Probes = append(rec.Probes, pv)
	}
	return rec
}

func value(r *rand.Rand, m series.Metric) float64 {
	if m == series.CLS {
		return float64(r.IntN(50)) / 100
	}
	return float64(10*(int(m)+1)) * (1 + 3*r.Float64())
}

// fill works out, from the records, every sketch the store must hold and the label index.
func fill(exp *Expected, recs []series.Record) {
	type acc struct {
		s   Sketch
		max float64
	}
	all := map[string]*acc{}
	add := func(res string, start int64, v series.View, m series.Metric, l *series.Labels, x float64) {
		s := Sketch{Res: res, View: v.String(), Metric: m.String(), Start: start, Labels: l.Map(v.Dims)}
		a := all[s.id()]
		if a == nil {
			a = &acc{s: s}
			all[s.id()] = a
		}
		a.s.Count++
		a.s.Max = max(a.s.Max, x)
	}
	values := map[string]map[string]bool{}
	seen := func(v series.View, l *series.Labels) {
		for _, d := range v.Dims {
			if values[d.String()] == nil {
				values[d.String()] = map[string]bool{}
			}
			values[d.String()][l[d]] = true
		}
	}
	for _, rec := range recs {
		minute := rec.Time - rec.Time%60
		buckets := []struct {
			res   string
			start int64
		}{{"1m", minute}}
		if minute < day0+86400 { // only hour 23 of day 0 is complete, and with it day 0
			buckets = append(buckets, struct {
				res   string
				start int64
			}{"1h", minute - minute%3600}, struct {
				res   string
				start int64
			}{"1d", day0})
		}
		for _, v := range series.DefaultViews() {
			l := rec.Labels
			if !v.ForProbes() {
				seen(v, &l)
				for m := series.Metric(0); int(m) < series.NumPageMetrics; m++ {
					if rec.Has&(1<<m) != 0 {
						for _, b := range buckets {
							add(b.res, b.start, v, m, &l, rec.Values[m])
						}
					}
				}
				continue
			}
			for _, p := range rec.Probes {
				l[series.Probe] = p.Name
				seen(v, &l)
				for i := 0; i < series.NumProbeMetrics; i++ {
					if p.Has&(1<<i) != 0 {
						for _, b := range buckets {
							add(b.res, b.start, v, series.ProbeDNS+series.Metric(i), &l, p.Values[i])
						}
					}
				}
			}
		}
	}
	for _, a := range all {
		exp.Sketches = append(exp.Sketches, a.s)
	}
	sort.Slice(exp.Sketches, func(i, j int) bool { return exp.Sketches[i].id() < exp.Sketches[j].id() })
	exp.Values = map[string][]string{}
	for d, vs := range values {
		for v := range vs {
			exp.Values[d] = append(exp.Values[d], v)
		}
		sort.Strings(exp.Values[d])
	}
}
