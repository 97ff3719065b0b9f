package enrich

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"
)

// PageRule maps URL paths to a page group.
type PageRule struct {
	// Match is a route template like "/questions/:id" (":name" matches one path segment) or
	// "/static/*" ("*", only as the last segment, matches the rest of the path, if any), or a
	// regular expression on the path written "re:^/users/\\d+".
	Match string `yaml:"match"`
	// Name is the page group of matching paths. It defaults to Match for templates and is
	// required for regular expressions.
	Name string `yaml:"name"`
}

// MaxPageLen bounds the length in bytes of a page group.
const MaxPageLen = 200

// Page cache bounds: 8,192 URL paths of at most 256 bytes, so at most about 3 MiB whatever
// the traffic; longer paths are worked out afresh.
const (
	pageCacheSets = 2048
	maxPageKey    = 256
)

// maxPathScan bounds the bytes of a URL path looked at; longer paths are cut before rules
// run, so their groups may differ from the full path's, but stay bounded.
const maxPathScan = 512

type segKind uint8

const (
	segLiteral segKind = iota
	segParam
	segRest
)

type templateSeg struct {
	kind segKind
	lit  string
}

type pageRule struct {
	name string
	re   *regexp.Regexp // nil for templates
	segs []templateSeg
}

func compileRules(rules []PageRule) ([]pageRule, error) {
	out := make([]pageRule, 0, len(rules))
	for i, r := range rules {
		pr, err := compileRule(r)
		if err != nil {
			return nil, fmt.Errorf("page_rules[%d] (match %q): %w", i, r.Match, err)
		}
		out = append(out, pr)
	}
	return out, nil
}

func compileRule(r PageRule) (pageRule, error) {
	if expr, ok := strings.CutPrefix(r.Match, "re:"); ok {
		if expr == "" {
			return pageRule{}, fmt.Errorf("empty regular expression after \"re:\"")
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return pageRule{}, fmt.Errorf("bad regular expression: %w", err)
		}
		if r.Name == "" {
			return pageRule{}, fmt.Errorf("a regular-expression rule needs a name")
		}
		if err := checkName(r.Name); err != nil {
			return pageRule{}, err
		}
		return pageRule{name: r.Name, re: re}, nil
	}
	if len(r.Match) > maxPathScan {
		// Paths are cut at maxPathScan bytes before rules run, so such a rule never matches.
		return pageRule{}, fmt.Errorf("route template is %d bytes; rumd looks at the first %d bytes of a path", len(r.Match), maxPathScan)
	}
	segs, err := parseTemplate(r.Match)
	if err != nil {
		return pageRule{}, err
	}
	name := r.Name
	if name == "" {
		name = r.Match
		if len(name) > 1 {
			name = strings.TrimSuffix(name, "/")
		}
	}
	if err := checkName(name); err != nil {
		return pageRule{}, err
	}
	return pageRule{name: name, segs: segs}, nil
}

func parseTemplate(m string) ([]templateSeg, error) {
	if m == "" {
		return nil, fmt.Errorf("empty match; want a route template like \"/questions/:id\" or \"re:<regexp>\"")
	}
	if m[0] != '/' {
		return nil, fmt.Errorf("route template must start with \"/\"")
	}
	if strings.ContainsAny(m, "?#") {
		return nil, fmt.Errorf("route template matches paths only; query strings and fragments are dropped before matching")
	}
	body := strings.TrimPrefix(m, "/")
	if len(body) > 0 && body[len(body)-1] == '/' {
		body = body[:len(body)-1]
	}
	if body == "" {
		return nil, nil // "/" matches the root only
	}
	parts := strings.Split(body, "/")
	segs := make([]templateSeg, 0, len(parts))
	for i, p := range parts {
		switch {
		case p == "":
			return nil, fmt.Errorf("empty path segment (\"//\") in route template")
		case p == "*":
			if i != len(parts)-1 {
				return nil, fmt.Errorf("\"*\" must be the last segment of a route template")
			}
			segs = append(segs, templateSeg{kind: segRest})
		case p[0] == ':':
			if !isIdent(p[1:]) {
				return nil, fmt.Errorf("parameter %q: want \":\" followed by letters, digits or \"_\"", p)
			}
			segs = append(segs, templateSeg{kind: segParam})
		case strings.ContainsAny(p, "*:"):
			return nil, fmt.Errorf("segment %q: \"*\" and \":\" must start a segment (\"/*\" or \"/:name\")", p)
		default:
			if strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f || r == utf8.RuneError }) {
				return nil, fmt.Errorf("segment %q contains a space, a control character or invalid UTF-8, which never survive in a cleaned path", p)
			}
			segs = append(segs, templateSeg{kind: segLiteral, lit: p})
		}
	}
	return segs, nil
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty name")
	case len(name) > MaxPageLen:
		return fmt.Errorf("name is %d bytes, over the limit of %d", len(name), MaxPageLen)
	case hasControl(name) || !utf8.ValidString(name):
		return fmt.Errorf("name %q contains a control character or invalid UTF-8", name)
	case name == otherValue:
		return fmt.Errorf("name %q is reserved for the cardinality overflow", name)
	}
	return nil
}

