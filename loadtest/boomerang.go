package loadtest

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"rumd/internal/series"
)

// The beacon formats the generator speaks, named as in rumd's format registry
// (ingest.Formats; loadtest cannot import ingest, whose tests use the generator, so
// TestFormatsFromTheRegistry holds the names to it).
const (
	FormatV1        = "v1"
	FormatBoomerang = "boomerang"
)

// Formats are the formats the generator speaks.
func Formats() []string { return []string{FormatV1, FormatBoomerang} }

// boomerangGetShare is the share of good page loads sent as an image GET, as boomerang does
// when told beacon_type GET (or a browser has no sendBeacon).
const boomerangGetShare = 0.2

// formContentType is what sendBeacon with boomerang's Blob, and its XHR fallback, send.
const formContentType = "application/x-www-form-urlencoded"

// toBoomerang makes b what boomerang would measure of the same load: it floors every mark to
// a whole ms after navigationStart (a mark that would round to navigationStart itself is
// sent as 1 ms, since boomerang drops a mark equal to it), FCP and LCP likewise, and CLS to 3
// decimals. b.Values then gives what rumd derives from the boomerang form.
func toBoomerang(b *Beacon) {
	ms := func(x float64) float64 {
		if x == 0 {
			return 0
		}
		return max(1, math.Floor(x))
	}
	for i := range b.Marks {
		b.Marks[i] = ms(b.Marks[i])
	}
	b.FCP, b.LCP = ms(b.FCP), ms(b.LCP)
	b.CLS = math.Round(b.CLS*1000) / 1000
}

// boomerangMarks are boomerang's nt_* names of the generator's marks, in its order.
var boomerangMarks = [numMarks]string{
	"nt_red_st", "nt_red_end", "nt_fet_st", "nt_dns_st", "nt_dns_end", "nt_con_st",
	"nt_ssl_st", "nt_con_end", "nt_req_st", "nt_res_st", "nt_res_end", "nt_domint",
	"nt_domcontloaded_end", "nt_load_end", "nt_act_st",
}

// boomerangClock is the epoch-ms timestamps of a boomerang page load: nt_nav_st, rt.bstart
// (boomerang's own Date.now() as it started) and rt.end (the end of the load).
type boomerangClock struct {
	nav, bstart, end float64
}

func clockOf(b *Beacon) boomerangClock {
	nav := math.Round(b.Origin)
	return boomerangClock{
		nav:    nav,
		bstart: nav + math.Floor(b.Marks[mResponseEnd]) + 1,
		end:    nav + b.Marks[mLoadEventEnd],
	}
}

// appendParam appends &name=value, value escaped as a form value.
func appendParam(dst []byte, name, value string) []byte {
	if len(dst) > 0 {
		dst = append(dst, '&')
	}
	dst = append(dst, name...)
	dst = append(dst, '=')
	return appendEscaped(dst, value)
}

func appendNumParam(dst []byte, name string, v float64) []byte {
	if len(dst) > 0 {
		dst = append(dst, '&')
	}
	dst = append(dst, name...)
	dst = append(dst, '=')
	return strconv.AppendFloat(dst, v, 'f', -1, 64)
}

// appendEscaped escapes s as encodeURIComponent does.
func appendEscaped(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '!', c == '~', c == '*', c == '\'', c == '(', c == ')':
			dst = append(dst, c)
		default:
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		}
	}
	return dst
}

// appendBoomerangHead appends the parameters every counted beacon has: the page-view id
// (pid, overwritten per send: its offset is returned), the variant and the page.
func appendBoomerangHead(dst []byte, b *Beacon) ([]byte, int) {
	dst = append(dst, "pid="...)
	off := len(dst)
	dst = append(dst, "AAAAAAAAAAAAAAAA"...)
	if b.Variant != "" {
		dst = appendParam(dst, "variant", b.Variant)
	}
	dst = appendParam(dst, "u", b.URL)
	return dst, off
}

