package beaconjs

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// cdnSwitch is the README's experiment: one probe, the same file on two CDNs.
func cdnSwitch() Experiment {
	return Experiment{Name: "cdn-switch", Variants: []Variant{
		{Name: "cdn-a", Weight: 50, Probes: []Probe{{"asset", "https://a.example.net/p.gif"}}},
		{Name: "cdn-b", Weight: 50, Probes: []Probe{{"asset", "https://b.example.net/p.gif?r={rand}"}}},
	}}
}

func TestExperimentsValidate(t *testing.T) {
	with := func(edit func(o *Options)) Options {
		o := DefaultOptions()
		o.Probes = []Probe{{"origin", "/probe.gif"}}
		o.Experiments = []Experiment{cdnSwitch()}
		edit(&o)
		return o
	}
	tests := []struct {
		name string
		opts Options
		want string // "" when valid; otherwise a part of the error
	}{
		{"valid", with(func(o *Options) {}), ""},
		{"second experiment", with(func(o *Options) {
			o.Experiments = append(o.Experiments, Experiment{"h3", []Variant{{"h2", 1, nil}, {"h3-on", 3, nil}}})
		}), ""},
		{"fractional weights", with(func(o *Options) { o.Experiments[0].Variants[0].Weight = 0.25 }), ""},
		{"bad experiment name", with(func(o *Options) { o.Experiments[0].Name = "cdn switch" }), `experiment 0 name "cdn switch"`},
		{"empty experiment name", with(func(o *Options) { o.Experiments[0].Name = "" }), `experiment 0 name ""`},
		{"experiment twice", with(func(o *Options) {
			o.Experiments = append(o.Experiments, Experiment{"cdn-switch", []Variant{{"x", 1, nil}, {"y", 1, nil}}})
		}), `experiment "cdn-switch": name used twice`},
		{"one variant", with(func(o *Options) { o.Experiments[0].Variants = o.Experiments[0].Variants[:1] }), "has 1 variants, want at least two"},
		{"no variants", with(func(o *Options) { o.Experiments[0].Variants = nil }), "has 0 variants"},
		{"bad variant name", with(func(o *Options) { o.Experiments[0].Variants[1].Name = "-b" }), `variant 1 name "-b"`},
		{"variant none", with(func(o *Options) { o.Experiments[0].Variants[1].Name = "none" }), "reserved"},
		{"variant twice", with(func(o *Options) { o.Experiments[0].Variants[1].Name = "cdn-a" }), `variant "cdn-a": name used twice`},
		{"variant in two experiments", with(func(o *Options) {
			o.Experiments = append(o.Experiments, Experiment{"h3", []Variant{{"cdn-b", 1, nil}, {"h3-on", 1, nil}}})
		}), `variant "cdn-b": name also used in experiment "cdn-switch"`},
		{"zero weight", with(func(o *Options) { o.Experiments[0].Variants[0].Weight = 0 }), "weight 0: want a number above 0"},
		{"negative weight", with(func(o *Options) { o.Experiments[0].Variants[0].Weight = -5 }), "weight -5"},
		{"NaN weight", with(func(o *Options) { o.Experiments[0].Variants[0].Weight = math.NaN() }), "weight NaN"},
		{"infinite weight", with(func(o *Options) { o.Experiments[0].Variants[0].Weight = math.Inf(1) }), "weight +Inf"},
		{"bad probe url", with(func(o *Options) { o.Experiments[0].Variants[1].Probes[0].URL = "b.example.net/p.gif" }),
			`experiment "cdn-switch" variant "cdn-b" probe "asset": url`},
		{"probe twice in a variant", with(func(o *Options) {
			v := &o.Experiments[0].Variants[0]
			v.Probes = append(v.Probes, v.Probes[0])
		}), `probe 1 name "asset": used twice`},
		{"probe named like a global one", with(func(o *Options) { o.Experiments[0].Variants[0].Probes[0].Name = "origin" }),
			"also a test_page probe"},
		{"bad probe name", with(func(o *Options) { o.Experiments[0].Variants[0].Probes[0].Name = "" }), `probe 0 name ""`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want ok", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestAssign(t *testing.T) {
	h3 := Experiment{"h3", []Variant{{"h2", 1, nil}, {"h3-on", 3, []Probe{{"h3", "https://h3.example.net/p"}}}}}
	exps := []Experiment{cdnSwitch(), h3}
	tests := []struct {
		name, exp, variant string
		u                  float64
		want               string // experiment/variant, or "err"
		forced             bool
	}{
		{"first experiment by default, low u", "", "", 0, "cdn-switch/cdn-a", false},
		{"first experiment, u just below half", "", "", 0.4999, "cdn-switch/cdn-a", false},
		{"first experiment, u at half", "", "", 0.5, "cdn-switch/cdn-b", false},
		{"first experiment, u near 1", "", "", 0.99999, "cdn-switch/cdn-b", false},
		{"named experiment, weight 1 of 4", "h3", "", 0.2, "h3/h2", false},
		{"named experiment, weight 3 of 4", "h3", "", 0.3, "h3/h3-on", false},
		{"forced variant", "cdn-switch", "cdn-a", 0.9, "cdn-switch/cdn-a", true},
		{"variant alone selects its experiment", "", "h3-on", 0, "h3/h3-on", true},
		{"unknown experiment", "nope", "", 0, "err", false},
		{"unknown variant", "", "cdn-c", 0, "err", false},
		{"variant of another experiment", "h3", "cdn-a", 0, "err", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := assign(exps, tc.exp, tc.variant, tc.u)
			if tc.want == "err" {
				if !errors.Is(err, errUnknownArm) {
					t.Fatalf("assign = %+v, %v; want errUnknownArm", a, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Experiment + "/" + a.Variant; got != tc.want || a.Forced != tc.forced {
				t.Errorf("assign = %s forced=%v, want %s forced=%v", got, a.Forced, tc.want, tc.forced)
			}
		})
	}
	if a, err := assign(nil, "", "", 0.3); a != nil || err != nil {
		t.Errorf("no experiments: %+v, %v; want nil, nil", a, err)
	}
	if _, err := assign(nil, "", "cdn-a", 0.3); !errors.Is(err, errUnknownArm) {
		t.Errorf("?variant= without experiments: %v, want errUnknownArm", err)
	}
}

// TestAssignFollowsWeights draws many page views from a seeded source: each variant's
// share is within 1 percentage point of its weight (4.5 standard errors at n = 100,000).
func TestAssignFollowsWeights(t *testing.T) {
	exps := []Experiment{{"three", []Variant{{"a", 1, nil}, {"b", 2, nil}, {"c", 7, nil}}}}
	r := rand.New(rand.NewPCG(1, 2))
	const n = 100_000
	got := map[string]int{}
	for range n {
		a, err := assign(exps, "", "", r.Float64())
		if err != nil {
			t.Fatal(err)
		}
		got[a.Variant]++
	}
	for name, want := range map[string]float64{"a": 0.1, "b": 0.2, "c": 0.7} {
		if share := float64(got[name]) / n; math.Abs(share-want) > 0.01 {
			t.Errorf("variant %s got %.3f of page views, want %.2f ± 0.01", name, share, want)
		}
	}
}
