package loadtest

import (
	"math"
	"math/rand/v2"
	"strconv"

	"rumd/internal/series"
)

// The navigation timing marks in wire order (docs/design.md §2).
const (
	mRedirectStart = iota
	mRedirectEnd
	mFetchStart
	mDomainLookupStart
	mDomainLookupEnd
	mConnectStart
	mSecureConnectionStart
	mConnectEnd
	mRequestStart
	mResponseStart
	mResponseEnd
	mDomInteractive
	mDCLEnd
	mLoadEventEnd
	mActivationStart
	numMarks
)

var markNames = [numMarks]string{
	"redirectStart", "redirectEnd", "fetchStart", "domainLookupStart", "domainLookupEnd",
	"connectStart", "secureConnectionStart", "connectEnd", "requestStart", "responseStart",
	"responseEnd", "domInteractive", "domContentLoadedEventEnd", "loadEventEnd",
	"activationStart",
}

// Beacon is one beacon-v1 as the generator builds it, before encoding.
type Beacon struct {
	URL       string
	Sent      float64
	Origin    float64
	Now       float64
	Nav       string
	Conn      string
	Variant   string
	Webdriver bool
	Marks     [numMarks]float64
	Transfer  int
	Protocol  string
	FCP, LCP  float64
	CLS, INP  float64
	HasINP    bool
}

// round1 keeps one decimal, as browsers' coarsened timers do; the value then survives the
// shortest float formatting and parsing exactly, so the server derives the same durations
// the generator computed.
func round1(v float64) float64 { return math.Round(v*10) / 10 }

// timeline fills b's marks, vitals and clocks for view v with realistic log-normal timings.
// wall is the client's Date.now() at send, in ms.
func timeline(r *rand.Rand, b *Beacon, v *View, wall float64) {
	ns, rs := v.netSlow, v.renderSlow
	m := &b.Marks
	*m = [numMarks]float64{}
	var act float64
	fetch := round1(0.5 + 4*r.Float64())
	if v.Nav == "prerender" {
		// Activated while the prerender was still being fetched: the rebased marks stay
		// positive, so rumd's durations are unambiguous.
		act = round1(0.1 + 0.8*fetch*r.Float64())
	}
	m[mActivationStart] = act
	m[mFetchStart] = fetch
	m[mDomainLookupStart] = round1(fetch + 0.1 + r.Float64())
	m[mDomainLookupEnd] = m[mDomainLookupStart] + clampMin(round1(logNormal(r, 18*ns, 0.9)), 0.1)
	m[mDomainLookupEnd] = round1(m[mDomainLookupEnd])
	m[mConnectStart] = m[mDomainLookupEnd]
	conn := clampMin(round1(logNormal(r, 45*ns, 0.7)), 0.4)
	m[mConnectEnd] = round1(m[mConnectStart] + conn)
	if r.Float64() < 0.95 { // the rest are plain http: no TLS
		m[mSecureConnectionStart] = round1(m[mConnectStart] + conn*(0.3+0.3*r.Float64()))
		if m[mSecureConnectionStart] <= m[mConnectStart] || m[mSecureConnectionStart] >= m[mConnectEnd] {
			m[mSecureConnectionStart] = 0
		}
	}
	m[mRequestStart] = round1(m[mConnectEnd] + 0.2 + 0.8*r.Float64())
	m[mResponseStart] = round1(m[mRequestStart] + clampMin(logNormal(r, 220*ns, 0.65), 1))
	m[mResponseEnd] = round1(m[mResponseStart] + clampMin(logNormal(r, 35*ns, 1.0), 0.2))
	m[mDomInteractive] = round1(m[mResponseEnd] + clampMin(logNormal(r, 420*rs, 0.6), 5))
	m[mDCLEnd] = round1(m[mDomInteractive] + clampMin(logNormal(r, 25*rs, 1.0), 0.5))
	m[mLoadEventEnd] = round1(m[mDCLEnd] + clampMin(logNormal(r, 550*rs, 0.8), 1))

	b.FCP = round1(m[mResponseEnd] - act + clampMin(logNormal(r, 650*rs, 0.5), 10))
	b.LCP = round1(b.FCP + clampMin(logNormal(r, 450*rs, 0.9), 0.1))
	b.CLS = math.Round(math.Min(clampMin(logNormal(r, 0.04, 1.3), 0.0001), 4)*10000) / 10000
	b.HasINP = r.Float64() < 0.7
	if b.HasINP {
		b.INP = float64(8 * int(clampMin(logNormal(r, 140*rs, 0.7), 8)/8)) // INP is a multiple of 8 ms
	}
	last := math.Max(m[mLoadEventEnd], b.LCP+act)
	if b.HasINP {
		last = math.Max(last, b.LCP+act+b.INP)
	}
	// Cap everything well inside rumd's 120 s ceiling: the tails are rare but real.
	if last > 90_000 {
		timeline(r, b, v, wall)
		return
	}
	b.Now = round1(last + logNormal(r, 8000, 1.0))
	b.Sent = math.Round(wall*10) / 10
	b.Origin = round1(b.Sent - b.Now + 0.05*r.NormFloat64())
	b.Transfer = 2000 + r.IntN(60000)
	b.Protocol = "h2"
	if r.Float64() < 0.3 {
		b.Protocol = "h3"
	}
}

