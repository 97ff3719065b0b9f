package enrich

import (
	"fmt"
	"testing"
	"unsafe"
)

func TestInterner(t *testing.T) {
	in := newInterner()
	buf := []byte("/questions/:id")
	a := in.get(buf)
	buf[1] = 'Q' // the caller's buffer is reused for the next request
	if a != "/questions/:id" {
		t.Fatalf("interned string changed with the caller's buffer: %q", a)
	}
	b := in.get([]byte("/questions/:id"))
	if unsafe.StringData(a) != unsafe.StringData(b) {
		t.Error("the same group was handed out as two strings")
	}

	for i := range 100_000 {
		if got, want := in.get(fmt.Appendf(nil, "/spray/%x", i)), fmt.Sprintf("/spray/%x", i); got != want {
			t.Fatalf("get = %q, want %q", got, want)
		}
	}
	total := 0
	for i := range in.shards {
		total += len(in.shards[i].m)
	}
	if total > internShards*internPerShard {
		t.Errorf("interner holds %d groups after a spray, over its bound of %d", total, internShards*internPerShard)
	}
}
