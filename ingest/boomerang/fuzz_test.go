package boomerang_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rumd/ingest/beacon"
	"rumd/ingest/boomerang"
)

// FuzzDecode feeds the form decoder query strings and bodies, seeded with every beacon
// captured from the real boomerang (testdata/captured) and the corpus under testdata/fuzz:
//
//	go test -run '^$' -fuzz FuzzDecode ./ingest/boomerang
//
// Decode must never panic, must fail only with an *Error, must not keep views of the
// request's buffers, and what it accepts must go through the checks without a panic.
func FuzzDecode(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "captured", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no captured beacons: %v", err)
	}
	for _, name := range files {
		cb := mustCaptured(f, filepath.Base(name))
		f.Add([]byte(cb.Query), []byte(cb.Body))
	}
	f.Add([]byte("u=%2F&rt.end=1&t_resp=1&rt.tstart=1"), []byte(""))
	f.Add([]byte(""), []byte("u=%2F&rt.end=1e400&nt_nav_st=NaN&nt_res_st=-Inf&&=&%zz=1"))
	recv := time.UnixMilli(1796206703181)
	f.Fuzz(func(t *testing.T, query, body []byte) {
		q, b := append([]byte(nil), query...), append([]byte(nil), body...)
		var bb boomerang.Beacon
		err := boomerang.Decode(q, b, &boomerang.Options{VariantParam: "variant"}, &bb)
		if err != nil {
			var de *boomerang.Error
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *boomerang.Error", err)
			}
			if bb.Kind.Ignored() {
				t.Fatalf("an ignored %v beacon failed to decode: %v", bb.Kind, err)
			}
			return
		}
		strs := func() string {
			return bb.B.URL + "\x00" + bb.B.Variant
		}
		before := strs()
		clear(q)
		clear(b)
		if strs() != before {
			t.Fatal("decoded strings alias the request")
		}
		if bb.Kind.Ignored() {
			return
		}
		if bb.B.URL == "" || (bb.B.URL[0] != '/' && !strings.HasPrefix(strings.ToLower(bb.B.URL), "http")) || strings.ContainsAny(bb.B.URL, "?#") {
			t.Fatalf("url %q", bb.B.URL)
		}
		boomerang.CheckClock(&bb, recv, nil)
		if bb.Kind == boomerang.Unload {
			if bb.B.HasNT || bb.B.Vitals.Has != 1<<beacon.VitalINP {
				t.Fatalf("an unload beacon carries more than INP: %+v", bb.B)
			}
			boomerang.CheckUnload(&bb, nil)
			return
		}
		if !bb.B.HasNT {
			t.Fatal("a page-load beacon decoded without navigation timing")
		}
		beacon.Validate(&bb.B, recv, nil)
	})
}
