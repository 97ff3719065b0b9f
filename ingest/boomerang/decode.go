package boomerang

import (
	"bytes"
	"fmt"
	"math"
	"strconv"

	"rumd/ingest/beacon"
)

// Beacon is one decoded boomerang beacon.
type Beacon struct {
	// B is the beacon in rumd's own form, for the kinds that count (PageLoad, Unload): the
	// page URL, the variant, the navigation marks in ms after navigation start (NT), the
	// transfer size and the vitals; what rumd does not aggregate (the page-view id, the
	// protocol) is not read. Its strings are copies: they never point into the request.
	B    beacon.Beacon
	Kind Kind
	// NavStart is the epoch ms of the navigation start (nt_nav_st, or rt.tstart without
	// NavigationTiming); 0 when the beacon has neither.
	NavStart float64
	// End is rt.end: the epoch ms at which the load ended (NavigationTiming's loadEventEnd).
	End float64
	// BStart is rt.bstart, the Date.now() at which boomerang started; valid when HasBStart.
	BStart    float64
	HasBStart bool
	// NTBad is nt_bad: boomerang found the NavigationTiming marks untrustworthy.
	NTBad bool
}

// pid names a parameter Decode reads.
type pid uint8

const (
	pU pid = iota
	pNavSt
	pRedSt
	pRedEnd
	pFetSt
	pDNSSt
	pDNSEnd
	pConSt
	pSSLSt
	pConEnd
	pReqSt
	pResSt
	pResEnd
	pDomInt
	pDCLEnd
	pLoadEnd
	pActSt
	pNavType
	pTrnSize
	pBad
	pFCP
	pLCP
	pCLS
	pINP
	pTResp
	pEnd
	pBStart
	pTStart
	pQuit
	pNTVU
	pEarly
	pInitiator
	pVariant // the configured variant parameter
	numParams
)

// params are boomerang's parameter names (doc comments of its plugins) and the mark of the
// navigation ones.
var params = [...]struct {
	name string
	id   pid
	mark beacon.Mark
}{
	{"u", pU, 0},
	{"nt_nav_st", pNavSt, beacon.NavigationStart},
	{"nt_red_st", pRedSt, beacon.RedirectStart},
	{"nt_red_end", pRedEnd, beacon.RedirectEnd},
	{"nt_fet_st", pFetSt, beacon.FetchStart},
	{"nt_dns_st", pDNSSt, beacon.DomainLookupStart},
	{"nt_dns_end", pDNSEnd, beacon.DomainLookupEnd},
	{"nt_con_st", pConSt, beacon.ConnectStart},
	{"nt_ssl_st", pSSLSt, beacon.SecureConnectionStart},
	{"nt_con_end", pConEnd, beacon.ConnectEnd},
	{"nt_req_st", pReqSt, beacon.RequestStart},
	{"nt_res_st", pResSt, beacon.ResponseStart},
	{"nt_res_end", pResEnd, beacon.ResponseEnd},
	{"nt_domint", pDomInt, beacon.DOMInteractive},
	{"nt_domcontloaded_end", pDCLEnd, beacon.DOMContentLoadedEventEnd},
	{"nt_load_end", pLoadEnd, beacon.LoadEventEnd},
	{"nt_act_st", pActSt, beacon.ActivationStart},
	{"nt_nav_type", pNavType, 0},
	{"nt_trn_size", pTrnSize, 0},
	{"nt_bad", pBad, 0},
	{"pt.fcp", pFCP, 0},
	{"pt.lcp", pLCP, 0},
	{"c.cls", pCLS, 0},
	{"et.inp", pINP, 0},
	{"t_resp", pTResp, 0},
	{"rt.end", pEnd, 0},
	{"rt.bstart", pBStart, 0},
	{"rt.tstart", pTStart, 0},
	{"rt.quit", pQuit, 0},
	{"rt.ntvu", pNTVU, 0},
	{"early", pEarly, 0},
	{"http.initiator", pInitiator, 0},
}

