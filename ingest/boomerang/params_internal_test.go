package boomerang

import (
	"math"
	"net/url"
	"strconv"
	"testing"
)

// TestParamTable checks that the parameter table is indexed by its ids, which the decoder
// relies on (paramName, the mark loop from pRedSt to pActSt).
func TestParamTable(t *testing.T) {
	if len(params) != int(pVariant) {
		t.Fatalf("%d parameters for %d ids", len(params), pVariant)
	}
	for i, p := range params {
		if p.id != pid(i) {
			t.Errorf("params[%d] is %s with id %d", i, p.name, p.id)
		}
	}
	for h, ids := range byHash {
		if len(ids) > 2 {
			t.Errorf("%d parameters share name hash %d: lookups compare them all", len(ids), h)
		}
	}
	for _, p := range params {
		if id, ok := lookup([]byte(p.name)); !ok || id != p.id {
			t.Errorf("lookup(%q) = %d, %v", p.name, id, ok)
		}
		if _, ok := lookup([]byte(p.name + "x")); ok {
			t.Errorf("lookup(%q) found a parameter", p.name+"x")
		}
	}
	for p := pRedSt; p <= pActSt; p++ {
		if params[p].mark == 0 {
			t.Errorf("%s has no mark", params[p].name)
		}
	}
}

// FuzzUnescape: the decoder's own form unescaping agrees with net/url's on every input,
// valid or not.
func FuzzUnescape(f *testing.F) {
	for _, s := range []string{"", "a+b", "https%3A%2F%2Fexample.com%2Fa%3Fb%3D1", "%", "%4", "%zz", "%e2%82%AC", "100%25+sure"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := url.QueryUnescape(s)
		got, ok := unescape(nil, []byte(s))
		if ok != (err == nil) || ok && string(got) != want {
			t.Fatalf("unescape(%q) = %q, %v; net/url: %q, %v", s, got, ok, want, err)
		}
	})
}

// FuzzInteger: the integer fast path reads exactly what strconv.ParseFloat reads, and only
// takes what it can read exactly.
func FuzzInteger(f *testing.F) {
	for _, s := range []string{"0", "-0", "1733140000123", "999999999999999", "1000000000000000", "-42", "007", "1.5", "", "-", "+1", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		x, ok := integer([]byte(s))
		if !ok {
			return
		}
		y, err := strconv.ParseFloat(s, 64)
		if err != nil || x != y || math.Signbit(x) != math.Signbit(y) {
			t.Fatalf("integer(%q) = %v; ParseFloat: %v, %v", s, x, y, err)
		}
	})
}