// otherValue is the aggregator's overflow value; a rule must not produce it.
const otherValue = "__other__"

// matchTemplate reports whether the cleaned path p (leading "/", no trailing or doubled "/")
// matches the template.
func (r *pageRule) matchTemplate(p []byte) bool {
	rest := p[1:] // drop the leading "/"
	for _, s := range r.segs {
		if s.kind == segRest {
			return true
		}
		if len(rest) == 0 {
			return false
		}
		var seg []byte
		if i := indexSlash(rest); i >= 0 {
			seg, rest = rest[:i], rest[i+1:]
		} else {
			seg, rest = rest, rest[len(rest):]
		}
		if s.kind == segLiteral && string(seg) != s.lit {
			return false
		}
	}
	return len(rest) == 0
}

func indexSlash(b []byte) int {
	for i, c := range b {
		if c == '/' {
			return i
		}
	}
	return -1
}

// PageGroup returns the page group of a beacon's URL. Only the path counts: the scheme, host,
// query string and fragment are dropped, so absolute URLs and bare paths give the same
// group. The path is cleaned (doubled and trailing "/" removed, control characters and
// invalid UTF-8 dropped) and matched against the rules in order; the first match names the
// group. Without a match, the default rule replaces numeric segments with ":id", UUIDs with
// ":uuid" and hex strings of 16 or more digits with ":hex". The result is at most
// MaxPageLen bytes; an empty or unparsable URL is "/".
//
// The group depends on the path alone, so it is cached by the path as sent (before
// cleaning): whatever the rules, the same path always gives the same group.
func (e *Enricher) PageGroup(rawURL string) string {
	return cached(e.pageCache, e.counts, cachePage, urlPath(rawURL), e.pathGroup)
}

// pathGroup works out the page group of a URL path as urlPath returns it.
func (e *Enricher) pathGroup(path string) string {
	var pathBuf [maxPathScan]byte
	p := cleanPath(pathBuf[:0], path)
	if len(p) == 1 && len(e.rules) == 0 {
		return "/"
	}
	for i := range e.rules {
		r := &e.rules[i]
		if r.re != nil {
			if matchRegexp(r.re, p) {
				return r.name
			}
		} else if r.matchTemplate(p) {
			return r.name
		}
	}
	var outBuf [MaxPageLen + utf8.UTFMax + 1]byte
	out := collapseIDs(outBuf[:0], p)
	if len(out) > MaxPageLen {
		out = truncateGroup(out)
	}
	return e.pages.get(out)
}

// regexpBufs holds copies of paths for regular expressions to run on: regexp keeps its
// input in pooled state, so handing it PageGroup's stack buffer would move that buffer to
// the heap on every call, rules or not.
var regexpBufs = sync.Pool{New: func() any { b := make([]byte, 0, maxPathScan); return &b }}

func matchRegexp(re *regexp.Regexp, p []byte) bool {
	bp := regexpBufs.Get().(*[]byte)
	b := append((*bp)[:0], p...)
	ok := re.Match(b)
	*bp = b[:0]
	regexpBufs.Put(bp)
	return ok
}

