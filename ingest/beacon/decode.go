package beacon

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"
)

// Decode uses a hand-written decoder for the fixed v1 schema rather than reflection: it is as
// fast as goccy/go-json and allocates once per beacon instead of once per string field
// (decode_bench_test.go has the numbers). It reads the caller's body in place through an
// unsafe string view that never outlives the call: the string fields a beacon keeps are
// gathered in a scratch buffer and copied into one string per beacon, which they slice, so
// a Beacon never points into the body buffer (fasthttp reuses it). It is strict where
// encoding/json is lenient: invalid UTF-8, control characters in strings, nesting deeper
// than maxDepth and trailing data are errors.

// maxDepth bounds the nesting of a body. The schema needs 4 (array, beacon, probes, probe);
// unknown members may nest a little for forward compatibility.
const maxDepth = 32

// Error is a decoding error: a body that is not JSON, or a beacon that does not fit the v1
// schema. Both mean the reason Malformed.
type Error struct {
	Index int    // element of an array body; -1 for a single object or the body as a whole
	Off   int    // byte offset in the body where the problem was found
	Path  string // the member at fault, e.g. "nt.responseStart" or "probes[1].name"; "" for syntax
	Msg   string
}

func (e *Error) Error() string {
	var sb strings.Builder
	if e.Index >= 0 {
		fmt.Fprintf(&sb, "beacon %d: ", e.Index)
	}
	if e.Path != "" {
		sb.WriteString(e.Path)
		sb.WriteString(": ")
	}
	sb.WriteString(e.Msg)
	fmt.Fprintf(&sb, " (at byte %d)", e.Off)
	return sb.String()
}

// IsBatch reports whether body holds a JSON array of beacons rather than a single one. The
// two are answered differently (docs/design.md §2).
func IsBatch(body []byte) bool {
	for _, c := range body {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c == '['
	}
	return false
}

// Decode parses body, one beacon object or a JSON array of them, into dst[:0] (whose
// elements and their probe slices are reused) and returns the beacons.
//
// err is non-nil when the body as a whole is unusable: not JSON, not an object or a
// non-empty array, or a single object that does not fit the schema. For an array, a member
// that does not fit the schema does not fail the others: errs then has one entry per
// returned beacon, nil for those that decoded, and the beacons with an error must be
// skipped. errs is nil when every beacon decoded.
func Decode(body []byte, dst []Beacon) (beacons []Beacon, errs []error, err error) {
	dst = dst[:0]
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	d := decoder{s: unsafe.String(unsafe.SliceData(body), len(body)), index: -1, sc: sc}
	d.ws()
	if d.i == len(d.s) {
		return dst, nil, &Error{Index: -1, Msg: "empty body"}
	}
	switch d.s[d.i] {
	case '{':
		dst = grow(dst)
		d.beacon(&dst[0])
		if d.err == nil {
			d.end()
		}
		if d.err != nil {
			dst[0].Reset() // it may hold views of the body
			return dst[:0], nil, d.err
		}
		if d.serr != nil {
			return dst[:0], nil, d.serr
		}
		return dst, nil, nil
	case '[':
	default:
		return dst, nil, &Error{Index: -1, Msg: "want a beacon object or an array of them"}
	}
	d.enter()
	d.i++
	first := true
	for d.elem(&first) {
		dst = grow(dst)
		d.index = len(dst) - 1
		d.serr = nil
		if d.s[d.i] == '{' {
			d.beacon(&dst[d.index])
		} else {
			d.schema("", "want a beacon object")
			d.skip()
		}
		if d.err != nil {
			dst[d.index].Reset() // it may hold views of the body
			break
		}
		switch {
		case d.serr != nil:
			if errs == nil {
				errs = make([]error, d.index, d.index+4)
			}
			errs = append(errs, d.serr)
		case errs != nil:
			errs = append(errs, nil)
		}
	}
	if d.err == nil {
		d.end()
	}
	if d.err != nil {
		return dst[:0], nil, d.err
	}
	if len(dst) == 0 {
		return dst, nil, &Error{Index: -1, Msg: "empty array"}
	}
	return dst, errs, nil
}

