package beaconjs

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Experiment is a named A/B test of the test page and the hidden iframe: each page view of
// /test or /test/embed gets one of its variants, picked by weight, runs that variant's
// probes and reports the variant's name in the beacon's variant field, so that
// /api/v1/compare can set one variant against another.
type Experiment struct {
	Name     string    `yaml:"name"`
	Variants []Variant `yaml:"variants"`
}

// Variant is one arm of an Experiment. Its name is what beacons carry, so it is unique
// across all experiments; Weight is its relative share of page views (any positive scale).
type Variant struct {
	Name   string  `yaml:"name"`
	Weight float64 `yaml:"weight"`
	Probes []Probe `yaml:"probes"`
}

// noVariant is the label rumd gives page views that carry no variant; a configured variant
// of that name could not be told apart from them.
const noVariant = "none"

// validExperiments reports every mistake in exps; global are the test page's own probes,
// which every variant runs too, so a variant's probe may not reuse their names.
func validExperiments(exps []Experiment, global []Probe) []error {
	var errs []error
	globalNames := make(map[string]bool, len(global))
	for _, p := range global {
		globalNames[p.Name] = true
	}
	expSeen := map[string]bool{}
	variantIn := map[string]string{} // variant name → experiment that has it
	for i, e := range exps {
		where := fmt.Sprintf("experiment %q", e.Name)
		switch {
		case !probeName.MatchString(e.Name):
			where = fmt.Sprintf("experiment %d", i)
			errs = append(errs, fmt.Errorf("%s name %q: want 1 to 64 of [A-Za-z0-9_.-], starting with a letter or digit", where, e.Name))
		case expSeen[e.Name]:
			errs = append(errs, fmt.Errorf("%s: name used twice", where))
		}
		expSeen[e.Name] = true
		if len(e.Variants) < 2 {
			errs = append(errs, fmt.Errorf("%s: has %d variants, want at least two to compare", where, len(e.Variants)))
		}
		for j, v := range e.Variants {
			vwhere := fmt.Sprintf("%s variant %q", where, v.Name)
			switch {
			case !probeName.MatchString(v.Name):
				vwhere = fmt.Sprintf("%s variant %d", where, j)
				errs = append(errs, fmt.Errorf("%s name %q: want 1 to 64 of [A-Za-z0-9_.-], starting with a letter or digit", vwhere, v.Name))
			case v.Name == noVariant:
				errs = append(errs, fmt.Errorf("%s: the name %q is reserved for page views without a variant", vwhere, noVariant))
			case variantIn[v.Name] == e.Name:
				errs = append(errs, fmt.Errorf("%s: name used twice", vwhere))
			case variantIn[v.Name] != "":
				errs = append(errs, fmt.Errorf("%s: name also used in experiment %q; variant names must be unique across experiments, since a beacon carries only its variant", vwhere, variantIn[v.Name]))
			}
			if variantIn[v.Name] == "" {
				variantIn[v.Name] = e.Name
			}
			if math.IsNaN(v.Weight) || math.IsInf(v.Weight, 0) || v.Weight <= 0 {
				errs = append(errs, fmt.Errorf("%s: weight %v: want a number above 0", vwhere, v.Weight))
			}
			errs = append(errs, validProbes(vwhere+" ", v.Probes, globalNames)...)
		}
	}
	return errs
}

// validProbes checks a list of probes: names valid and unique (taken holds names already
// used by probes that run in the same page view), URLs as validProbeURL accepts.
func validProbes(where string, probes []Probe, taken map[string]bool) []error {
	var errs []error
	seen := make(map[string]bool, len(probes))
	for i, p := range probes {
		switch {
		case !probeName.MatchString(p.Name):
			errs = append(errs, fmt.Errorf("%sprobe %d name %q: want 1 to 64 of [A-Za-z0-9_.-], starting with a letter or digit", where, i, p.Name))
		case seen[p.Name]:
			errs = append(errs, fmt.Errorf("%sprobe %d name %q: used twice", where, i, p.Name))
		case taken[p.Name]:
			errs = append(errs, fmt.Errorf("%sprobe %d name %q: also a test_page probe, which every variant runs too", where, i, p.Name))
		}
		seen[p.Name] = true
		if err := validProbeURL(p.URL); err != nil {
			errs = append(errs, fmt.Errorf("%sprobe %q: %w", where, p.Name, err))
		}
	}
	return errs
}

// assignment is the experiment arm one page view of the test page runs.
type assignment struct {
	Experiment string   `json:"name"`
	Variant    string   `json:"variant"`
	Weight     float64  `json:"weight"`
	Total      float64  `json:"total"`
	Forced     bool     `json:"forced"`
	Variants   []string `json:"variants"`
	probes     []Probe
}

// errUnknownArm is returned by assign for an ?experiment= or ?variant= that names nothing
// configured.
var errUnknownArm = errors.New("unknown experiment or variant")

// assign picks the arm of one page view: of the experiment named expName (the first one
// when empty), the variant named variantName, or else the one that u (uniform in [0, 1))
// falls on when the variants' weights are laid end to end. A variant name alone selects its
// experiment. It returns nil when no experiment is configured.
func assign(exps []Experiment, expName, variantName string, u float64) (*assignment, error) {
	if len(exps) == 0 {
		if expName != "" || variantName != "" {
			return nil, fmt.Errorf("%w: no experiments are configured", errUnknownArm)
		}
		return nil, nil
	}
	e := -1
	for i := range exps {
		if exps[i].Name == expName {
			e = i
		}
	}
	if expName != "" && e < 0 {
		return nil, fmt.Errorf("%w: no experiment %q (configured: %s)", errUnknownArm, expName, experimentNames(exps))
	}
	v := -1
	if variantName != "" {
		for i := range exps {
			for j := range exps[i].Variants {
				if exps[i].Variants[j].Name == variantName && (e < 0 || e == i) {
					e, v = i, j
				}
			}
		}
		if v < 0 {
			if e >= 0 {
				return nil, fmt.Errorf("%w: experiment %q has no variant %q (its variants: %s)", errUnknownArm, exps[e].Name, variantName, variantNames(exps[e]))
			}
			return nil, fmt.Errorf("%w: no variant %q in any experiment", errUnknownArm, variantName)
		}
	}
	if e < 0 {
		e = 0
	}
	exp := exps[e]
	total := 0.0
	for _, x := range exp.Variants {
		total += x.Weight
	}
	if v < 0 {
		v = pick(exp.Variants, u*total)
	}
	a := &assignment{
		Experiment: exp.Name, Variant: exp.Variants[v].Name, Weight: exp.Variants[v].Weight, Total: total,
		Forced: variantName != "", probes: exp.Variants[v].Probes,
	}
	for _, x := range exp.Variants {
		a.Variants = append(a.Variants, x.Name)
	}
	return a, nil
}

// pick returns the index of the variant at position x of the weights laid end to end.
func pick(vs []Variant, x float64) int {
	for i, v := range vs {
		if x < v.Weight {
			return i
		}
		x -= v.Weight
	}
	// Rounding can leave x at the very end of the line: it belongs to the last variant.
	return len(vs) - 1
}

func experimentNames(exps []Experiment) string {
	names := make([]string, len(exps))
	for i, e := range exps {
		names[i] = e.Name
	}
	return strings.Join(names, ", ")
}

func variantNames(e Experiment) string {
	names := make([]string, len(e.Variants))
	for i, v := range e.Variants {
		names[i] = v.Name
	}
	return strings.Join(names, ", ")
}
