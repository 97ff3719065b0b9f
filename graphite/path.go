package graphite

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/DataDog/sketches-go/ddsketch"

	"rumd/internal/series"
	"rumd/internal/sketch"
)

// EncodeNode makes a label value path-safe (see the package comment); DecodeNode reverses it.
func EncodeNode(v string) string {
	if v == "" {
		return "%"
	}
	clean := true
	for i := 0; i < len(v); i++ {
		if !keepByte(v[i]) {
			clean = false
			break
		}
	}
	if clean {
		return v
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(v)+8)
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case keepByte(c):
			b = append(b, c)
		case c == '/':
			b = append(b, '~')
		default:
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(b)
}

func keepByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == ':'
}

// DecodeNode reads a node written by EncodeNode.
func DecodeNode(n string) (string, error) {
	if n == "%" {
		return "", nil
	}
	if strings.IndexByte(n, '~') < 0 && strings.IndexByte(n, '%') < 0 {
		return n, nil
	}
	b := make([]byte, 0, len(n))
	for i := 0; i < len(n); i++ {
		switch c := n[i]; c {
		case '~':
			b = append(b, '/')
		case '%':
			if i+2 >= len(n) {
				return "", fmt.Errorf("node %q: %% must be followed by two hex digits", n)
			}
			v, err := strconv.ParseUint(n[i+1:i+3], 16, 8)
			if err != nil {
				return "", fmt.Errorf("node %q: %% must be followed by two hex digits", n)
			}
			b = append(b, byte(v))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b), nil
}

// viewName is a view's node: "total", or its dimensions joined by "_".
func viewName(v series.View) string {
	if len(v.Dims) == 0 {
		return "total"
	}
	return strings.Join(v.Names(), "_")
}

// stat is the statistic read from a step's merged sketch.
type stat struct {
	name  string
	count bool
	q     float64
}

// browseStats are the statistics listed when browsing and matched by wildcards.
var browseStats = []string{"count", "p50", "p75", "p90", "p95", "p99"}

// parseStat reads "count" or a percentile such as "p95" or "p99_9".
func parseStat(s string) (stat, error) {
	if s == "count" {
		return stat{name: s, count: true}, nil
	}
	if len(s) < 2 || s[0] != 'p' || s[1] < '0' || s[1] > '9' {
		return stat{}, fmt.Errorf("statistic %q is neither count nor a percentile like p95 or p99_9", s)
	}
	// Exact decimal scaling, so that p99_9 is 999/1000 and not 99.9/100.
	whole, frac, _ := strings.Cut(s[1:], "_")
	digits := whole + frac
	if whole == "" || strings.Contains(s[1:], "_") && frac == "" || len(digits) > 15 {
		return stat{}, fmt.Errorf("statistic %q is neither count nor a percentile like p95 or p99_9", s)
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return stat{}, fmt.Errorf("statistic %q is neither count nor a percentile like p95 or p99_9", s)
		}
	}
	n, _ := strconv.ParseUint(digits, 10, 64)
	den := math.Pow10(len(frac) + 2)
	if float64(n) > den {
		return stat{}, fmt.Errorf("statistic %q is not a percentile from p0 to p100", s)
	}
	return stat{name: s, q: float64(n) / den}, nil
}

// value reads the statistic from a merged sketch.
func (st stat) value(s *ddsketch.DDSketch) float64 {
	if st.count {
		return s.GetCount()
	}
	return sketch.Quantile(s, st.q)
}

// glob matches one path node against a Graphite pattern: *, ?, {a,b} and [...].
type glob struct {
	literal string
	re      *regexp.Regexp // nil when the pattern is a literal
}

func hasWildcard(p string) bool { return strings.ContainsAny(p, "*?{[") }

// compileGlob compiles one node's pattern.
func compileGlob(p string) (glob, error) {
	if !hasWildcard(p) {
		return glob{literal: p}, nil
	}
	var b strings.Builder
	b.WriteString("^(?:")
	depth := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '{':
			depth++
			b.WriteString("(?:")
		case '}':
			if depth == 0 {
				return glob{}, fmt.Errorf("pattern %q: unbalanced }", p)
			}
			depth--
			b.WriteString(")")
		case ',':
			if depth > 0 {
				b.WriteString("|")
			} else {
				b.WriteString(",")
			}
		case '[':
			j := strings.IndexByte(p[i+1:], ']')
			if j < 0 {
				return glob{}, fmt.Errorf("pattern %q: unclosed [", p)
			}
			class := p[i+1 : i+1+j]
			if class == "" {
				return glob{}, fmt.Errorf("pattern %q: empty []", p)
			}
			b.WriteByte('[')
			for k := 0; k < len(class); k++ {
				ch := class[k]
				if ch == '!' && k == 0 {
					b.WriteByte('^')
					continue
				}
				if ch == '\\' || ch == ']' || ch == '[' || (ch == '^' && k == 0) {
					b.WriteByte('\\')
				}
				b.WriteByte(ch)
			}
			b.WriteByte(']')
			i += j + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	if depth != 0 {
		return glob{}, fmt.Errorf("pattern %q: unclosed {", p)
	}
	b.WriteString(")$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return glob{}, fmt.Errorf("pattern %q: %v", p, err)
	}
	return glob{re: re}, nil
}

func (g glob) match(s string) bool {
	if g.re == nil {
		return s == g.literal
	}
	return g.re.MatchString(s)
}

// splitPath splits a path pattern into nodes at dots outside {} and [].
func splitPath(p string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '{', '[':
			depth++
		case '}', ']':
			if depth > 0 {
				depth--
			}
		case '.':
			if depth == 0 {
				out = append(out, p[start:i])
				start = i + 1
			}
		}
	}
	return append(out, p[start:])
}

// appendValue writes a point's value for JSON: null for NaN, integers (counts) exactly, and
// other values to 7 significant digits, far finer than a sketch's 1% and a third of the
// bytes of a full float.
func appendValue(dst []byte, v float64) []byte {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return append(dst, "null"...)
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.AppendInt(dst, int64(v), 10)
	}
	return strconv.AppendFloat(dst, v, 'g', 7, 64)
}
