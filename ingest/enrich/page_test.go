package enrich_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"rumd/ingest/enrich"
)

var testRules = []enrich.PageRule{
	{Match: "/"},
	{Match: "/questions/:id"},
	{Match: "/questions/:id/:slug", Name: "/questions/:id"},
	{Match: "/static/*", Name: "static"},
	{Match: `re:^/users/\d+(/|$)`, Name: "/users/:id"},
	{Match: "/docs/"}, // trailing slash: the name is normalised like paths are
	{Match: "/a/:x/c"},
	{Match: "/a/b/c", Name: "shadowed by the rule above"},
}

func TestPageGroupRules(t *testing.T) {
	o := enrich.DefaultOptions()
	o.PageRules = testRules
	e := mustEnricher(t, o)
	for _, tc := range []struct {
		name, url, want string
	}{
		{"root absolute", "https://example.com/", "/"},
		{"root without slash", "https://example.com", "/"},
		{"root with query", "https://example.com/?utm_source=x", "/"},
		{"template", "https://example.com/questions/42", "/questions/:id"},
		{"template with query and fragment", "https://example.com/questions/42?tab=votes#answer-7", "/questions/:id"},
		{"template bare path", "/questions/42", "/questions/:id"},
		{"template trailing slash", "/questions/42/", "/questions/:id"},
		{"template doubled slashes", "//example.com//questions//42", "/questions/:id"},
		{"template param matches words", "/questions/ask", "/questions/:id"},
		{"second template", "/questions/42/how-to-exit-vim", "/questions/:id"},
		{"template too long falls to default", "/questions/42/how-to-exit-vim/edit", "/questions/:id/how-to-exit-vim/edit"},
		{"template too short falls to default", "/questions", "/questions"},
		{"wildcard", "https://cdn.example.com/static/js/app.3f2a.js", "static"},
		{"wildcard matches the bare prefix", "/static", "static"},
		{"wildcard needs the literal", "/staticfiles/x", "/staticfiles/x"},
		{"regex", "https://example.com/users/123/profile?x=1", "/users/:id"},
		{"regex no match", "/users/alice", "/users/alice"},
		{"name normalised", "/docs", "/docs"},
		{"first match wins", "/a/b/c", "/a/:x/c"},
		{"case sensitive", "/Questions/42", "/Questions/:id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The second call is answered by the page cache.
			for try := range 2 {
				if got := e.PageGroup(tc.url); got != tc.want {
					t.Fatalf("call %d: PageGroup(%q) = %q, want %q", try+1, tc.url, got, tc.want)
				}
			}
		})
	}
}

func TestPageGroupDefaultRule(t *testing.T) {
	e := mustEnricher(t, enrich.DefaultOptions())
	long := "/" + strings.Repeat("abcdefghij/", 40)
	for _, tc := range []struct {
		name, url, want string
	}{
		{"numeric", "https://example.com/questions/42", "/questions/:id"},
		{"numeric in the middle", "/orders/123456/items/7/edit", "/orders/:id/items/:id/edit"},
		{"uuid", "/carts/3f2504e0-4f89-11d3-9a0c-0305e82c3301/checkout", "/carts/:uuid/checkout"},
		{"upper case uuid", "/carts/3F2504E0-4F89-11D3-9A0C-0305E82C3301", "/carts/:uuid"},
		{"almost a uuid", "/carts/3f2504e0-4f89-11d3-9a0c-0305e82c330g", "/carts/3f2504e0-4f89-11d3-9a0c-0305e82c330g"},
		{"long hex", "/commit/9fceb02d0ae598e95dc970b74767f19372d61af8", "/commit/:hex"},
		{"16 hex", "/s/0123456789abcdef", "/s/:hex"},
		{"15 hex stays", "/s/0123456789abcde", "/s/0123456789abcde"},
		{"hex-looking word stays", "/cafe/beef", "/cafe/beef"},
		{"long digits are ids", "/t/12345678901234567890123", "/t/:id"},
		{"mixed stays", "/v2/item42", "/v2/item42"},
		{"query and fragment", "/a/1?b=2#c/3", "/a/:id"},
		{"fragment only", "/a/1#frag", "/a/:id"},
		{"scheme relative", "//example.com/p/9", "/p/:id"},
		{"relative path", "questions/42", "/questions/:id"},
		{"http upper scheme", "HTTP://EXAMPLE.COM/P/1", "/P/:id"},
		{"port and userinfo", "https://u:p@example.com:8443/x/5", "/x/:id"},
		{"control characters dropped", "/a\x00b/\tc\x7f/1", "/ab/c/:id"},
		{"spaces dropped", "/a b/ 1 ", "/ab/:id"},
		{"invalid utf-8 dropped", "/caf\xc3/\xffx", "/caf/x"},
		{"utf-8 kept", "/café/ß", "/café/ß"},
		{"empty", "", "/"},
		{"only query", "?x=1", "/"},
		{"only fragment", "#top", "/"},
		{"slashes only", "////", "/"},
		{"about blank", "about:blank", "/"},
		{"javascript url", "javascript:alert(1)", "/"},
		{"data url", "data:text/html,<p>hi</p>", "/"},
		{"host only", "https://example.com?x", "/"},
		{"long path bounded", long, strings.TrimSuffix(long[:enrich.MaxPageLen], "/")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The second call is answered by the page cache.
			for try := range 2 {
				if got := e.PageGroup(tc.url); got != tc.want {
					t.Fatalf("call %d: PageGroup(%q) = %q, want %q", try+1, tc.url, got, tc.want)
				}
			}
		})
	}
}

func TestPageGroupBoundedUTF8(t *testing.T) {
	e := mustEnricher(t, enrich.DefaultOptions())
	for pad := range 4 {
		url := "/" + strings.Repeat("x", pad) + strings.Repeat("é", 300)
		got := e.PageGroup(url)
		if len(got) > enrich.MaxPageLen || len(got) < enrich.MaxPageLen-4 || !utf8.ValidString(got) {
			t.Errorf("pad %d: PageGroup gave %d bytes, valid UTF-8 %v; want valid and about %d bytes",
				pad, len(got), utf8.ValidString(got), enrich.MaxPageLen)
		}
	}
}

// TestPageGroupSpray is the cardinality attack of docs/design.md §4: distinct numeric URLs must all
// land in one group.
func TestPageGroupSpray(t *testing.T) {
	e := mustEnricher(t, enrich.DefaultOptions())
	const workers = 4
	groups := make([]map[string]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		groups[w] = map[string]int{}
		wg.Go(func() {
			for i := w; i < 100_000; i += workers {
				groups[w][e.PageGroup(fmt.Sprintf("https://example.com/product/%d?ref=%d#r%d", i*7919, i, i))]++
			}
		})
	}
	wg.Wait()
	all := map[string]int{}
	for _, g := range groups {
		for k, n := range g {
			all[k] += n
		}
	}
	if len(all) != 1 || all["/product/:id"] != 100_000 {
		t.Fatalf("100,000 numeric URLs made groups %v, want only /product/:id", all)
	}
}

// TestPageGroupDistinctPaths sprays more distinct groups than the interner keeps, so that
// its shards fill and are emptied; every group must still come back right.
func TestPageGroupDistinctPaths(t *testing.T) {
	e := mustEnricher(t, enrich.DefaultOptions())
	for pass := range 2 {
		for i := range 20_000 {
			want := fmt.Sprintf("/p%d/x", i)
			if got := e.PageGroup(fmt.Sprintf("https://example.com/p%d/x/", i)); got != want {
				t.Fatalf("pass %d: got %q, want %q", pass, got, want)
			}
		}
	}
}
