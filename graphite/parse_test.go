package graphite

import (
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want: a rendering of the tree, or "error: <substring>"
	}{
		{"rumd.total.ttfb.p75", "path(rumd.total.ttfb.p75)"},
		{`aliasSub(rumd.total.ttfb.p95,"(^.*$)","\1 A")`, `aliasSub(path(rumd.total.ttfb.p95), str((^.*$)), str(\1 A))`},
		{"alias( rumd.country.{DE,US}.lcp.p75 , 'a, b' )", "alias(path(rumd.country.{DE,US}.lcp.p75), str(a, b))"},
		{"limit(x.y, -2)", "limit(path(x.y), num(-2))"},
		{"timeShift(a.b, '1d', false)", "timeShift(path(a.b), str(1d), bool(false))"},
		{`alias(a.b, 'it\'s')`, "alias(path(a.b), str(it's))"},
		{"constantLine(0.5)", "constantLine(num(0.5))"},
		{"f()", "f()"},
		{"alias(a.b", "error: missing )"},
		{"alias(a.b,)", "error: unexpected \")\""},
		{"'x'", "error: literal"},
		{"a.b c", "error: unexpected"},
		{"9x(a)", "error: not a function name"},
		{`alias(a, "open`, "error: unterminated"},
		{strings.Repeat("f(", 40) + "a" + strings.Repeat(")", 40), "error: nested deeper"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			e, err := parseTarget(tc.in)
			if strings.HasPrefix(tc.want, "error: ") {
				if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(tc.want, "error: ")) {
					t.Fatalf("err %v, want %s", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := render(e); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func render(e *expr) string {
	switch e.kind {
	case kPath:
		return "path(" + e.s + ")"
	case kString:
		return "str(" + e.s + ")"
	case kNumber:
		return "num(" + e.text + ")"
	case kBool:
		if e.b {
			return "bool(true)"
		}
		return "bool(false)"
	}
	var args []string
	for _, a := range e.args {
		args = append(args, render(a))
	}
	return e.s + "(" + strings.Join(args, ", ") + ")"
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		match   []string
		miss    []string
	}{
		{"*", []string{"", "DE", "~a%2Eb"}, nil},
		{"D?", []string{"DE", "DK"}, []string{"D", "DEU"}},
		{"{DE,US}", []string{"DE", "US"}, []string{"FR", "DEUS"}},
		{"p[79]5", []string{"p75", "p95"}, []string{"p85", "p7"}},
		{"[a-c]x", []string{"ax", "cx"}, []string{"dx"}},
		{"[!a]x", []string{"bx"}, []string{"ax"}},
		{"~questions~:id", []string{"~questions~:id"}, []string{"~questions~:idx"}},
		{"a.b", []string{"a.b"}, []string{"axb"}},
		{"{p5*,count}", []string{"p50", "p5", "count"}, []string{"p75"}},
	} {
		g, err := compileGlob(tc.pattern)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		for _, s := range tc.match {
			if !g.match(s) {
				t.Errorf("%s does not match %q", tc.pattern, s)
			}
		}
		for _, s := range tc.miss {
			if g.match(s) {
				t.Errorf("%s matches %q", tc.pattern, s)
			}
		}
	}
	for _, bad := range []string{"{a,b", "{a}}", "[ab", "[]"} {
		if _, err := compileGlob(bad); err == nil {
			t.Errorf("%q compiled", bad)
		}
	}
	if got := strings.Join(splitPath("rumd.country.{D.E,US}.lcp.p[7.]5"), "|"); got != "rumd|country|{D.E,US}|lcp|p[7.]5" {
		t.Errorf("splitPath: %s", got)
	}
}

func TestParseStat(t *testing.T) {
	for in, want := range map[string]float64{"p50": 0.5, "p99_9": 0.999, "p100": 1, "p0": 0, "p75": 0.75, "p99_99": 0.9999} {
		st, err := parseStat(in)
		if err != nil || st.q != want || st.count {
			t.Errorf("%s: %+v %v", in, st, err)
		}
	}
	if st, err := parseStat("count"); err != nil || !st.count {
		t.Errorf("count: %+v %v", st, err)
	}
	for _, bad := range []string{"", "p", "p101", "p9_", "p_9", "pp5", "P50", "avg", "p5.5", "p-1"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	ok := DefaultOptions()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(o *Options){
		"empty prefix":    func(o *Options) { o.Prefix = "" },
		"dotted prefix":   func(o *Options) { o.Prefix = "a.b" },
		"tilde prefix":    func(o *Options) { o.Prefix = "a~b" },
		"no find results": func(o *Options) { o.MaxFindResults = 0 },
		"no points":       func(o *Options) { o.MaxPoints = 0 },
		"no clock":        func(o *Options) { o.Now = nil },
	} {
		o := DefaultOptions()
		mod(&o)
		if o.Validate() == nil {
			t.Errorf("%s: valid", name)
		}
	}
}