// urlPath returns the path of an absolute URL, a scheme-relative one ("//host/p") or a bare
// path, without query string or fragment. A URL with an opaque scheme ("about:blank",
// "data:...") has no path and gives "".
func urlPath(s string) string {
	// Two IndexByte scans (vectorised) beat one IndexAny, which goes byte by byte; it was
	// the largest cost of a page-cache hit (BenchmarkPopulation/page).
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[:i]
	}
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	if strings.HasPrefix(s, "//") {
		return afterHost(s[2:])
	}
	slash := strings.IndexByte(s, '/')
	colon := strings.IndexByte(s, ':')
	if colon > 0 && (slash < 0 || colon < slash) && isScheme(s[:colon]) {
		rest := s[colon+1:]
		if strings.HasPrefix(rest, "//") {
			return afterHost(rest[2:])
		}
		return ""
	}
	return s
}

func afterHost(s string) string {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[i:]
	}
	return ""
}

func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// cleanPath appends to dst the path p with a leading "/", empty segments dropped (which
// removes doubled and trailing slashes), control characters, spaces and invalid UTF-8
// dropped, cut to fit dst's capacity.
func cleanPath(dst []byte, p string) []byte {
	dst = append(dst, '/')
	room := cap(dst)
	for i := 0; i < len(p) && len(dst) < room; {
		c := p[i]
		switch {
		case c == '/':
			if dst[len(dst)-1] != '/' {
				dst = append(dst, '/')
			}
			i++
		case c <= 0x20 || c == 0x7f:
			i++
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, n := utf8.DecodeRuneInString(p[i:])
			if r != utf8.RuneError && len(dst)+n <= room {
				dst = append(dst, p[i:i+n]...)
			}
			i += n
		}
	}
	if len(dst) > 1 && dst[len(dst)-1] == '/' {
		dst = dst[:len(dst)-1]
	}
	return dst
}

// collapseIDs appends to dst the cleaned path p with identifier segments replaced by
// placeholders (the default rule), stopping once dst is full: what does not fit would be
// cut off anyway.
func collapseIDs(dst, p []byte) []byte {
	for len(p) > 0 && len(dst) < cap(dst) {
		p = p[1:] // the "/"
		end := indexSlash(p)
		if end < 0 {
			end = len(p)
		}
		seg := p[:end]
		p = p[end:]
		dst = append(dst, '/')
		if ph := placeholder(seg); ph != "" {
			dst = append(dst, ph...)
		} else {
			dst = append(dst, seg[:min(len(seg), cap(dst)-len(dst))]...)
		}
	}
	return dst[:min(len(dst), cap(dst))]
}

// placeholder returns what the default rule replaces seg with, or "" to keep it.
func placeholder(seg []byte) string {
	switch {
	case len(seg) == 0:
		return ""
	case allDigits(seg):
		return ":id"
	case isUUID(seg):
		return ":uuid"
	case len(seg) >= 16 && allHex(seg):
		return ":hex"
	}
	return ""
}

// truncateGroup cuts a collapsed path to MaxPageLen bytes. The cut may leave a last
// segment that now looks like an identifier; it is collapsed too (or dropped when its
// placeholder does not fit), so that a page group is always its own group.
func truncateGroup(b []byte) []byte {
	b = truncateUTF8(b, MaxPageLen)
	i := bytes.LastIndexByte(b, '/')
	if ph := placeholder(b[i+1:]); ph != "" {
		if i+1+len(ph) <= MaxPageLen {
			return append(b[:i+1], ph...)
		}
		if i == 0 {
			return b[:1]
		}
		return b[:i]
	}
	return b
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func allHex(b []byte) bool {
	for _, c := range b {
		if !isHex(c) {
			return false
		}
	}
	return true
}

func isUUID(b []byte) bool {
	if len(b) != 36 {
		return false
	}
	for i, c := range b {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !isHex(c) {
			return false
		}
	}
	return true
}

// truncateUTF8 cuts the valid UTF-8 b to at most n bytes without splitting a character or
// leaving a trailing "/".
func truncateUTF8(b []byte, n int) []byte {
	b = b[:n]
	for len(b) > 0 {
		if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size > 1 {
			break
		}
		b = b[:len(b)-1]
	}
	if len(b) > 1 && b[len(b)-1] == '/' {
		b = b[:len(b)-1]
	}
	return b
}
