package loadtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"strconv"
)

// Country is one country of the synthetic population: its share of page views, the client
// range its addresses are drawn from, and how much slower than average its network is.
type Country struct {
	Code   string // ISO 3166-1 alpha-2; "XX" for addresses no GeoIP record covers
	Weight float64
	CIDR   string
	Slow   float64 // multiplies network timings (dns, connect, tls, ttfb, download)
}

// Countries is the default country mix. The ranges are arbitrary public /16s that only mean
// something through the GeoIP file the tool writes for its own run; XX's range is left out
// of that file, so its beacons exercise the unknown-country path.
var Countries = []Country{
	{"US", 24, "23.16.0.0/16", 1.0},
	{"IN", 12, "49.32.0.0/16", 1.8},
	{"DE", 8, "5.144.0.0/16", 0.9},
	{"GB", 6, "31.48.0.0/16", 0.9},
	{"BR", 6, "177.64.0.0/16", 1.5},
	{"JP", 5, "126.112.0.0/16", 0.8},
	{"FR", 5, "37.160.0.0/16", 0.95},
	{"CA", 4, "24.80.0.0/16", 1.0},
	{"ID", 4, "36.64.0.0/16", 1.9},
	{"NG", 3, "41.184.0.0/16", 2.4},
	{"AU", 3, "1.120.0.0/16", 1.2},
	{"ES", 3, "83.32.0.0/16", 1.0},
	{"IT", 3, "79.16.0.0/16", 1.0},
	{"MX", 3, "187.128.0.0/16", 1.4},
	{"PL", 2, "83.0.0.0/16", 0.95},
	{"NL", 2, "145.128.0.0/16", 0.85},
	{"KR", 2, "211.32.0.0/16", 0.7},
	{"ZA", 2, "41.0.0.0/16", 1.7},
	{"SE", 1, "78.64.0.0/16", 0.85},
	{"XX", 2, "198.51.100.0/24", 1.3},
}

// PageTemplate is a kind of page: raw URLs are made from Raw by replacing {id} with a number,
// and rumd's default page-group rule collapses them back to Group.
type PageTemplate struct {
	Raw    string // path with {id} placeholders, optionally a query
	Group  string // the page group rumd reports
	Weight float64
	Heavy  float64 // multiplies rendering timings (dom, dcl, load, fcp, lcp)
}

// Pages is the default page mix. Templates without {id} are a single raw URL each.
var Pages = []PageTemplate{
	{"/questions/{id}?tab=votes", "/questions/:id", 40, 1.1},
	{"/questions/{id}/answers", "/questions/:id/answers", 8, 1.0},
	{"/users/{id}", "/users/:id", 12, 0.9},
	{"/products/{id}", "/products/:id", 15, 1.3},
	{"/orders/{id}/items/{id}", "/orders/:id/items/:id", 4, 1.0},
	{"/", "/", 10, 1.2},
	{"/search?q=latency", "/search", 6, 0.8},
	{"/cart", "/cart", 3, 1.0},
	{"/checkout", "/checkout", 2, 1.1},
}

// Device is a device class with the user agents that rumd classifies as it.
type Device struct {
	Class  string // mobile, tablet or desktop
	Weight float64
	Slow   float64 // multiplies rendering timings
	UAs    []string
}

// Devices is the default device mix.
var Devices = []Device{
	{"mobile", 55, 1.6, []string{
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
		"Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Mobile Safari/537.36",
	}},
	{"desktop", 40, 1.0, []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
	}},
	{"tablet", 5, 1.3, []string{
		"Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
	}},
}

// BotUAs are user agents of crawlers and automated browsers; beacons sent with them are
// meant to be rejected as bot.
var BotUAs = []string{
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36",
	"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
}

// Weighted is a label with its share.
type Weighted struct {
	Value  string
	Weight float64
}

// NavTypes is the navigation type mix of good beacons. bfcache restores are left out: what
// a snippet reports for them is the original load's marks, which the accuracy check cannot
// tell apart from a navigate.
var NavTypes = []Weighted{{"navigate", 82}, {"reload", 7}, {"back_forward", 6}, {"prerender", 5}}

// Variants is the experiment label mix.
var Variants = []Weighted{{"control", 50}, {"cdn-a", 25}, {"cdn-b", 25}}

// ConnTypes is the effective connection type mix; "" leaves the field out (browsers
// without the Network Information API).
var ConnTypes = []Weighted{{"4g", 60}, {"3g", 8}, {"2g", 2}, {"", 30}}

// Population draws page views: who, where, which page, how fast.
type Population struct {
	countries []Country
	pages     []PageTemplate
	devices   []Device

	countryPick, pagePick, devicePick, navPick, variantPick, connPick picker
	prefixes                                                          []netip.Prefix

	urls int // raw URLs with ids, ranked by popularity
}

