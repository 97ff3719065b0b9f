package beaconjs

import (
	"math"
	"testing"
)

func TestOptionsValidate(t *testing.T) {
	withProbes := func(ps ...Probe) Options {
		o := DefaultOptions()
		o.Probes = ps
		return o
	}
	tests := []struct {
		name string
		opts Options
		ok   bool
	}{
		{"defaults", DefaultOptions(), true},
		{"absolute endpoint", Options{Endpoint: "https://rum.example.com/timings", SampleRate: 5}, true},
		{"empty endpoint", Options{SampleRate: 5}, false},
		{"protocol-relative endpoint", Options{Endpoint: "//evil.example/x", SampleRate: 5}, false},
		{"ftp endpoint", Options{Endpoint: "ftp://x/y", SampleRate: 5}, false},
		{"sample over 100", Options{Endpoint: "/t", SampleRate: 100.5}, false},
		{"negative sample", Options{Endpoint: "/t", SampleRate: -1}, false},
		{"NaN sample", Options{Endpoint: "/t", SampleRate: math.NaN()}, false},
		{"embed ceiling over 100", Options{Endpoint: "/t", EmbedMaxSample: 101}, false},
		{"probes", withProbes(
			Probe{"cdn-a", "https://a.example.net/probe.gif"},
			Probe{"dns.b", "https://{rand}.b.example.net/probe.gif?x={rand}"},
			Probe{"origin", "/probe.gif"}), true},
		{"probe without name", withProbes(Probe{"", "https://a.example.net/p"}), false},
		{"probe name with space", withProbes(Probe{"cdn a", "https://a.example.net/p"}), false},
		{"duplicate probe", withProbes(Probe{"a", "https://a.example.net/p"}, Probe{"a", "https://b.example.net/p"}), false},
		{"probe without url", withProbes(Probe{"a", ""}), false},
		{"probe url relative", withProbes(Probe{"a", "probe.gif"}), false},
		{"probe url other brace", withProbes(Probe{"a", "https://a.example.net/{id}"}), false},
		{"probe url with markup", withProbes(Probe{"a", "https://a.example.net/</script>"}), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			if (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