// byHash lists the parameters Decode reads by a cheap hash of their names (length, first,
// middle and last bytes). A beacon carries dozens of parameters, most of which rumd skips:
// comparing a name with the one or two candidates of its hash is several times cheaper than
// hashing all of it for a map, and boomerang's many same-length names (nt_dns_st,
// nt_con_st, ...) land in different buckets.
var byHash = func() (t [256][]pid) {
	for _, p := range params {
		h := nameHash([]byte(p.name))
		t[h] = append(t[h], p.id)
	}
	return t
}()

func nameHash(key []byte) uint8 {
	n := len(key)
	if n == 0 {
		return 0
	}
	h := uint32(n)*31 + uint32(key[0])*7 + uint32(key[n/2])*3 + uint32(key[n-1])
	if n >= 4 {
		h += uint32(key[n-4]) * 11
	}
	return uint8(h ^ h>>8)
}

// lookup finds the parameter named key.
func lookup(key []byte) (pid, bool) {
	for _, id := range byHash[nameHash(key)] {
		if params[id].name == string(key) {
			return id, true
		}
	}
	return 0, false
}

// Error is a beacon that cannot be read: a parameter boomerang always sends is missing, or a
// value is not of its type. It means the reason beacon.Malformed.
type Error struct {
	Param string // the parameter at fault
	Msg   string
}

func (e *Error) Error() string { return e.Param + ": " + e.Msg }

// form holds the raw values of the parameters Decode reads; the last occurrence wins, and
// the body comes after the query string.
type form struct {
	vals [numParams][]byte
	has  uint64 // bit i: parameter i was present, even with an empty value
}

func (f *form) present(p pid) bool { return f.has&(1<<p) != 0 }

// scan splits s at '&' and keeps the values of the parameters Decode reads. Names are matched
// as sent and, when they hold an escape, decoded; unknown parameters are skipped unread.
func (f *form) scan(s []byte, variant string) {
	for len(s) > 0 {
		var pair []byte
		if i := bytes.IndexByte(s, '&'); i >= 0 {
			pair, s = s[:i], s[i+1:]
		} else {
			pair, s = s, nil
		}
		if len(pair) == 0 {
			continue
		}
		key, val := pair, []byte(nil)
		if i := bytes.IndexByte(pair, '='); i >= 0 {
			key, val = pair[:i], pair[i+1:]
		}
		if escaped(key) {
			k, ok := unescape(nil, key)
			if !ok {
				continue // a name that is not even form-encoded is none of ours
			}
			key = k
		}
		id, ok := lookup(key)
		if !ok {
			if variant == "" || string(key) != variant {
				continue
			}
			id = pVariant
		}
		f.vals[id] = val
		f.has |= 1 << id
	}
}

// escaped reports whether a form value needs decoding.
func escaped(v []byte) bool {
	return bytes.IndexByte(v, '%') >= 0 || bytes.IndexByte(v, '+') >= 0
}

// str returns parameter p as a string of its own (never a view of the request).
func (f *form) str(p pid) (string, error) {
	v := f.vals[p]
	if !escaped(v) {
		return string(v), nil
	}
	var buf [256]byte
	d, ok := unescape(buf[:0], v)
	if !ok {
		return "", &Error{Param: paramName(p), Msg: "bad %-escape"}
	}
	return string(d), nil
}

// unescape appends form-decoded v to dst ('+' is a space, %XX a byte), as
// url.QueryUnescape does but into the caller's buffer, so a decoded value costs one
// allocation (its string) instead of three. ok is false on a malformed escape.
func unescape(dst, v []byte) ([]byte, bool) {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '+':
			dst = append(dst, ' ')
		case '%':
			if i+2 >= len(v) {
				return dst, false
			}
			hi, ok1 := unhex(v[i+1])
			lo, ok2 := unhex(v[i+2])
			if !ok1 || !ok2 {
				return dst, false
			}
			dst = append(dst, hi<<4|lo)
			i += 2
		default:
			dst = append(dst, c)
		}
	}
	return dst, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// num returns parameter p as a number; ok is false when it was not sent or is empty.