// AppendBoomerangLoad appends b as boomerang's page-load beacon (without INP: boomerang
// sends that on the unload beacon) and returns the offset of its id.
func (b *Beacon) AppendBoomerangLoad(dst []byte, c boomerangClock) ([]byte, int) {
	dst, off := appendBoomerangHead(dst, b)
	dst = appendParam(dst, "rt.start", "navigation")
	dst = appendNumParam(dst, "rt.tstart", c.nav)
	dst = appendNumParam(dst, "rt.bstart", c.bstart)
	dst = appendNumParam(dst, "rt.end", c.end)
	if b.Marks[mResponseStart] != 0 {
		dst = appendNumParam(dst, "t_resp", b.Marks[mResponseStart]-b.Marks[mActivationStart])
	}
	dst = appendNumParam(dst, "t_done", b.Marks[mLoadEventEnd])
	dst = appendNumParam(dst, "pt.fcp", b.FCP)
	dst = appendNumParam(dst, "pt.lcp", b.LCP)
	dst = appendNumParam(dst, "nt_nav_st", c.nav)
	for i, name := range boomerangMarks {
		if b.Marks[i] != 0 {
			dst = appendNumParam(dst, name, c.nav+b.Marks[i])
		}
	}
	dst = appendNumParam(dst, "nt_trn_size", float64(b.Transfer))
	dst = appendParam(dst, "nt_protocol", b.Protocol)
	navType := "0"
	switch b.Nav {
	case "reload":
		navType = "1"
	case "back_forward":
		navType = "2"
	}
	dst = appendParam(dst, "nt_nav_type", navType)
	dst = appendNumParam(dst, "c.cls", b.CLS)
	dst = appendParam(dst, "v", "1.815.1")
	return appendParam(dst, "sb", "1"), off
}

// AppendBoomerangUnload appends b's unload beacon, which repeats the load's timers and adds
// et.inp, and returns the offset of its id.
func (b *Beacon) AppendBoomerangUnload(dst []byte, c boomerangClock) ([]byte, int) {
	dst, off := appendBoomerangHead(dst, b)
	dst = appendNumParam(dst, "rt.tstart", c.nav)
	dst = appendNumParam(dst, "rt.bstart", c.bstart)
	dst = appendNumParam(dst, "rt.end", c.end)
	dst = appendNumParam(dst, "t_done", b.Marks[mLoadEventEnd])
	dst = appendParam(dst, "rt.quit", "")
	dst = appendNumParam(dst, "et.inp", b.INP)
	dst = appendNumParam(dst, "c.cls", 0)
	return appendParam(dst, "sb", "1"), off
}

// BuildBoomerangPool makes n boomerang beacons from the default population, as BuildPool does
// for v1: page loads (a share as image GETs), each followed when it had an interaction by its
// unload beacon carrying the INP, and a share bad of them spoilt over reasons.
func BuildBoomerangPool(n int, bad float64, reasons []string, seed int64, now time.Time) (*Pool, error) {
	g, err := newPoolGen(n, bad, reasons, seed, now)
	if err != nil {
		return nil, err
	}
	r, wall, reasons := g.r, g.wall, g.reasons
	p := &Pool{Items: make([]Item, n), Reasons: reasons, ContentType: formContentType}
	buf := make([]byte, 0, 1<<20)
	for i := 0; i < n; i++ {
		v := g.pop.Draw(r, g.z)
		var b Beacon
		b.URL, b.Nav, b.Conn, b.Variant = v.URL, v.Nav, v.Conn, v.Variant
		skew := 0.0
		if r.Float64() < 0.2 { // small client clock offsets are accepted
			skew = 120_000 * (2*r.Float64() - 1)
		}
		k, isBad := g.badAt(i)
		it := &p.Items[i]
		if isBad {
			it.Reason = reasons[k%len(reasons)]
			v.Nav, b.Nav = "navigate", "navigate"
		}
		timeline(r, &b, &v, wall+skew)
		toBoomerang(&b)
		c := clockOf(&b)
		it.UA, it.IP = v.UA, v.IP
		it.Page, it.Country, it.Device, it.Nav, it.Variant = v.Group, v.Country, v.Device, v.Nav, v.Variant
		var body []byte
		var off int
		if isBad {
			body, off, it.UA = spoilBoomerang(r, &b, &v, c, it.Reason, k/len(reasons), buf[:0])
		} else {
			body, off = b.AppendBoomerangLoad(buf[:0], c)
			it.Get = r.Float64() < boomerangGetShare
			inp, hasINP := b.INP, b.HasINP
			b.HasINP = false
			it.Values, it.Has = b.Values()
			if _, nextBad := g.badAt(i + 1); hasINP && i+1 < n && !nextBad {
				// The unload beacon of the same page view comes next in the cycle.
				i++
				un := &p.Items[i]
				*un = *it
				un.Get = false
				un.Nav = "unknown" // the unload beacon does not say how the page was reached
				b.INP, b.HasINP = inp, true
				ub, uoff := b.AppendBoomerangUnload(buf[len(body):len(body)], c)
				un.Body, un.IDOff = append([]byte(nil), ub...), uoff
				un.Values, un.Has = [series.NumPageMetrics]float64{}, 1<<series.INP
				un.Values[series.INP] = inp
			}
		}
		it.Body, it.IDOff = append([]byte(nil), body...), off
		if off+idLen > len(body) {
			it.IDOff = -1
		}
	}
	return p, nil
}

