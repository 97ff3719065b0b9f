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
// two are answered differently (DESIGN §2).
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

// scratch holds the string fields of the beacon being decoded: their bytes in arena, the
// fields they go to in fix. It is pooled so that decoding does not allocate for it.
type scratch struct {
	arena []byte
	fix   []fixup
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{arena: make([]byte, 0, 512), fix: make([]fixup, 0, 16)}
}}

// A fixup places a string kept in the decoder's arena into a field of the current beacon.
type fixup struct {
	field  field
	probe  uint8
	off, n int32
}

// field names a string field of a beacon.
type field uint8

const (
	fID field = iota
	fURL
	fNav
	fConn
	fVariant
	fNTHop
	fNT1Hop
	fProbeName // the probe fields come last
	fProbeURL
	fProbeHop
)

// keep reads member key as a string and keeps it for field f of the current beacon.
func (d *decoder) keep(key string, f field, probe int) {
	v, ok := d.string(key)
	if !ok {
		return
	}
	d.sc.fix = append(d.sc.fix, fixup{field: f, probe: uint8(probe), off: int32(len(d.sc.arena)), n: int32(len(v))})
	d.sc.arena = append(d.sc.arena, v...)
}

// drop forgets the kept strings of fields lo to hi, when a repeated member replaces them.
func (d *decoder) drop(lo, hi field) {
	n := 0
	for _, x := range d.sc.fix {
		if x.field < lo || x.field > hi {
			d.sc.fix[n] = x
			n++
		}
	}
	d.sc.fix = d.sc.fix[:n]
}

// settle copies the kept strings into one string and points b's fields into it.
func (d *decoder) settle(b *Beacon) {
	if len(d.sc.fix) == 0 {
		return
	}
	all := string(d.sc.arena)
	for _, x := range d.sc.fix {
		v := all[x.off : x.off+x.n]
		switch x.field {
		case fID:
			b.ID = v
		case fURL:
			b.URL = v
		case fNav:
			b.Nav = v
		case fConn:
			b.Conn = v
		case fVariant:
			b.Variant = v
		case fNTHop:
			b.NT.NextHopProtocol = v
		case fNT1Hop:
			b.NT1.NextHopProtocol = v
		default:
			if int(x.probe) >= len(b.Probes) {
				continue
			}
			p := &b.Probes[x.probe]
			switch x.field {
			case fProbeName:
				p.Name = v
			case fProbeURL:
				p.URL = v
			case fProbeHop:
				p.NextHopProtocol = v
			}
		}
	}
	d.sc.arena, d.sc.fix = d.sc.arena[:0], d.sc.fix[:0]
}

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

// Bits of decoder.beacon's seen set.
const (
	seenV = 1 << iota
	seenSent
	seenOrigin
	seenNow
)

func (d *decoder) beacon(b *Beacon) {
	if !d.enter() {
		return
	}
	d.i++
	d.ctx, d.ctxI = "", -1
	d.sc.arena, d.sc.fix = d.sc.arena[:0], d.sc.fix[:0]
	seen := 0
	first := true
	for {
		key, ok := d.next(&first)
		if !ok {
			break
		}
		switch key {
		case "v":
			if f, ok := d.number(key); ok {
				seen |= seenV
				b.V = -1
				if f == 1 {
					b.V = 1
				}
			}
		case "id":
			d.keep(key, fID, 0)
		case "url":
			d.keep(key, fURL, 0)
		case "sent":
			if b.Sent, ok = d.number(key); ok {
				seen |= seenSent
			}
		case "origin":
			if b.Origin, ok = d.number(key); ok {
				seen |= seenOrigin
			}
		case "now":
			if b.Now, ok = d.number(key); ok {
				seen |= seenNow
			}
		case "nav":
			d.keep(key, fNav, 0)
		case "conn":
			d.keep(key, fConn, 0)
		case "variant":
			d.keep(key, fVariant, 0)
		case "webdriver":
			b.Webdriver = d.boolean(key)
		case "nt":
			b.HasNT = d.timing(&b.NT, key, false)
		case "nt1":
			b.HasNT1 = d.timing(&b.NT1, key, true)
		case "vitals":
			d.vitals(&b.Vitals)
		case "probes":
			d.probes(b)
		default:
			d.skip()
		}
		if d.err != nil {
			return
		}
	}
	d.leave()
	d.settle(b)
	b.HasOrigin = seen&seenOrigin != 0
	if d.serr == nil {
		d.check(b, seen)
	}
}