func (f *form) num(p pid) (x float64, ok bool, err error) {
	v := f.vals[p]
	if len(v) == 0 {
		return 0, false, nil
	}
	if x, ok := integer(v); ok {
		return x, true, nil
	}
	var perr error
	if escaped(v) {
		var buf [64]byte
		if d, ok := unescape(buf[:0], v); ok {
			x, perr = strconv.ParseFloat(string(d), 64)
		} else {
			perr = strconv.ErrSyntax
		}
	} else {
		x, perr = strconv.ParseFloat(string(v), 64)
	}
	if perr != nil && !isRange(perr) {
		return 0, false, &Error{Param: paramName(p), Msg: fmt.Sprintf("%.32q is not a number", v)}
	}
	// A number too large for a float64 is ±Inf, which validation refuses as out_of_range.
	return x, true, nil
}

// integer reads v when it is a plain decimal integer of up to 15 digits, optionally
// negative, which every float64 holds exactly: most of boomerang's values (epoch and
// relative ms, sizes) are, and reading them needs none of ParseFloat's generality.
func integer(v []byte) (float64, bool) {
	neg := len(v) > 0 && v[0] == '-'
	if neg {
		v = v[1:]
	}
	if len(v) == 0 || len(v) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		return -float64(n), true
	}
	return float64(n), true
}

func isRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func paramName(p pid) string {
	if p == pVariant {
		return "variant"
	}
	return params[p].name
}

// NavUnknown is the nav label of the INP of an unload beacon: boomerang sends the navigation
// type only on the page-load beacon, and rumd does not guess it.
const NavUnknown = "unknown"

// markSlack is the rounding boomerang's marks may carry past rt.end: it floors every
// navigationStart + mark to a whole ms, while rt.end is the browser's own whole-ms
// loadEventEnd.
const markSlack = 1

// Decode reads one boomerang beacon from its query string and form body (either may be
// empty; a parameter in both takes the body's value) into dst, which it clears first. The
// ignored kinds are only classified: dst.B is then left empty. A beacon that counts but
// cannot be read returns an *Error (reason malformed). A nil o means DefaultOptions.
func Decode(query, body []byte, o *Options, dst *Beacon) error {
	if o == nil {
		def := DefaultOptions()
		o = &def
	}
	dst.B.Reset()
	*dst = Beacon{B: dst.B}
	var f form
	f.scan(query, o.VariantParam)
	f.scan(body, o.VariantParam)

	switch {
	case len(f.vals[pInitiator]) > 0:
		s, err := f.str(pInitiator)
		if err != nil {
			return err
		}
		dst.Kind = initiatorKind(s)
		return nil
	case f.present(pEarly):
		dst.Kind = Early
		return nil
	case f.present(pNTVU):
		dst.Kind = NeverVisible
		return nil
	case f.present(pQuit):
		if len(f.vals[pINP]) == 0 {
			dst.Kind = UnloadWithoutINP
			return nil
		}
		dst.Kind = Unload
	default:
		dst.Kind = PageLoad
	}
	return dst.fill(&f)
}

