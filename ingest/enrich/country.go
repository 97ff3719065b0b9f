package enrich

import (
	"net/netip"
	"strings"
	"sync/atomic"
)

// Unknown is the country of a client whose country is not known.
const Unknown = "XX"

// CountryHeader returns the configured CDN country header name, "" if none, so that the
// server knows which request header to pass to Country.
func (e *Enricher) CountryHeader() string { return e.countryHeader }

// ClientAddr returns the address of the client behind the proxies: the peer itself unless
// the peer is a trusted proxy, else the rightmost X-Forwarded-For address that is not a
// trusted proxy (the leftmost one if all are). Walking from the right means a client cannot
// spoof its address by sending its own X-Forwarded-For: proxies append, so only the entries
// right of the first untrusted hop were written by proxies we trust. A request with several
// X-Forwarded-For lines must have them joined with ",". An unparsable entry stops the walk at
// the last trusted hop.
func (e *Enricher) ClientAddr(peer netip.Addr, xff string) netip.Addr {
	peer = peer.Unmap()
	if !e.trustedAddr(peer) {
		return peer
	}
	client := peer
	for xff != "" {
		var part string
		if i := strings.LastIndexByte(xff, ','); i >= 0 {
			part, xff = xff[i+1:], xff[:i]
		} else {
			part, xff = xff, ""
		}
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		a, ok := parseHop(part)
		if !ok {
			return client
		}
		client = a
		if !e.trustedAddr(a) {
			return a
		}
	}
	return client
}

// parseHop parses one X-Forwarded-For entry: an address, optionally with a port
// ("192.0.2.1:4711", "[2001:db8::1]:443").
func parseHop(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.WithZone("").Unmap(), true
}

// Trusted reports whether a is one of the trusted proxies.
func (e *Enricher) Trusted(a netip.Addr) bool { return e.trustedAddr(a.Unmap()) }

func (e *Enricher) trustedAddr(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range e.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Country returns the client's ISO 3166-1 alpha-2 country code in upper case, or "XX" when it
// is not known. cdnCountry, the value of the configured CDN country header, is believed only
// from a trusted peer and only when it is a real code (Cloudflare's "XX" and "T1" for Tor are
// not); otherwise the client address (see ClientAddr) is looked up in the GeoIP database.
func (e *Enricher) Country(peer netip.Addr, xff, cdnCountry string) string {
	if cdnCountry != "" && e.trustedAddr(peer.Unmap()) {
		if c := countryCode(strings.TrimSpace(cdnCountry)); c != Unknown {
			return c
		}
	}
	return e.lookupCountry(e.ClientAddr(peer, xff))
}

// lookupCountry finds a's country in the database. The record is decoded into a small
// struct and its code cached by the record's offset: a country database holds a few hundred
// distinct records, so nearly every lookup is a tree walk plus one cache load.
// BenchmarkCountryLookup measured the alternatives (geoip2-golang's Country decodes the
// whole record; a hand-written mmdbdata.Unmarshaler pays for iterator closures on every
// map); this is the fastest, and the only one without allocations once warm.
func (e *Enricher) lookupCountry(a netip.Addr) string {
	if e.db == nil || !a.IsValid() {
		return Unknown
	}
	res := e.db.Lookup(a.Unmap())
	if err := res.Err(); err != nil {
		e.metrics.geoipErrors.Inc()
		return Unknown
	}
	if !res.Found() {
		return Unknown
	}
	off := res.Offset()
	if c, ok := e.countries.get(off); ok {
		e.counts.hit(cacheCountry)
		return c
	}
	e.counts.miss(cacheCountry)
	var c string
	var rec countryRecord
	if err := res.Decode(&rec); err == nil {
		c = rec.code()
	} else {
		// ipinfo's databases hold the code as a plain string: {"country":"DE"}.
		var flat string
		if res.DecodePath(&flat, "country") != nil {
			e.metrics.geoipErrors.Inc()
			return Unknown
		}
		c = countryCode(flat)
	}
	e.countries.put(off, c)
	return c
}

// countryRecord reads the country code of a record in any of the layouts rumd supports:
// GeoIP2/GeoLite2/DB-IP Country and City ({"country":{"iso_code":..}}, falling back to
// registered_country for anycast and satellite networks that have no country) and
// ip-location-db ({"country_code":..}). The decoder skips every other field. ipinfo's
// {"country":"DE"} fails to decode into it and is read by lookupCountry's fallback.
type countryRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
	CountryCode string `maxminddb:"country_code"`
}

func (r *countryRecord) code() string {
	for _, s := range [...]string{r.Country.ISOCode, r.CountryCode, r.RegisteredCountry.ISOCode} {
		if c := countryCode(s); c != Unknown {
			return c
		}
	}
	return Unknown
}

// countryCode returns s as an interned upper-case ISO alpha-2 code, or Unknown when s is not
// two ASCII letters or is itself "XX".
func countryCode(s string) string {
	if len(s) != 2 {
		return Unknown
	}
	a, b := s[0]&^0x20, s[1]&^0x20 // ASCII upper case; non-letters fail the range check
	if a < 'A' || a > 'Z' || b < 'A' || b > 'Z' {
		return Unknown
	}
	return codes[int(a-'A')*26+int(b-'A')]
}

// codes holds every two-letter code as a substring of one string, so that returning a code
// never allocates.
var codes = func() [26 * 26]string {
	var buf [2 * 26 * 26]byte
	for i := range 26 * 26 {
		buf[2*i], buf[2*i+1] = byte('A'+i/26), byte('A'+i%26)
	}
	all := string(buf[:])
	var out [26 * 26]string
	for i := range out {
		out[i] = all[2*i : 2*i+2]
	}
	return out
}()

// countryCache is a lock-free cache from a record's data offset to its country code, 4-way
// set-associative so that the few hundred records of a country database never evict each
// other. Each entry is one atomic word holding offset+1 and the code's index, so a reader
// sees a whole entry or none; when a set is full, an entry chosen by the offset is replaced.
type countryCache struct {
	sets [countryCacheSets][countryCacheWays]atomic.Uint64
}

const (
	countryCacheSets = 1024 // 4096 entries, 32 KiB
	countryCacheWays = 4
	unknownIndex     = 0xFFFF
)

func (c *countryCache) set(off uintptr) *[countryCacheWays]atomic.Uint64 {
	return &c.sets[(uint64(off)*0x9E3779B97F4A7C15)>>(64-10)]
}

func (c *countryCache) get(off uintptr) (string, bool) {
	set := c.set(off)
	for w := range set {
		v := set[w].Load()
		if v>>16 != uint64(off)+1 {
			continue
		}
		if i := v & 0xFFFF; i < uint64(len(codes)) {
			return codes[i], true
		}
		return Unknown, true
	}
	return "", false
}

func (c *countryCache) put(off uintptr, code string) {
	i := uint64(unknownIndex)
	if code != Unknown {
		i = uint64(code[0]-'A')*26 + uint64(code[1]-'A')
	}
	v := (uint64(off)+1)<<16 | i
	set := c.set(off)
	for w := range set {
		if set[w].CompareAndSwap(0, v) {
			return
		}
	}
	set[uint64(off)%countryCacheWays].Store(v)
}
