package loadtest

import (
	"fmt"
	"math/rand/v2"
	"time"

	"rumd/internal/series"
)

// Item is one pre-encoded beacon: what goes on the wire and what rumd should make of it.
type Item struct {
	Body   []byte
	IDOff  int    // offset of the id to overwrite per send; -1 for none
	UA     string // User-Agent header
	IP     string // X-Forwarded-For header
	Reason string // the rejection reason it is meant to get; "" for a good beacon
	// Get sends Body as the query string of a GET (boomerang's image beacon), not as a POST.
	Get bool

	// Labels and values rumd should record for a good beacon.
	Page, Country, Device, Nav, Variant string
	Values                              [series.NumPageMetrics]float64 // by series.Metric
	Has                                 uint16
}

// Pool is the set of distinct beacons a run cycles through. Encoding happens once, before
// the clock starts, so the sender only copies bytes and overwrites an id.
type Pool struct {
	Items []Item
	// Reasons lists the reasons bad items were made for, in the order they rotate.
	Reasons []string
	// ContentType is the Content-Type of the POSTs; "" is v1's text/plain.
	ContentType string
}

// poolGen is what building a pool of n beacons starts from, whatever their format.
type poolGen struct {
	n       int
	nBad    int
	reasons []string
	pop     *Population
	r       *rand.Rand
	z       *rand.Zipf
	wall    float64 // the client wall clock, epoch ms
}

func newPoolGen(n int, bad float64, reasons []string, seed int64, now time.Time) (*poolGen, error) {
	if len(reasons) == 0 {
		reasons = BadReasons
	}
	for _, rs := range reasons {
		if !isBadReason(rs) {
			return nil, fmt.Errorf("unknown reason %q", rs)
		}
	}
	pop, err := NewPopulation(max(n, 1000) * 4)
	if err != nil {
		return nil, err
	}
	r := newRand(seed)
	return &poolGen{n: n, nBad: int(float64(n)*bad + 0.5), reasons: reasons, pop: pop, r: r,
		z: pop.NewZipf(r), wall: float64(now.UnixMilli())}, nil
}

// badAt reports whether item i is bad, and which bad one it is. Bad items are placed at a
// fixed stride, so any prefix of the cycle holds close to the intended share, and a run of
// any length sends every reason.
func (g *poolGen) badAt(i int) (int, bool) {
	if g.nBad == 0 || i >= g.n {
		return 0, false
	}
	// Item i is the k-th bad one when floor(i*nBad/n) steps up at i.
	k := i * g.nBad / g.n
	return k, (i+1)*g.nBad/g.n > k
}

// BuildPool makes n beacons from the default population: a share bad of them spoilt, spread
// evenly over reasons (all of BadReasons when empty). now is the client wall clock.
func BuildPool(n int, bad float64, reasons []string, seed int64, now time.Time) (*Pool, error) {
	g, err := newPoolGen(n, bad, reasons, seed, now)
	if err != nil {
		return nil, err
	}
	pop, r, z, wall, badAt := g.pop, g.r, g.z, g.wall, g.badAt
	p := &Pool{Items: make([]Item, n), Reasons: g.reasons}
	reasons = g.reasons
	buf := make([]byte, 0, 1<<20)
	for i := range p.Items {
		v := pop.Draw(r, z)
		var b Beacon
		b.URL, b.Nav, b.Conn, b.Variant = v.URL, v.Nav, v.Conn, v.Variant
		skew := 0.0
		if r.Float64() < 0.2 { // small client clock offsets are accepted (docs/design.md §3)
			skew = 120_000 * (2*r.Float64() - 1)
		}
		it := &p.Items[i]
		k, isBad := badAt(i)
		if isBad {
			it.Reason = reasons[k%len(reasons)]
			v.Nav, b.Nav = "navigate", "navigate"
		}
		timeline(r, &b, &v, wall+skew)
		var body []byte
		var off int
		ua := v.UA
		if isBad {
			body, off, ua = spoil(r, &b, &v, it.Reason, k/len(reasons), buf[:0])
		} else {
			body, off = b.AppendJSON(buf[:0])
		}
		it.Body = append([]byte(nil), body...)
		it.IDOff, it.UA, it.IP = off, ua, v.IP
		if off+idLen > len(body) {
			it.IDOff = -1
		}
		it.Page, it.Country, it.Device, it.Nav, it.Variant = v.Group, v.Country, v.Device, v.Nav, v.Variant
		if !isBad {
			it.Values, it.Has = b.Values()
		}
	}
	return p, nil
}