// fill decodes what a beacon that counts contributes.
func (dst *Beacon) fill(f *form) error {
	b := &dst.B
	b.V = 1
	if !f.present(pU) {
		return &Error{Param: "u", Msg: "missing: not a beacon of boomerang's RT plugin"}
	}
	u, err := f.str(pU)
	if err != nil {
		return err
	}
	var ok bool
	if b.URL, ok = beacon.PageURL(u); !ok {
		return &Error{Param: "u", Msg: "want an absolute http(s) URL or a path"}
	}
	if f.present(pVariant) {
		if b.Variant, err = f.str(pVariant); err != nil {
			return err
		}
	}
	end, ok, err := f.num(pEnd)
	if err != nil {
		return err
	}
	if !ok {
		return &Error{Param: "rt.end", Msg: "missing: not a beacon of boomerang's RT plugin"}
	}
	dst.End = end
	if dst.BStart, dst.HasBStart, err = f.num(pBStart); err != nil {
		return err
	}
	tstart, _, err := f.num(pTStart)
	if err != nil {
		return err
	}
	nav, _, err := f.num(pNavSt)
	if err != nil {
		return err
	}
	dst.NavStart = nav
	if nav == 0 {
		dst.NavStart = tstart
	}
	b.Sent = end

	if dst.Kind == Unload {
		// The unload beacon repeats the load's timers; only its INP is new. It does not say
		// how the page was reached.
		inp, _, err := f.num(pINP)
		if err != nil {
			return err
		}
		b.Vitals.Set(beacon.VitalINP, inp)
		b.Nav = NavUnknown
		b.Origin, b.HasOrigin = dst.NavStart, dst.NavStart != 0
		return nil
	}

	if nav != 0 {
		if err := dst.marks(f, nav); err != nil {
			return err
		}
	} else {
		// Without NavigationTiming, RT measures t_resp from rt.tstart.
		ttfb, ok, err := f.num(pTResp)
		if err != nil {
			return err
		}
		if !ok || tstart == 0 {
			return &Error{Param: "nt_nav_st", Msg: "missing, and no t_resp with rt.tstart either: the beacon has no navigation timing"}
		}
		b.NT.Marks[beacon.ResponseStart] = ttfb
		b.HasNT = true
	}
	for _, v := range [...]struct {
		p pid
		v beacon.Vital
	}{{pFCP, beacon.VitalFCP}, {pLCP, beacon.VitalLCP}, {pCLS, beacon.VitalCLS}} {
		x, ok, err := f.num(v.p)
		if err != nil {
			return err
		}
		if ok {
			b.Vitals.Set(v.v, x)
		}
	}
	// boomerang sends no performance.now() at send. Now is what the marks are judged against
	// (future_mark): the end of the load, or a paint reported after it. Origin is set so that
	// Origin + Now = Sent, which leaves beacon.Validate's clock-jump rule nothing to find;
	// CheckClock judges boomerang's own Date.now() sample, rt.bstart, instead.
	now := end - dst.NavStart + markSlack
	for _, v := range [...]beacon.Vital{beacon.VitalFCP, beacon.VitalLCP} {
		if x, ok := b.Vitals.Get(v); ok && x > now {
			now = x
		}
	}
	b.Now = now
	b.Origin, b.HasOrigin = end-now, true
	dst.NTBad = f.present(pBad) && string(f.vals[pBad]) != "0"
	return nil
}

// marks converts the nt_* epoch marks to ms after nt_nav_st. boomerang omits a mark that is
// 0 and sends nt_fet_st, nt_dns_* and nt_con_* as nt_nav_st itself when they are 0: both
// stay absent. A mark before nt_nav_st becomes negative, which validation refuses.
func (dst *Beacon) marks(f *form, nav float64) error {
	b := &dst.B
	b.HasNT = true
	for p := pRedSt; p <= pActSt; p++ {
		x, ok, err := f.num(p)
		if err != nil {
			return err
		}
		if ok && x != 0 && x != nav {
			b.NT.Marks[params[p].mark] = x - nav
		}
	}
	size, _, err := f.num(pTrnSize)
	if err != nil {
		return err
	}
	b.NT.TransferSize = size
	t, ok, err := f.num(pNavType)
	if err != nil {
		return err
	}
	switch {
	case b.NT.Marks[beacon.ActivationStart] > 0:
		b.Nav = beacon.NavPrerender
	case ok && t == 1:
		b.Nav = beacon.NavReload
	case ok && t == 2:
		b.Nav = beacon.NavBackForward
	default: // 0, or 255 (reserved)
		b.Nav = beacon.NavNavigate
	}
	return nil
}

// finite reports whether x is neither NaN nor ±Inf.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
