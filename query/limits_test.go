package query

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"

	"rumd/internal/series"
	"rumd/internal/sketch"
)

// wideStack stores one closed window of n pages, each with one TTFB.
func wideStack(t *testing.T, n int) *stack {
	t.Helper()
	s := newStack(t, base)
	for i := 0; i < n; i++ {
		s.add(t, base+5, fmt.Sprintf("/p%05d", i), "DE", series.TTFB, float64(100+i))
	}
	s.advance(t, base+120)
	return s
}

func reasonOf(err error) Reason {
	var qe *Error
	if errors.As(err, &qe) {
		return qe.Reason
	}
	return ""
}

// TestBudgetRefusesBeforeDecoding: a query whose groups would exceed the point budget is
// refused while its groups are counted from the keys, before one sketch is merged; one
// whose sketches would exceed the byte budget is refused as they are read. A query within
// both is answered, with every group.
func TestBudgetRefusesBeforeDecoding(t *testing.T) {
	const pages = 1500
	s := wideStack(t, pages)
	req := Request{Metric: series.TTFB, From: base, To: base + 60, By: []series.Dim{series.Page}}

	b := NewBudget(1<<30, 1000)
	_, err := s.eng.Query(context.WithValue(context.Background(), budgetKey{}, b), req)
	if reasonOf(err) != TooManyPoints {
		t.Fatalf("1000-point budget over %d groups: %v, want too_many_points", pages, err)
	}
	if bytes, points := b.Used(); bytes >= 1000*(GroupBytes+CellBytes) || points <= 1000 {
		t.Fatalf("refused after %d bytes and %d points: sketches were merged before the groups were counted", bytes, points)
	}

	b = NewBudget(200<<10, 1<<30)
	_, err = s.eng.Query(context.WithValue(context.Background(), budgetKey{}, b), req)
	if reasonOf(err) != TooMuchData {
		t.Fatalf("200 KiB budget over %d groups: %v, want too_much_data", pages, err)
	}
	if bytes, _ := b.Used(); bytes > 200<<10+CellBytes+GroupBytes+1024 {
		t.Fatalf("charged %d bytes past a budget of %d", bytes, 200<<10)
	}

	b = NewBudget(64<<20, 1<<30)
	res, err := s.eng.Query(context.WithValue(context.Background(), budgetKey{}, b), req)
	if err != nil || len(res.Groups) != pages {
		t.Fatalf("within budget: %v, %d groups, want %d", err, len(res.Groups), pages)
	}
	if bytes, points := b.Used(); bytes < pages*(GroupBytes+CellBytes) || points != pages {
		t.Fatalf("answered %d groups for %d bytes and %d points", pages, bytes, points)
	}
}

// errAfter is a context whose deadline passes at its nth look: a deadline that falls in
// the middle of a scan, wherever the scan is.
type errAfter struct {
	context.Context
	n atomic.Int64
}

func (c *errAfter) Err() error {
	if c.n.Add(-1) < 0 {
		return context.DeadlineExceeded
	}
	return nil
}

// TestDeadlineHoldsInsideAScan: a deadline that passes while one storage scan runs ends
// the query with the deadline's error, not an answer of the sketches read so far.
func TestDeadlineHoldsInsideAScan(t *testing.T) {
	s := wideStack(t, 1500)
	for _, by := range [][]series.Dim{nil, {series.Page}} {
		ctx := &errAfter{Context: context.Background()}
		ctx.n.Store(3) // the looks before the scan starts, and one inside it
		req := Request{Metric: series.TTFB, From: base, To: base + 60, By: by}
		req.Match[series.Page] = func(p string) bool { return p != "/" } // read from the page view
		res, err := s.eng.Query(ctx, req)
		if !errors.Is(err, context.DeadlineExceeded) || s.eng.AsError(err).Reason != Timeout {
			n := 0
			if res != nil {
				n = len(res.Groups)
			}
			t.Fatalf("by %v: deadline passed inside the scan, got %v with %d groups", by, err, n)
		}
	}
}

// TestBeginSharesFewSlots: with one slot, a second expensive read waits QueueWait and is
// refused overloaded with a Retry-After; once the first is done the next one runs.
func TestBeginSharesFewSlots(t *testing.T) {
	s := newStack(t, base)
	o := s.eng.opts
	o.MaxConcurrent, o.QueueWait = 1, 50*time.Millisecond
	eng, err := New(nil, nil, s.store, s.agg, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, done, err := eng.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if BudgetOf(ctx) == nil {
		t.Fatal("a request begun has no budget")
	}
	if _, ok := ctx.Deadline(); !ok {
		t.Fatal("a request begun has no deadline")
	}
	_, _, err = eng.Begin(context.Background())
	var qe *Error
	if !errors.As(err, &qe) || qe.Reason != Overloaded || qe.RetryAfter <= 0 {
		t.Fatalf("second read with the one slot taken: %v, want overloaded with a Retry-After", err)
	}
	if status, body := eng.Answer("test", err); status != 503 || body.RetryAfter <= 0 {
		t.Fatalf("overloaded answered %d %+v, want 503 with Retry-After", status, body)
	}
	done()
	_, done, err = eng.Begin(context.Background())
	if err != nil {
		t.Fatalf("slot not freed: %v", err)
	}
	done()
}

// TestCellBytesCoversAnEmptySketch: CellBytes, what a merged cell is charged before its
// buckets, is at least what a sketch holding one merged value takes on the heap.
func TestCellBytesCoversAnEmptySketch(t *testing.T) {
	one := sketch.New()
	one.Add(123)
	enc := sketch.AppendEncoded(nil, one)
	const n = 20000
	out := make([]*ddsketch.DDSketch, n)
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	for i := range out {
		out[i] = sketch.New()
		if err := sketch.MergeEncoded(out[i], enc); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&b)
	per := int64(b.HeapAlloc-a.HeapAlloc) / n
	runtime.KeepAlive(out)
	if per > CellBytes || per < CellBytes/4 {
		t.Fatalf("a one-value sketch takes %d bytes; CellBytes is %d", per, CellBytes)
	}
}