// grow extends dst by one cleared beacon, reusing a previous element when it can.
func grow(dst []Beacon) []Beacon {
	if n := len(dst); n < cap(dst) {
		dst = dst[:n+1]
		dst[n].Reset()
		return dst
	}
	return append(dst, Beacon{})
}

type decoder struct {
	s     string
	i     int
	depth int
	index int    // element being decoded, -1 for a single object
	ctx   string // object being decoded ("" top level, "nt", "probes", ...) for error paths
	ctxI  int    // element index within ctx, -1 if none
	err   *Error // syntax error: the body is unusable
	serr  *Error // first schema error of the current beacon

	sc *scratch
}

// scratch holds the string fields of the beacon being decoded and the fields they go to.
// It is pooled so that decoding does not allocate for it.
type scratch struct {
	fix []fixup
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{fix: make([]fixup, 0, 16)}
}}

func (d *decoder) syntax(msg string) {
	if d.err == nil {
		d.err = &Error{Index: -1, Off: d.i, Msg: msg}
	}
}

// schema records the first schema error of the current beacon; key is the member at fault.
func (d *decoder) schema(key, msg string) {
	if d.serr != nil {
		return
	}
	path := strings.Clone(key) // key may be a view of the body
	if d.ctx != "" {
		path = d.ctx
		if d.ctxI >= 0 {
			path += "[" + strconv.Itoa(d.ctxI) + "]"
		}
		if key != "" {
			path += "." + key
		}
	}
	d.serr = &Error{Index: d.index, Off: d.i, Path: path, Msg: msg}
}

func (d *decoder) ws() {
	s, i := d.s, d.i
	for i < len(s) && s[i] <= ' ' && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r') {
		i++
	}
	d.i = i
}

// end checks that nothing but white space follows the body's value.
func (d *decoder) end() {
	d.ws()
	if d.i != len(d.s) {
		d.syntax("data after the end of the JSON value")
	}
}

func (d *decoder) enter() bool {
	d.depth++
	if d.depth > maxDepth {
		d.syntax("nested too deeply")
		return false
	}
	return true
}

func (d *decoder) leave() { d.depth-- }

// next advances to the next member of an object whose '{' was consumed, returning its key
// with the reader on the first byte of its value. It returns false after the closing '}'
// and on a syntax error.
func (d *decoder) next(first *bool) (string, bool) {
	d.ws()
	if d.i >= len(d.s) {
		d.syntax("unexpected end of body inside an object")
		return "", false
	}
	c := d.s[d.i]
	if c == '}' && *first {
		d.i++
		return "", false
	}
	if !*first {
		switch c {
		case '}':
			d.i++
			return "", false
		case ',':
			d.i++
			d.ws()
		default:
			d.syntax("want ',' or '}' in an object")
			return "", false
		}
	}
	*first = false
	if d.i >= len(d.s) || d.s[d.i] != '"' {
		d.syntax("want a member name")
		return "", false
	}
	// Member names are short and plain: read them here, leaving the rest to str.
	var key string
	j := d.i + 1
	for j < len(d.s) && plain[d.s[j]] {
		j++
	}
	if j < len(d.s) && d.s[j] == '"' {
		key = d.s[d.i+1 : j]
		d.i = j + 1
	} else {
		var ok bool
		if key, ok = d.str(); !ok {
			return "", false
		}
	}
	d.ws()
	if d.i >= len(d.s) || d.s[d.i] != ':' {
		d.syntax("want ':' after a member name")
		return "", false
	}
	d.i++
	d.ws()
	if d.i >= len(d.s) {
		d.syntax("unexpected end of body")
		return "", false
	}
	return key, true
}

