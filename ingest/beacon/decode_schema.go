package beacon

import (
	"strconv"
	"strings"
)

// This file holds the v1 schema side of the decoder: which members a beacon has, where
// their values go, and the rules on values that make a beacon malformed.

// A fixup places a string read from the body into a field of the current beacon, once the
// beacon's probes have their final places.
type fixup struct {
	field field
	probe uint8
	v     string
}

// field names a string field of a beacon.
type field uint8

const (
	fID field = iota
	fURL
	fNav
	fConn
	fVariant
	fPage
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
	d.sc.fix = append(d.sc.fix, fixup{field: f, probe: uint8(probe), v: v})
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

// settle points b's string fields at the kept strings: views of the body (or, for a string
// with escapes, its own decoded copy). Nothing is copied: see Beacon.
func (d *decoder) settle(b *Beacon) {
	for _, x := range d.sc.fix {
		v := x.v
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
		case fPage:
			b.Page = v
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
	d.sc.fix = d.sc.fix[:0]
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
	d.sc.fix = d.sc.fix[:0]
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
		case "page":
			d.keep(key, fPage, 0)
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

// checkURL accepts the page URL as PageURL does.
func (d *decoder) checkURL(b *Beacon) bool {
	var ok bool
	b.URL, ok = PageURL(b.URL)
	return ok
}

// PageURL drops the query string and fragment of a beacon's page URL (docs/design.md §2: they are
// never kept), and reports whether what is left is an absolute http(s) URL with a host, or a
// path. Every beacon format reads its page URL through it.
func PageURL(u string) (string, bool) {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if strings.HasPrefix(u, "/") {
		return u, true
	}
	var rest string
	switch {
	case len(u) >= 8 && strings.EqualFold(u[:8], "https://"):
		rest = u[8:]
	case len(u) >= 7 && strings.EqualFold(u[:7], "http://"):
		rest = u[7:]
	default:
		return u, false
	}
	return u, rest != "" && rest[0] != '/'
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
			case "decodedBodySize":
				p.DecodedBodySize, _ = d.number(k)
			case "deliveryType":
				s, _ := d.string(k)
				p.DeliveryCache = s == "cache"
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
