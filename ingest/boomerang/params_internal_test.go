package boomerang

import "testing"

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