// NewPopulation returns the default population with urls raw URLs ranked by a Zipf law.
func NewPopulation(urls int) (*Population, error) {
	if urls < len(Pages) {
		urls = len(Pages)
	}
	p := &Population{countries: Countries, pages: Pages, devices: Devices, urls: urls}
	p.countryPick = newPicker(len(Countries), func(i int) float64 { return Countries[i].Weight })
	p.pagePick = newPicker(len(Pages), func(i int) float64 { return Pages[i].Weight })
	p.devicePick = newPicker(len(Devices), func(i int) float64 { return Devices[i].Weight })
	p.navPick = newPicker(len(NavTypes), func(i int) float64 { return NavTypes[i].Weight })
	p.variantPick = newPicker(len(Variants), func(i int) float64 { return Variants[i].Weight })
	p.connPick = newPicker(len(ConnTypes), func(i int) float64 { return ConnTypes[i].Weight })
	for _, c := range Countries {
		pfx, err := netip.ParsePrefix(c.CIDR)
		if err != nil {
			return nil, fmt.Errorf("country %s range: %w", c.Code, err)
		}
		p.prefixes = append(p.prefixes, pfx.Masked())
	}
	return p, nil
}

// GeoNetworks returns the client ranges with a known country, as the GeoIP file holds them.
func (p *Population) GeoNetworks() []Country {
	var out []Country
	for _, c := range p.countries {
		if c.Code != "XX" {
			out = append(out, c)
		}
	}
	return out
}

// picker draws an index with probability proportional to its weight.
type picker struct{ cum []float64 }

func newPicker(n int, w func(int) float64) picker {
	cum := make([]float64, n)
	s := 0.0
	for i := range cum {
		s += w(i)
		cum[i] = s
	}
	return picker{cum}
}

func (p picker) pick(r *rand.Rand) int {
	x := r.Float64() * p.cum[len(p.cum)-1]
	for i, c := range p.cum {
		if x < c {
			return i
		}
	}
	return len(p.cum) - 1
}

// View is one synthetic page view before it becomes a beacon: its labels as rumd should
// report them, and what the client sends besides the timings.
type View struct {
	URL     string
	Group   string
	Country string
	IP      string
	Device  string
	UA      string
	Nav     string
	Variant string
	Conn    string

	netSlow, renderSlow float64
}

// Draw returns the next page view. The URL's rank follows a Zipf law over the population's
// raw URLs, so a few pages are hot and a long tail is seen once.
func (p *Population) Draw(r *rand.Rand, z *rand.Zipf) View {
	c := p.countryPick.pick(r)
	d := p.devicePick.pick(r)
	dev := &p.devices[d]
	rank := z.Uint64()
	tpl := &p.pages[p.templateOf(rank)]
	v := View{
		URL:     "https://www.example.com" + fillIDs(tpl.Raw, rank),
		Group:   tpl.Group,
		Country: p.countries[c].Code,
		IP:      randomAddr(r, p.prefixes[c]),
		Device:  dev.Class,
		UA:      dev.UAs[r.IntN(len(dev.UAs))],
		Nav:     NavTypes[p.navPick.pick(r)].Value,
		Variant: Variants[p.variantPick.pick(r)].Value,
		Conn:    ConnTypes[p.connPick.pick(r)].Value,

		netSlow:    p.countries[c].Slow,
		renderSlow: dev.Slow * tpl.Heavy,
	}
	return v
}

// NewZipf returns the URL-rank distribution of the population for r.
func (p *Population) NewZipf(r *rand.Rand) *rand.Zipf {
	return rand.NewZipf(r, 1.15, 4, uint64(p.urls-1))
}

// templateOf maps a URL rank to its template: a fixed weighted choice per rank, so the same
// raw URL always belongs to the same page group.
func (p *Population) templateOf(rank uint64) int {
	h := rank*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019
	h ^= h >> 29
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 32
	x := float64(h>>11) / (1 << 53) * p.pagePick.cum[len(p.pagePick.cum)-1]
	for i, c := range p.pagePick.cum {
		if x < c {
			return i
		}
	}
	return len(p.pages) - 1
}

// fillIDs replaces each {id} with a number derived from the URL's rank.
func fillIDs(raw string, rank uint64) string {
	const ph = "{id}"
	out := make([]byte, 0, len(raw)+16)
	n := 0
	for i := 0; i < len(raw); {
		if i+len(ph) <= len(raw) && raw[i:i+len(ph)] == ph {
			out = strconv.AppendUint(out, 1000+rank*7+uint64(n)*13, 10)
			n++
			i += len(ph)
			continue
		}
		out = append(out, raw[i])
		i++
	}
	return string(out)
}

func randomAddr(r *rand.Rand, p netip.Prefix) string {
	a := p.Addr().As4()
	host := 32 - p.Bits()
	x := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	if host > 0 {
		span := uint32(1)<<host - 2 // skip the network and broadcast addresses
		x += 1 + r.Uint32N(span)
	}
	return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}).String()
}

// logNormal draws from a log-normal distribution with the given median and shape σ.
func logNormal(r *rand.Rand, median, sigma float64) float64 {
	return median * math.Exp(sigma*r.NormFloat64())
}

func newRand(seed int64) *rand.Rand { return rand.New(rand.NewPCG(uint64(seed), 0x5eed)) }
