package enrich_test

import (
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

	"rumd/ingest/enrich"
)

// checkGroup fails the test unless g is a well-formed page group.
func checkGroup(t *testing.T, url, g string) {
	t.Helper()
	if g == "" || len(g) > enrich.MaxPageLen || !utf8.ValidString(g) {
		t.Fatalf("PageGroup(%q) = %q: empty, over %d bytes or invalid UTF-8", url, g, enrich.MaxPageLen)
	}
	for _, r := range g {
		if r < 0x20 || r == 0x7f {
			t.Fatalf("PageGroup(%q) = %q holds a control character", url, g)
		}
	}
}

func FuzzPageGroup(f *testing.F) {
	for _, s := range []string{
		"https://example.com/questions/42?tab=votes#x",
		"/carts/3f2504e0-4f89-11d3-9a0c-0305e82c3301/checkout",
		"//cdn.example.com/static/app.js",
		"about:blank",
		"/a\x00b//c/9fceb02d0ae598e95dc970b74767f19372d61af8/",
		"/caf\xc3/é",
	} {
		f.Add(s, "q=1")
	}
	e, err := enrich.New(nil, nil, enrich.DefaultOptions())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, url, query string) {
		g := e.PageGroup(url)
		checkGroup(t, url, g)
		if g[0] != '/' || strings.ContainsAny(g, "?# ") || (len(g) > 1 && strings.HasSuffix(g, "/")) || strings.Contains(g, "//") {
			t.Fatalf("PageGroup(%q) = %q is not a clean path", url, g)
		}
		// A group is its own group: the default rule is idempotent.
		if again := e.PageGroup(g); again != g {
			t.Fatalf("PageGroup(%q) = %q but PageGroup(%q) = %q", url, g, g, again)
		}
		// The query string and fragment never matter.
		if !strings.ContainsAny(url, "?#") {
			if withQuery := e.PageGroup(url + "?" + query + "#" + query); withQuery != g {
				t.Fatalf("PageGroup(%q) = %q but with a query %q", url, g, withQuery)
			}
		}
	})
}

// FuzzOptions checks that Validate and New agree, that a valid rule set never makes
// PageGroup misbehave, and that a valid route template matches a path built from it.
func FuzzOptions(f *testing.F) {
	f.Add("/questions/:id", "", "10.0.0.0/8", "CF-IPCountry", "/questions/42?x")
	f.Add("/static/*", "static", "::1", "", "/static/a/b.js")
	f.Add(`re:^/users/\d+`, "/users/:id", "2001:db8::/32", "X-Country", "/users/7/x")
	f.Add("re:(", "x", "10.0.0.0/33", "bad header", "/")
	f.Add("/a//b", "", "", "", "//a/b")
	f.Add("/x/*/y", "", "proxy", "", "/x")
	f.Fuzz(func(t *testing.T, match, name, cidr, header, url string) {
		o := enrich.Options{
			TrustedProxies: []string{cidr},
			CountryHeader:  header,
			PageRules:      []enrich.PageRule{{Match: match, Name: name}},
		}
		verr := o.Validate()
		e, err := enrich.New(nil, nil, o)
		if (verr == nil) != (err == nil) {
			t.Fatalf("Validate() = %v but New() = %v", verr, err)
		}
		if verr != nil {
			if verr.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		defer e.Close()
		checkGroup(t, url, e.PageGroup(url))
		e.Country(netip.MustParseAddr("10.1.2.3"), url, header)

		if strings.HasPrefix(match, "re:") {
			return
		}
		want := name
		if want == "" {
			want = strings.TrimSuffix(match, "/")
			if want == "" {
				want = "/"
			}
		}
		var path []string
		for _, seg := range strings.Split(match, "/") {
			switch {
			case seg == "*":
				path = append(path, "any", "rest")
			case strings.HasPrefix(seg, ":"):
				path = append(path, "v1")
			default:
				path = append(path, seg)
			}
		}
		p := strings.Join(path, "/")
		if got := e.PageGroup("https://example.com" + p + "?q"); got != want {
			t.Fatalf("rule {%q, %q}: PageGroup(%q) = %q, want %q", match, name, p, got, want)
		}
	})
}
