package loadtest

import (
	"context"
	"testing"
	"time"
)

// BenchmarkEncode measures building and encoding one good beacon, the work the pool does
// once per distinct beacon before the clock starts.
func BenchmarkEncode(b *testing.B) {
	pop, err := NewPopulation(100_000)
	if err != nil {
		b.Fatal(err)
	}
	r := newRand(1)
	z := pop.NewZipf(r)
	buf := make([]byte, 0, 4096)
	wall := float64(time.Now().UnixMilli())
	b.ReportAllocs()
	for b.Loop() {
		v := pop.Draw(r, z)
		bc := Beacon{URL: v.URL, Nav: v.Nav, Conn: v.Conn, Variant: v.Variant}
		timeline(r, &bc, &v, wall)
		buf, _ = bc.AppendJSON(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkPrepareSend measures what the sender does per beacon on the hot path: copy the
// pre-encoded body and write its id.
func BenchmarkPrepareSend(b *testing.B) {
	pool := mustPool(b, 1000, 0.05, time.Now())
	scratch := make([]byte, 0, 4096)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		it := &pool.Items[i%len(pool.Items)]
		scratch = append(scratch[:0], it.Body...)
		if it.IDOff >= 0 {
			putID(scratch[it.IDOff:], 7, uint64(i))
		}
		i++
	}
}

// BenchmarkSendBaseline measures one full send, closed loop over 4 connections to the bare
// in-process handler: the load tool's own ceiling on this machine.
func BenchmarkSendBaseline(b *testing.B) {
	base := mustBaseline(b)
	pool := mustPool(b, 1000, 0, time.Now())
	o := testOptions()
	o.Count = b.N
	o.Duration = time.Minute
	b.ReportAllocs()
	b.ResetTimer()
	res, err := RunLoad(context.Background(), base.URL(), pool, &o)
	if err != nil {
		b.Fatal(err)
	}
	if res.Accepted != int64(b.N) {
		b.Fatalf("accepted %d of %d", res.Accepted, b.N)
	}
}