// check applies the schema rules that are about values rather than JSON types.
func (d *decoder) check(b *Beacon, seen int) {
	switch {
	case seen&seenV == 0:
		d.schema("v", "missing")
	case b.V != 1:
		d.schema("v", "unknown version")
	case !validID(b.ID):
		d.schema("id", "want 8 to 64 of [A-Za-z0-9_-]")
	case !d.checkURL(b):
		d.schema("url", "want an absolute http(s) URL or a path")
	case seen&seenSent == 0:
		d.schema("sent", "missing")
	case seen&seenNow == 0:
		d.schema("now", "missing")
	case !b.HasNT && !b.HasNT1:
		d.schema("nt", "missing (nor nt1)")
	case b.HasNT && seen&seenOrigin == 0:
		d.schema("origin", "missing")
	case !b.HasNT && b.NT1.Marks[NavigationStart] == 0:
		d.schema("nt1.navigationStart", "missing")
	case !checkNav(b):
		d.schema("nav", "want navigate, reload, back_forward, bfcache or prerender")
	}
	for i := range b.Probes {
		if b.Probes[i].Name == "" {
			d.ctx, d.ctxI = "probes", i
			d.schema("name", "missing")
			d.ctx, d.ctxI = "", -1
		}
	}
}

func validID(id string) bool {
	if len(id) < 8 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// checkURL accepts an absolute http(s) URL with a host, or a path, and drops its query
// string and fragment (DESIGN §2: they are never kept).
func (d *decoder) checkURL(b *Beacon) bool {
	u := b.URL
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	b.URL = u
	if strings.HasPrefix(u, "/") {
		return true
	}
	var rest string
	switch {
	case len(u) >= 8 && strings.EqualFold(u[:8], "https://"):
		rest = u[8:]
	case len(u) >= 7 && strings.EqualFold(u[:7], "http://"):
		rest = u[7:]
	default:
		return false
	}
	return rest != "" && rest[0] != '/'
}

// checkNav replaces b.Nav by its canonical constant, so a label never holds body memory.
func checkNav(b *Beacon) bool {
	switch b.Nav {
	case "", NavNavigate:
		b.Nav = NavNavigate
	case NavReload:
		b.Nav = NavReload
	case NavBackForward, "back-forward":
		b.Nav = NavBackForward
	case NavBFCache:
		b.Nav = NavBFCache
	case NavPrerender:
		b.Nav = NavPrerender
	default:
		return false
	}
	return true
}

func markOf(key string, level1 bool) (Mark, bool) {
	switch key {
	case "navigationStart":
		return NavigationStart, level1
	case "redirectStart":
		return RedirectStart, true
	case "redirectEnd":
		return RedirectEnd, true
	case "fetchStart":
		return FetchStart, true
	case "domainLookupStart":
		return DomainLookupStart, true
	case "domainLookupEnd":
		return DomainLookupEnd, true
	case "connectStart":
		return ConnectStart, true
	case "secureConnectionStart":
		return SecureConnectionStart, true
	case "connectEnd":
		return ConnectEnd, true
	case "requestStart":
		return RequestStart, true
	case "responseStart":
		return ResponseStart, true
	case "responseEnd":
		return ResponseEnd, true
	case "domInteractive":
		return DOMInteractive, true
	case "domContentLoadedEventEnd":
		return DOMContentLoadedEventEnd, true
	case "loadEventEnd":
		return LoadEventEnd, true
	case "activationStart":
		return ActivationStart, !level1
	}
	return 0, false
}

// timing reads an nt or nt1 object; it reports whether one was there.
func (d *decoder) timing(t *Timing, key string, level1 bool) bool {
	if !d.open(key) {
		return false
	}
	*t = Timing{}
	hop := fNTHop
	if level1 {
		hop = fNT1Hop
	}
	d.drop(hop, hop) // a repeated nt replaces the earlier one
	d.ctx = key
	first := true
	for {
		k, ok := d.next(&first)
		if !ok {
			break
		}
		if m, ok := markOf(k, level1); ok {
			t.Marks[m], _ = d.number(k)
		} else {
			switch k {
			case "transferSize":
				t.TransferSize, _ = d.number(k)
			case "nextHopProtocol":
				d.keep(k, hop, 0)
			default:
				d.skip()
			}
		}
		if d.err != nil {
			return false
		}
	}
	d.leave()
	d.ctx = ""
	return true
}

func (d *decoder) vitals(v *Vitals) {
	if !d.open("vitals") {
		return
	}
	*v = Vitals{}
	d.ctx = "vitals"
	first := true
	for {
		k, ok := d.next(&first)
		if !ok {
			break
		}
		var which Vital
		switch k {
		case "fcp":
			which = VitalFCP
		case "lcp":
			which = VitalLCP
		case "cls":
			which = VitalCLS
		case "inp":
			which = VitalINP
		default:
			d.skip()
			if d.err != nil {
				return
			}
			continue
		}
		if x, ok := d.number(k); ok {
			v.Set(which, x)
		}
		if d.err != nil {
			return
		}
	}
	d.leave()
	d.ctx = ""
}

func probeMarkOf(key string) (ProbeMark, bool) {
	switch key {
	case "startTime":
		return PStartTime, true
	case "fetchStart":
		return PFetchStart, true
	case "domainLookupStart":
		return PDomainLookupStart, true
	case "domainLookupEnd":
		return PDomainLookupEnd, true
	case "connectStart":
		return PConnectStart, true
	case "secureConnectionStart":
		return PSecureConnectionStart, true
	case "connectEnd":
		return PConnectEnd, true
	case "requestStart":
		return PRequestStart, true
	case "responseStart":
		return PResponseStart, true
	case "responseEnd":
		return PResponseEnd, true
	}
	return 0, false
}

func (d *decoder) probes(b *Beacon) {
	b.Probes = b.Probes[:0]
	d.drop(fProbeName, fProbeHop)
	switch d.s[d.i] {
	case '[':
	case 'n':
		d.lit("null")
		return
	default:
		d.schema("probes", "want an array")
		d.skip()
		return
	}
	if !d.enter() {
		return
	}
	d.i++
	first := true
	for d.elem(&first) {
		n := len(b.Probes)
		d.ctx, d.ctxI = "probes", n
		switch {
		case n == MaxProbes:
			d.schema("", "more than "+strconv.Itoa(MaxProbes)+" probes")
			d.skip()
		case d.s[d.i] != '{':
			d.schema("", "want an object")
			d.skip()
		default:
			if n < cap(b.Probes) {
				b.Probes = b.Probes[:n+1]
				b.Probes[n] = Probe{}
			} else {
				b.Probes = append(b.Probes, Probe{})
			}
			d.probe(&b.Probes[n], n)
		}
		if d.err != nil {
			return
		}
	}
	d.leave()
	d.ctx, d.ctxI = "", -1
}

func (d *decoder) probe(p *Probe, idx int) {
	if !d.enter() {
		return
	}
	d.i++
	first := true
	for {
		k, ok := d.next(&first)
		if !ok {
			break
		}
		if m, ok := probeMarkOf(k); ok {
			p.Marks[m], _ = d.number(k)
		} else {
			switch k {
			case "name":
				d.keep(k, fProbeName, idx)
			case "url":
				d.keep(k, fProbeURL, idx)
			case "transferSize":
				p.TransferSize, p.HasTransferSize = d.number(k)
			case "nextHopProtocol":
				d.keep(k, fProbeHop, idx)
			default:
				d.skip()
			}
		}
		if d.err != nil {
			return
		}
	}
	d.leave()
}