// spoilBoomerang encodes the page load b of view v so that rumd must refuse it for reason,
// one defect per beacon, as spoil does for v1. It returns the body, the id offset (-1 when
// there is none) and the user agent to send.
func spoilBoomerang(r *rand.Rand, b *Beacon, v *View, c boomerangClock, reason string, variant int, dst []byte) ([]byte, int, string) {
	ua := v.UA
	m := &b.Marks
	switch reason {
	case "malformed":
		body, off := b.AppendBoomerangLoad(dst, c)
		if variant%2 == 0 { // a mark that is not a number
			return append(body, "&nt_res_end=soon"...), off, ua
		}
		return append(body[:off-len("pid=")], "rt.end=1"...), -1, ua // cut before u
	case "too_large":
		pad := make([]byte, maxBody+4096)
		for i := range pad {
			pad[i] = 'a' + byte(i%26)
		}
		body, off := b.AppendBoomerangLoad(dst, c)
		return append(append(body, "&pad="...), pad...), off, ua
	case "non_monotonic":
		// The response "started" before the request.
		m[mResponseStart] = m[mConnectEnd] + 1
		if m[mResponseStart] >= m[mRequestStart] {
			m[mRequestStart] = m[mResponseStart] + 1
			m[mResponseStart] = m[mConnectEnd] + 1
		}
		if m[mResponseStart] > m[mResponseEnd] {
			m[mResponseEnd] = m[mResponseStart]
		}
	case "negative":
		// An unload beacon whose only metric, INP, is below zero: a negative mark of a page
		// load only drops the metrics that use it (docs/design.md, "Rejection rules"), so
		// this is the boomerang beacon a negative value refuses whole.
		b.INP = -float64(8 * (1 + r.IntN(20)))
		body, off := b.AppendBoomerangUnload(dst, c)
		return body, off, ua
	case "future_mark":
		// responseEnd a day ahead of the load's end: boomerang's third nt_bad condition.
		body, off := b.AppendBoomerangLoad(dst, c)
		return appendNumParam(body, "nt_res_end", c.end+86_400_000+float64(r.IntN(3_600_000))), off, ua
	case "clock_jump":
		// The wall clock was stepped by minutes between navigation and boomerang's start.
		step := 60_000 + math.Floor(540_000*r.Float64())
		if variant%2 == 1 {
			step = -step
		}
		c.bstart += step
	case "clock_skew":
		// A client clock a day and more off, consistent with itself.
		skew := math.Floor((30 + 200*r.Float64()) * 3600_000)
		if variant%2 == 1 {
			skew = -skew
		}
		c.nav, c.bstart, c.end = c.nav+skew, c.bstart+skew, c.end+skew
	case "out_of_range":
		// Not a number at all: a finite value above a ceiling only drops that metric.
		if variant%2 == 0 {
			b.CLS = math.NaN()
		} else {
			b.LCP = math.NaN()
		}
	case "concealed":
		// Every timing hidden (a cross-origin redirect without Timing-Allow-Origin zeroes
		// responseStart) and no vitals: nothing is left to count. A page load that only
		// lost responseStart keeps its other metrics.
		for i := range m {
			if i != mResponseEnd {
				m[i] = 0
			}
		}
		body, off := b.AppendBoomerangLoad(dst, c)
		for _, vital := range []string{"&pt.fcp=", "&pt.lcp=", "&c.cls="} {
			if i := bytes.Index(body, []byte(vital)); i >= 0 {
				j := i + 1 + bytes.IndexByte(body[i+1:], '&')
				body = append(body[:i], body[j:]...)
			}
		}
		return body, off, ua
	case "bot":
		ua = BotUAs[r.IntN(len(BotUAs))]
	}
	body, off := b.AppendBoomerangLoad(dst, c)
	return body, off, ua
}