// elem advances to the next element of an array whose '[' was consumed, leaving the
// reader on its first byte. It returns false after the closing ']' and on a syntax error.
func (d *decoder) elem(first *bool) bool {
	d.ws()
	if d.i >= len(d.s) {
		d.syntax("unexpected end of body inside an array")
		return false
	}
	c := d.s[d.i]
	if c == ']' && *first {
		d.i++
		return false
	}
	if !*first {
		switch c {
		case ']':
			d.i++
			return false
		case ',':
			d.i++
			d.ws()
		default:
			d.syntax("want ',' or ']' in an array")
			return false
		}
	}
	*first = false
	if d.i >= len(d.s) {
		d.syntax("unexpected end of body inside an array")
		return false
	}
	return true
}

// plain marks the bytes that need no attention inside a string: not '"', '\\', a control
// character or a byte of a multi-byte UTF-8 sequence.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads the string starting at the reader's '"'. An unescaped string is a slice of the
// body copy; one with escapes is built anew.
func (d *decoder) str() (string, bool) {
	s := d.s
	start := d.i + 1
	j := start
	high := false
	for {
		for j < len(s) && plain[s[j]] {
			j++
		}
		if j >= len(s) {
			d.i = len(s)
			d.syntax("unterminated string")
			return "", false
		}
		switch c := s[j]; {
		case c == '"':
			v := s[start:j]
			if high && !utf8.ValidString(v) {
				d.i = start
				d.syntax("invalid UTF-8 in a string")
				return "", false
			}
			d.i = j + 1
			return v, true
		case c == '\\':
			return d.strEscaped(start)
		case c < 0x20:
			d.i = j
			d.syntax("control character in a string")
			return "", false
		default:
			high = true
			j++
		}
	}
}

func (d *decoder) strEscaped(start int) (string, bool) {
	buf := make([]byte, 0, 64)
	j := start
	for j < len(d.s) {
		c := d.s[j]
		switch {
		case c == '"':
			if !utf8.Valid(buf) {
				d.i = start
				d.syntax("invalid UTF-8 in a string")
				return "", false
			}
			d.i = j + 1
			return string(buf), true
		case c < 0x20:
			d.i = j
			d.syntax("control character in a string")
			return "", false
		case c != '\\':
			buf = append(buf, c)
			j++
			continue
		}
		j++
		if j >= len(d.s) {
			break
		}
		switch e := d.s[j]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := hex4(d.s, j+1)
			if !ok {
				d.i = j
				d.syntax("bad \\u escape in a string")
				return "", false
			}
			j += 4
			if utf16IsHigh(r) {
				// A high surrogate makes a character only with a following low one;
				// alone it becomes U+FFFD, as encoding/json does.
				if j+6 < len(d.s) && d.s[j+1] == '\\' && d.s[j+2] == 'u' {
					if r2, ok := hex4(d.s, j+3); ok && r2 >= 0xDC00 && r2 <= 0xDFFF {
						r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
						j += 6
					}
				}
			}
			buf = utf8.AppendRune(buf, r) // a lone surrogate is appended as U+FFFD
		default:
			d.i = j
			d.syntax("bad escape in a string")
			return "", false
		}
		j++
	}
	d.i = len(d.s)
	d.syntax("unterminated string")
	return "", false
}

