package graphite

import (
	"fmt"
	"strconv"
	"strings"
)

// kind is the type of a node of a parsed target.
type kind uint8

const (
	kPath kind = iota
	kCall
	kString
	kNumber
	kBool
)

// expr is one node of a parsed target: a path pattern, a function call, or a literal.
type expr struct {
	kind kind
	s    string // path pattern, function name or string value
	num  float64
	b    bool
	args []*expr
	text string // the node's source text, for series names
}

const (
	maxTargetLen = 16 << 10
	maxDepth     = 32
)

// parseTarget parses one render target, e.g. aliasSub(rumd.total.ttfb.p95, "(^.*$)", "\1 A").
func parseTarget(s string) (*expr, error) {
	if len(s) > maxTargetLen {
		return nil, fmt.Errorf("target is longer than %d bytes", maxTargetLen)
	}
	p := &parser{in: s}
	e, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.in) {
		return nil, p.errorf("unexpected %q after the expression", p.in[p.pos:])
	}
	if e.kind != kPath && e.kind != kCall {
		return nil, fmt.Errorf("target %q is a literal, not a series", s)
	}
	return e, nil
}

type parser struct {
	in  string
	pos int
}

func (p *parser) errorf(format string, a ...any) error {
	return fmt.Errorf("target %q at %d: %s", p.in, p.pos, fmt.Sprintf(format, a...))
}

func (p *parser) space() {
	for p.pos < len(p.in) && (p.in[p.pos] == ' ' || p.in[p.pos] == '\t' || p.in[p.pos] == '\n' || p.in[p.pos] == '\r') {
		p.pos++
	}
}

func (p *parser) expr(depth int) (*expr, error) {
	if depth > maxDepth {
		return nil, p.errorf("nested deeper than %d calls", maxDepth)
	}
	p.space()
	if p.pos >= len(p.in) {
		return nil, p.errorf("expected a series, a string or a number")
	}
	start := p.pos
	if c := p.in[p.pos]; c == '"' || c == '\'' {
		v, err := p.str(c)
		if err != nil {
			return nil, err
		}
		return &expr{kind: kString, s: v, text: p.in[start:p.pos]}, nil
	}
	tok := p.token()
	if tok == "" {
		return nil, p.errorf("unexpected %q", p.in[p.pos:p.pos+1])
	}
	p.space()
	if p.pos < len(p.in) && p.in[p.pos] == '(' {
		if !isFuncName(tok) {
			return nil, p.errorf("%q is not a function name", tok)
		}
		p.pos++
		call := &expr{kind: kCall, s: tok}
		p.space()
		if p.pos < len(p.in) && p.in[p.pos] == ')' {
			p.pos++
			call.text = p.in[start:p.pos]
			return call, nil
		}
		for {
			a, err := p.expr(depth + 1)
			if err != nil {
				return nil, err
			}
			call.args = append(call.args, a)
			p.space()
			if p.pos >= len(p.in) {
				return nil, p.errorf("missing ) to close %s(", tok)
			}
			if p.in[p.pos] == ',' {
				p.pos++
				continue
			}
			if p.in[p.pos] == ')' {
				p.pos++
				break
			}
			return nil, p.errorf("expected , or ) in the arguments of %s", tok)
		}
		call.text = p.in[start:p.pos]
		return call, nil
	}
	switch tok {
	case "true", "True":
		return &expr{kind: kBool, b: true, text: tok}, nil
	case "false", "False":
		return &expr{kind: kBool, b: false, text: tok}, nil
	}
	if n, err := strconv.ParseFloat(tok, 64); err == nil && (tok[0] == '-' || tok[0] == '+' || tok[0] == '.' || tok[0] >= '0' && tok[0] <= '9') {
		return &expr{kind: kNumber, num: n, text: tok}, nil
	}
	return &expr{kind: kPath, s: tok, text: tok}, nil
}

// token reads a path or a bare word: everything up to a space, a parenthesis, a quote, or a
// comma outside {} (a comma inside {} separates alternatives of a wildcard).
func (p *parser) token() string {
	start, depth := p.pos, 0
	for p.pos < len(p.in) {
		c := p.in[p.pos]
		switch {
		case c == '{':
			depth++
		case c == '}':
			if depth == 0 {
				return p.in[start:p.pos]
			}
			depth--
		case c == ',' && depth == 0, c == '(', c == ')', c == '"', c == '\'', c == ' ', c == '\t', c == '\n', c == '\r':
			return p.in[start:p.pos]
		}
		p.pos++
	}
	return p.in[start:p.pos]
}

// str reads a quoted string. A backslash escapes the quote character and itself; any other
// backslash is kept, so aliasSub's "\1" reaches the function as written.
func (p *parser) str(q byte) (string, error) {
	p.pos++
	var b strings.Builder
	for p.pos < len(p.in) {
		c := p.in[p.pos]
		if c == '\\' && p.pos+1 < len(p.in) && (p.in[p.pos+1] == q || p.in[p.pos+1] == '\\') {
			b.WriteByte(p.in[p.pos+1])
			p.pos += 2
			continue
		}
		if c == q {
			p.pos++
			return b.String(), nil
		}
		b.WriteByte(c)
		p.pos++
	}
	return "", p.errorf("unterminated string")
}

func isFuncName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}
