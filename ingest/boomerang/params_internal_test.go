package boomerang

import (
	"net/url"
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