func utf16IsHigh(r rune) bool { return r >= 0xD800 && r <= 0xDBFF }

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// pow10 holds the powers of ten that a float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// num reads a JSON number. Numbers whose digits fit in 53 bits and whose decimal exponent is
// at most 22 in size are converted with one exact multiplication or division (Clinger's fast
// path, correctly rounded); the rest go to strconv.ParseFloat. A number too large for a
// float64 becomes ±Inf, which Validate rejects as out_of_range.
func (d *decoder) num() (float64, bool) {
	s, i := d.s, d.i
	start := i
	neg := i < len(s) && s[i] == '-'
	if neg {
		i++
	}
	var mant uint64
	digits := i
	for i < len(s) && s[i]-'0' < 10 {
		mant = mant*10 + uint64(s[i]-'0')
		i++
	}
	nd := i - digits
	if nd == 0 || nd > 1 && s[digits] == '0' {
		d.i = i
		d.syntax("bad number")
		return 0, false
	}
	exp10 := 0
	if i < len(s) && s[i] == '.' {
		i++
		frac := i
		for i < len(s) && s[i]-'0' < 10 {
			mant = mant*10 + uint64(s[i]-'0')
			i++
		}
		if i == frac {
			d.i = i
			d.syntax("bad number: no digit after '.'")
			return 0, false
		}
		exp10 = frac - i
		nd += i - frac
	}
	if i < len(s) && s[i]|0x20 == 'e' {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		if i >= len(s) || s[i]-'0' >= 10 {
			d.i = i
			d.syntax("bad number: no digit in the exponent")
			return 0, false
		}
		e := 0
		for i < len(s) && s[i]-'0' < 10 {
			if e < 100000 {
				e = e*10 + int(s[i]-'0')
			}
			i++
		}
		if eneg {
			e = -e
		}
		exp10 += e
	}
	d.i = i
	// 19 digits cannot overflow the uint64; leading zeros count, which only errs on the
	// side of the slow path.
	if nd <= 19 && mant <= 1<<53 && exp10 >= -22 && exp10 <= 22 {
		f := float64(mant)
		if exp10 < 0 {
			f /= pow10[-exp10]
		} else {
			f *= pow10[exp10]
		}
		if neg {
			f = -f
		}
		return f, true
	}
	f, _ := strconv.ParseFloat(s[start:i], 64) // the grammar is checked; ErrRange keeps ±Inf
	return f, true
}

// lit reads the literal word (true, false, null) at the reader.
func (d *decoder) lit(word string) bool {
	if !strings.HasPrefix(d.s[d.i:], word) {
		d.syntax("bad literal")
		return false
	}
	d.i += len(word)
	return true
}

// skip reads and discards one value of any type.
func (d *decoder) skip() {
	if d.i >= len(d.s) {
		d.syntax("unexpected end of body")
		return
	}
	switch c := d.s[d.i]; {
	case c == '{':
		if !d.enter() {
			return
		}
		d.i++
		first := true
		for {
			if _, ok := d.next(&first); !ok {
				break
			}
			d.skip()
			if d.err != nil {
				return
			}
		}
		d.leave()
	case c == '[':
		if !d.enter() {
			return
		}
		d.i++
		first := true
		for d.elem(&first) {
			d.skip()
			if d.err != nil {
				return
			}
		}
		d.leave()
	case c == '"':
		d.str()
	case c == 't':
		d.lit("true")
	case c == 'f':
		d.lit("false")
	case c == 'n':
		d.lit("null")
	case c == '-' || c >= '0' && c <= '9':
		d.num()
	default:
		d.syntax("want a JSON value")
	}
}

// number reads member key as a number; ok is false when it is null or of another type (a
// schema error).
func (d *decoder) number(key string) (float64, bool) {
	if c := d.s[d.i]; c == '-' || c-'0' < 10 {
		return d.num()
	}
	return d.notNumber(key)
}

func (d *decoder) notNumber(key string) (float64, bool) {
	if d.s[d.i] == 'n' {
		d.lit("null")
		return 0, false
	}
	d.schema(key, "want a number")
	d.skip()
	return 0, false
}

// string reads member key as a string; ok is false when it is null or of another type.
func (d *decoder) string(key string) (string, bool) {
	switch d.s[d.i] {
	case '"':
		return d.str()
	case 'n':
		d.lit("null")
		return "", false
	}
	d.schema(key, "want a string")
	d.skip()
	return "", false
}

// boolean reads member key as true or false; null is false.
func (d *decoder) boolean(key string) bool {
	switch d.s[d.i] {
	case 't':
		return d.lit("true")
	case 'f':
		d.lit("false")
		return false
	case 'n':
		d.lit("null")
		return false
	}
	d.schema(key, "want true or false")
	d.skip()
	return false
}

// open starts reading member key as an object; it returns false (leaving nothing to read)
// when the value is null or not an object (a schema error).
func (d *decoder) open(key string) bool {
	switch d.s[d.i] {
	case '{':
		if !d.enter() {
			return false
		}
		d.i++
		return true
	case 'n':
		d.lit("null")
		return false
	}
	d.schema(key, "want an object")
	d.skip()
	return false
}
