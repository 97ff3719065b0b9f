package loadtest

import (
	"strings"
	"testing"

	"rumd/ingest"
)

// TestFormatsFromTheRegistry: the formats the load tool generates are named as in rumd's
// format registry, and it refuses any other.
func TestFormatsFromTheRegistry(t *testing.T) {
	for _, name := range Formats() {
		if _, ok := ingest.LookupFormat(name); !ok {
			t.Errorf("format %s is not in the registry (%v)", name, ingest.FormatNames())
		}
	}
	if FormatV1 != ingest.FormatV1 || FormatBoomerang != ingest.FormatBoomerang {
		t.Errorf("format names %q, %q differ from the registry's", FormatV1, FormatBoomerang)
	}
	o := DefaultOptions()
	o.Target, o.Format = "http://127.0.0.1:1", "nope"
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "want v1 or boomerang") {
		t.Errorf("unknown format: %v", err)
	}
	o.Format = FormatBoomerang
	if err := o.Validate(); err != nil {
		t.Errorf("boomerang: %v", err)
	}
}
