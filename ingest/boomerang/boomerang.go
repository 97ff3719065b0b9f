// Package boomerang is the ingest stage's second wire format: the beacons of boomerang (npm
// boomerangjs), the open-source RUM snippet, with its RT, NavigationTiming, PaintTiming,
// Continuity and EventTiming plugins. Decode reads one beacon's parameters (a query string
// and an x-www-form-urlencoded body, merged) into a beacon.Beacon, so that the ingest pipeline
// validates, derives and aggregates it exactly as a beacon of rumd's own snippet; Kind says
// whether the beacon counts at all. CheckClock and CheckUnload add the rules that boomerang's
// timestamps need on top of beacon.Validate. See docs/boomerang.md.
package boomerang

import (
	"errors"
	"fmt"
	"strings"
)

// Options configures the decoder.
type Options struct {
	// VariantParam is the beacon parameter that carries the experiment variant, set by the
	// site with BOOMR.addVar; "" reads no variant.
	VariantParam string
}

// DefaultOptions reads the variant from the parameter "variant".
func DefaultOptions() Options { return Options{VariantParam: "variant"} }

// Validate checks the options.
func (o Options) Validate() error {
	if len(o.VariantParam) > 64 {
		return errors.New("boomerang variant parameter is longer than 64 bytes")
	}
	if strings.ContainsAny(o.VariantParam, "&=%+# \t\r\n") {
		return fmt.Errorf("boomerang variant parameter %q must be a plain parameter name", o.VariantParam)
	}
	for _, p := range params {
		if o.VariantParam == p.name {
			return fmt.Errorf("boomerang variant parameter %q is one of boomerang's own parameters", o.VariantParam)
		}
	}
	return nil
}

// Kind is what a boomerang beacon is, which decides what it contributes.
type Kind uint8

// The kinds of beacon. PageLoad counts every metric once; Unload contributes only INP; every
// other kind is ignored (counted, but adds nothing to the series).
const (
	// PageLoad is the beacon sent once the page loaded (no http.initiator, no rt.quit).
	PageLoad Kind = iota
	// Unload is the beacon sent as the page goes away (rt.quit), carrying et.inp.
	Unload
	// SPA is a single-page-app soft or hard navigation (http.initiator spa or spa_hard).
	SPA
	// XHR is a beacon for an XMLHttpRequest or fetch (http.initiator xhr).
	XHR
	// ErrorReport is the Errors plugin's beacon (http.initiator error).
	ErrorReport
	// Interaction is Continuity's interaction beacon (http.initiator interaction).
	Interaction
	// BFCache is a page restored from the back-forward cache (http.initiator bfcache).
	BFCache
	// Custom is a beacon sent by BOOMR.sendMetric or BOOMR.sendTimer (http.initiator api_custom_*).
	Custom
	// OtherInitiator is any other http.initiator.
	OtherInitiator
	// Early is the Early plugin's beacon sent before the load finished (early).
	Early
	// NeverVisible is an unload beacon of a page that was never visible (rt.ntvu).
	NeverVisible
	// UnloadWithoutINP is an unload beacon without et.inp: it has nothing rumd counts.
	UnloadWithoutINP
	numKinds
)

var kindNames = [numKinds]string{
	"page_load", "unload", "spa", "xhr", "error", "interaction", "bfcache", "custom",
	"other_initiator", "early", "never_visible", "unload_without_inp",
}

// String returns the kind's metric label, e.g. "spa".
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Ignored reports whether a beacon of this kind adds nothing to the series.
func (k Kind) Ignored() bool { return k > Unload }

// IgnoredKinds lists every ignored kind, for pre-registering metric label values.
func IgnoredKinds() []Kind {
	out := make([]Kind, 0, numKinds-2)
	for k := SPA; k < numKinds; k++ {
		out = append(out, k)
	}
	return out
}

// initiatorKind maps a non-empty http.initiator to its kind.
func initiatorKind(s string) Kind {
	switch s {
	case "spa", "spa_hard":
		return SPA
	case "xhr":
		return XHR
	case "error":
		return ErrorReport
	case "interaction", "click":
		return Interaction
	case "bfcache":
		return BFCache
	}
	if strings.HasPrefix(s, "api_custom_") {
		return Custom
	}
	return OtherInitiator
}