func clampMin(v, lo float64) float64 {
	if v < lo {
		return lo
	}
	return v
}

// Values returns the page metrics rumd derives from b (docs/design.md §2), indexed by
// series.Metric, and which are present.
func (b *Beacon) Values() (vals [series.NumPageMetrics]float64, has uint16) {
	m := &b.Marks
	set := func(i series.Metric, v float64) { vals[i] = v; has |= 1 << i }
	act := m[mActivationStart]
	set(series.DNS, m[mDomainLookupEnd]-m[mDomainLookupStart])
	set(series.Connect, m[mConnectEnd]-m[mConnectStart])
	if m[mSecureConnectionStart] != 0 {
		set(series.TLS, m[mConnectEnd]-m[mSecureConnectionStart])
	}
	set(series.TTFB, m[mResponseStart]-act)
	set(series.Download, m[mResponseEnd]-m[mResponseStart])
	set(series.DOMInteractive, m[mDomInteractive]-act)
	set(series.DCL, m[mDCLEnd]-act)
	set(series.Load, m[mLoadEventEnd]-act)
	set(series.FCP, b.FCP)
	set(series.LCP, b.LCP)
	if b.HasINP {
		set(series.INP, b.INP)
	}
	set(series.CLS, b.CLS)
	return vals, has
}

// idLen is the length of the page-view id the encoder reserves; each send overwrites it so
// every beacon on the wire has its own id.
const idLen = 16

// AppendJSON appends b's wire form. It returns the offset of the id's first character.
func (b *Beacon) AppendJSON(dst []byte) ([]byte, int) {
	dst = append(dst, `{"v":1,"id":"`...)
	off := len(dst)
	dst = append(dst, "AAAAAAAAAAAAAAAA"...)
	dst = append(dst, `","url":`...)
	dst = strconv.AppendQuote(dst, b.URL)
	dst = append(dst, `,"sent":`...)
	dst = appendNum(dst, b.Sent)
	dst = append(dst, `,"origin":`...)
	dst = appendNum(dst, b.Origin)
	dst = append(dst, `,"now":`...)
	dst = appendNum(dst, b.Now)
	dst = append(dst, `,"nav":"`...)
	dst = append(dst, b.Nav...)
	dst = append(dst, '"')
	if b.Conn != "" {
		dst = append(dst, `,"conn":"`...)
		dst = append(dst, b.Conn...)
		dst = append(dst, '"')
	}
	if b.Variant != "" {
		dst = append(dst, `,"variant":"`...)
		dst = append(dst, b.Variant...)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"webdriver":`...)
	dst = strconv.AppendBool(dst, b.Webdriver)
	dst = append(dst, `,"nt":{`...)
	for i, v := range b.Marks {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, markNames[i]...)
		dst = append(dst, `":`...)
		dst = appendNum(dst, v)
	}
	dst = append(dst, `,"transferSize":`...)
	dst = strconv.AppendInt(dst, int64(b.Transfer), 10)
	dst = append(dst, `,"nextHopProtocol":"`...)
	dst = append(dst, b.Protocol...)
	dst = append(dst, `"},"vitals":{"fcp":`...)
	dst = appendNum(dst, b.FCP)
	dst = append(dst, `,"lcp":`...)
	dst = appendNum(dst, b.LCP)
	dst = append(dst, `,"cls":`...)
	dst = appendNum(dst, b.CLS)
	if b.HasINP {
		dst = append(dst, `,"inp":`...)
		dst = appendNum(dst, b.INP)
	}
	dst = append(dst, `}}`...)
	return dst, off
}

func appendNum(dst []byte, v float64) []byte {
	return strconv.AppendFloat(dst, v, 'f', -1, 64)
}

// idAlphabet is the page-view id alphabet of docs/design.md §2.
const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// putID writes a 16-character id for send number seq of run run into dst.
func putID(dst []byte, run uint32, seq uint64) {
	_ = dst[idLen-1]
	for i := 0; i < 5; i++ {
		dst[i] = idAlphabet[run&63]
		run >>= 6
	}
	for i := 5; i < idLen; i++ {
		dst[i] = idAlphabet[seq&63]
		seq >>= 6
	}
}
