package beacon

import (
	stdjson "encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

func mustDecodeOne(tb testing.TB, body []byte) *Beacon {
	tb.Helper()
	bs, errs, err := Decode(body, nil)
	if err != nil {
		tb.Fatalf("Decode: %v", err)
	}
	if errs != nil || len(bs) != 1 {
		tb.Fatalf("Decode: %d beacons, errs %v", len(bs), errs)
	}
	return &bs[0]
}

// TestDecodeMatchesEncodingJSON decodes the fixtures with encoding/json into the reflection
// schema of the benchmark and checks that every field agrees.
func TestDecodeMatchesEncodingJSON(t *testing.T) {
	for _, name := range []string{"beacon.json", "beacon_page.json", "level1.json"} {
		t.Run(name, func(t *testing.T) {
			body := mustRead(t, name)
			b := mustDecodeOne(t, body)
			var want jsonBeacon
			if err := stdjson.Unmarshal(body, &want); err != nil {
				t.Fatal(err)
			}
			wantURL, _, _ := strings.Cut(want.URL, "?")
			if b.V != want.V || b.ID != want.ID || b.URL != wantURL || b.Sent != want.Sent ||
				b.Now != want.Now || b.Conn != want.Conn || b.Variant != want.Variant ||
				b.Webdriver != want.Webdriver {
				t.Errorf("top level: got %+v\nwant %+v", b, want)
			}
			if want.Origin != nil && (b.Origin != *want.Origin || !b.HasOrigin) {
				t.Errorf("origin %v, want %v", b.Origin, *want.Origin)
			}
			checkTiming := func(name string, got *Timing, has bool, w *jsonTiming) {
				if (w != nil) != has {
					t.Fatalf("%s: has %v, want %v", name, has, w != nil)
				}
				if w == nil {
					return
				}
				wm := [NumMarks]float64{w.NavigationStart, w.RedirectStart, w.RedirectEnd,
					w.FetchStart, w.DomainLookupStart, w.DomainLookupEnd, w.ConnectStart,
					w.SecureConnectionStart, w.ConnectEnd, w.RequestStart, w.ResponseStart,
					w.ResponseEnd, w.DOMInteractive, w.DOMContentLoadedEventEnd,
					w.LoadEventEnd, w.ActivationStart}
				if got.Marks != wm {
					t.Errorf("%s marks\n got %v\nwant %v", name, got.Marks, wm)
				}
				if got.TransferSize != w.TransferSize || got.NextHopProtocol != w.NextHopProtocol {
					t.Errorf("%s transfer %v %q", name, got.TransferSize, got.NextHopProtocol)
				}
			}
			checkTiming("nt", &b.NT, b.HasNT, want.NT)
			checkTiming("nt1", &b.NT1, b.HasNT1, want.NT1)
			if want.Vitals != nil {
				for v, w := range []*float64{want.Vitals.FCP, want.Vitals.LCP, want.Vitals.CLS, want.Vitals.INP} {
					got, ok := b.Vitals.Get(Vital(v))
					if ok != (w != nil) || ok && got != *w {
						t.Errorf("vital %v: %v %v", Vital(v), got, ok)
					}
				}
			}
			if len(b.Probes) != len(want.Probes) {
				t.Fatalf("%d probes, want %d", len(b.Probes), len(want.Probes))
			}
			for i, w := range want.Probes {
				p := &b.Probes[i]
				wm := [NumProbeMarks]float64{w.StartTime, w.FetchStart, w.DomainLookupStart,
					w.DomainLookupEnd, w.ConnectStart, w.SecureConnectionStart, w.ConnectEnd,
					w.RequestStart, w.ResponseStart, w.ResponseEnd}
				if p.Name != w.Name || p.URL != w.URL || p.Marks != wm || p.NextHopProtocol != w.NextHopProtocol ||
					p.HasTransferSize != (w.TransferSize != nil) || w.TransferSize != nil && p.TransferSize != *w.TransferSize {
					t.Errorf("probe %d\n got %+v\nwant %+v", i, *p, w)
				}
			}
		})
	}
}

func TestDecodeNormalises(t *testing.T) {
	const head = `{"v":1,"id":"abcdefgh","sent":1,"origin":1,"now":1,"nt":{"responseStart":1}`
	tests := []struct {
		name, body string
		check      func(b *Beacon) bool
	}{
		{"query and fragment dropped", head + `,"url":"https://ex.com/p/1?q=secret#frag"}`,
			func(b *Beacon) bool { return b.URL == "https://ex.com/p/1" }},
		{"fragment only dropped", head + `,"url":"/p/1#top"}`,
			func(b *Beacon) bool { return b.URL == "/p/1" }},
		{"nav defaults to navigate", head + `,"url":"/"}`,
			func(b *Beacon) bool { return b.Nav == NavNavigate }},
		{"back-forward spelling", head + `,"url":"/","nav":"back-forward"}`,
			func(b *Beacon) bool { return b.Nav == NavBackForward }},
		{"escapes and surrogate pairs", head + `,"url":"/","variant":"caf\u00e9 \ud83d\ude80 \"q\" \/"}`,
			func(b *Beacon) bool { return b.Variant == "café 🚀 \"q\" /" }},
		{"lone surrogate becomes U+FFFD", head + `,"url":"/","variant":"a\ud800b"}`,
			func(b *Beacon) bool { return b.Variant == "a\uFFFDb" }},
		{"raw UTF-8 kept", head + `,"url":"/","variant":"größe"}`,
			func(b *Beacon) bool { return b.Variant == "größe" }},
		{"null means absent", head + `,"url":"/","variant":null,"vitals":{"cls":null,"inp":0},"probes":null}`,
			func(b *Beacon) bool {
				_, hasCLS := b.Vitals.Get(VitalCLS)
				inp, hasINP := b.Vitals.Get(VitalINP)
				return b.Variant == "" && !hasCLS && hasINP && inp == 0 && len(b.Probes) == 0
			}},
		{"unknown members skipped", head + `,"url":"/","x":{"a":[1,2,{"b":"c"}],"t":true,"f":false,"n":null},"nt2":[]}`,
			func(b *Beacon) bool { return b.URL == "/" }},
		{"duplicate member: last wins", head + `,"url":"/a","url":"/b"}`,
			func(b *Beacon) bool { return b.URL == "/b" }},
		{"v 1.0 is 1", strings.Replace(head, `"v":1`, `"v":1.0`, 1) + `,"url":"/"}`,
			func(b *Beacon) bool { return b.V == 1 }},
		{"huge number is Inf, left to Validate", head + `,"url":"/","vitals":{"lcp":1e400}}`,
			func(b *Beacon) bool { x, _ := b.Vitals.Get(VitalLCP); return math.IsInf(x, 1) }},
		{"level 1 without origin", `{"v":1,"id":"abcdefgh","url":"/","sent":1,"now":1,"nt1":{"navigationStart":1}}`,
			func(b *Beacon) bool { return b.HasNT1 && !b.HasNT && !b.HasOrigin }},
		{"transferSize presence", head + `,"url":"/","probes":[{"name":"a","startTime":1},{"name":"b","transferSize":0}]}`,
			func(b *Beacon) bool { return !b.Probes[0].HasTransferSize && b.Probes[1].HasTransferSize }},
		{"probe cache evidence", head + `,"url":"/","probes":[{"name":"a","decodedBodySize":43,"deliveryType":"cache"},` +
			`{"name":"b","deliveryType":""},{"name":"c","deliveryType":null,"timedBy":"page"}]}`,
			func(b *Beacon) bool {
				p := b.Probes
				return p[0].DecodedBodySize == 43 && p[0].DeliveryCache && !p[1].DeliveryCache && !p[2].DeliveryCache
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := mustDecodeOne(t, []byte(tc.body))
			if !tc.check(b) {
				t.Errorf("decoded %+v", *b)
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	good := string(mustRead(t, "beacon_page.json"))
	repl := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("fixture lacks %q", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	deep := `{"v":1,"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`
	tooMany := `,"probes":[` + strings.TrimSuffix(strings.Repeat(`{"name":"p","startTime":1},`, MaxProbes+1), ",") + `]}`
	tests := []struct {
		name, body string
		path       string // the Error's Path, "" for a syntax error
	}{
		{"empty body", "", ""},
		{"white space only", " \n", ""},
		{"not JSON", "v=1&id=abc", ""},
		{"top-level number", "1", ""},
		{"top-level string", `"beacon"`, ""},
		{"empty array", "[]", ""},
		{"truncated", good[:len(good)-20], ""},
		{"trailing data", good + "x", ""},
		{"two objects", good + good, ""},
		{"trailing comma", repl(`"v":1,`, `"v":1,,`), ""},
		{"single quotes", repl(`"v":1`, `'v':1`), ""},
		{"unquoted key", repl(`"v":1`, `v:1`), ""},
		{"invalid UTF-8", repl(`cdn-b`, "cdn-\xff"), ""},
		{"invalid UTF-8 with escape", repl(`cdn-b`, "c\\u00e9dn-\xc3"), ""},
		{"control character in a string", repl(`cdn-b`, "cdn\x01b"), ""},
		{"bad escape", repl(`cdn-b`, `cdn\xb`), ""},
		{"bad number leading zero", repl(`"now":5120.7`, `"now":05120.7`), ""},
		{"bad number plus", repl(`"now":5120.7`, `"now":+5120.7`), ""},
		{"bad number dot", repl(`"now":5120.7`, `"now":5120.`), ""},
		{"bad number exponent", repl(`"now":5120.7`, `"now":5e`), ""},
		{"NaN literal", repl(`"now":5120.7`, `"now":NaN`), ""},
		{"Infinity literal", repl(`"now":5120.7`, `"now":Infinity`), ""},
		{"bad literal", repl(`"webdriver":false`, `"webdriver":fals`), ""},
		{"nested too deeply", deep, ""},
		{"BOM", "\ufeff" + good, ""},

		{"v as string", repl(`"v":1`, `"v":"1"`), "v"},
		{"unknown version", repl(`"v":1`, `"v":2`), "v"},
		{"missing version", repl(`"v":1,`, ``), "v"},
		{"id too short", repl(`k2j3h4g5f6d7s8a9`, `k2j3h4`), "id"},
		{"id too long", repl(`k2j3h4g5f6d7s8a9`, strings.Repeat("a", 65)), "id"},
		{"id bad character", repl(`k2j3h4g5f6d7s8a9`, `k2j3h4g5/f6d7`), "id"},
		{"url missing", repl(`"url":"https://example.com/questions/42?tab=votes",`, ``), "url"},
		{"url relative", repl(`https://example.com/questions/42?tab=votes`, `questions/42`), "url"},
		{"url other scheme", repl(`https://example.com/questions/42?tab=votes`, `ftp://example.com/x`), "url"},
		{"url without host", repl(`https://example.com/questions/42?tab=votes`, `https:///x`), "url"},
		{"url number", repl(`"https://example.com/questions/42?tab=votes"`, `42`), "url"},
		{"sent as string", repl(`"sent":1763683200123.4`, `"sent":"1763683200123.4"`), "sent"},
		{"sent missing", repl(`"sent":1763683200123.4,`, ``), "sent"},
		{"now missing", repl(`"now":5120.7,`, ``), "now"},
		{"origin missing with nt", repl(`"origin":1763683195000.25,`, ``), "origin"},
		{"nav unknown", repl(`"nav":"navigate"`, `"nav":"prefetch"`), "nav"},
		{"webdriver as string", repl(`"webdriver":false`, `"webdriver":"false"`), "webdriver"},
		{"nt as array", repl(`"nt":{`, `"nt":[],"x":{`), "nt"},
		{"nt missing", repl(`"nt":{`, `"x":{`), "nt"},
		{"mark as string", repl(`"responseStart":210.3`, `"responseStart":"210.3"`), "nt.responseStart"},
		{"mark as bool", repl(`"fetchStart":1.2`, `"fetchStart":true`), "nt.fetchStart"},
		{"vital as object", repl(`"lcp":900.5`, `"lcp":{}`), "vitals.lcp"},
		{"probes as object", repl(`"webdriver":false`, `"webdriver":false,"probes":{}`), "probes"},
		{"probe as number", repl(`"webdriver":false`, `"webdriver":false,"probes":[1]`), "probes[0]"},
		{"probe without name", repl(`"webdriver":false`, `"webdriver":false,"probes":[{"name":"a","startTime":1},{"startTime":1}]`), "probes[1].name"},
		{"probe mark as string", repl(`"webdriver":false`, `"webdriver":false,"probes":[{"name":"a","startTime":"1"}]`), "probes[0].startTime"},
		{"too many probes", strings.TrimSuffix(good, "}") + tooMany, "probes[32]"},
		{"nt1 without navigationStart", `{"v":1,"id":"abcdefgh","url":"/","sent":1,"now":1,"nt1":{"fetchStart":1}}`, "nt1.navigationStart"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bs, errs, err := Decode([]byte(tc.body), make([]Beacon, 0, 1))
			if err == nil {
				t.Fatalf("no error; decoded %+v", bs)
			}
			if len(bs) != 0 || errs != nil {
				t.Errorf("with the error: %d beacons, errs %v", len(bs), errs)
			}
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			if de.Path != tc.path {
				t.Errorf("error %q: path %q, want %q", err, de.Path, tc.path)
			}
		})
	}
}

func TestDecodeBatch(t *testing.T) {
	bs, errs, err := Decode(mustRead(t, "batch_mixed.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantBad := []string{"", "v", "", "sent", "", ""} // index 2 is a string: path ""
	wantErr := []bool{false, true, true, true, false, false}
	if len(bs) != len(wantErr) || len(errs) != len(wantErr) {
		t.Fatalf("%d beacons, %d errs, want %d each", len(bs), len(errs), len(wantErr))
	}
	for i := range wantErr {
		if (errs[i] != nil) != wantErr[i] {
			t.Errorf("element %d: error %v, want error %v", i, errs[i], wantErr[i])
			continue
		}
		if errs[i] == nil {
			continue
		}
		var de *Error
		if !errors.As(errs[i], &de) || de.Index != i || de.Path != wantBad[i] {
			t.Errorf("element %d: error %#v", i, errs[i])
		}
	}
	if bs[4].URL != "https://example.com/b" || bs[0].ID != "good_0000001" || bs[5].ID != "nonmono_00001" {
		t.Errorf("good elements decoded wrong: %q %q %q", bs[4].URL, bs[0].ID, bs[5].ID)
	}
	if r, d := Validate(&bs[5], benchRecv, nil); r != NonMonotonic {
		t.Errorf("element 5: %v %s, want non_monotonic", r, d)
	}
	if !IsBatch([]byte(" \n[{}]")) || IsBatch([]byte(`{"v":1}`)) {
		t.Error("IsBatch")
	}

	t.Run("all good gives nil errs", func(t *testing.T) {
		one := string(mustRead(t, "beacon_page.json"))
		bs, errs, err := Decode([]byte("["+one+","+one+"]"), nil)
		if err != nil || errs != nil || len(bs) != 2 {
			t.Fatalf("%d beacons, errs %v, err %v", len(bs), errs, err)
		}
	})
	t.Run("a syntax error fails the whole body", func(t *testing.T) {
		one := string(mustRead(t, "beacon_page.json"))
		bs, errs, err := Decode([]byte("["+one+","+one[:100]+"]"), nil)
		if err == nil || len(bs) != 0 || errs != nil {
			t.Fatalf("%d beacons, errs %v, err %v", len(bs), errs, err)
		}
	})
	t.Run("reused dst is cleared", func(t *testing.T) {
		probe := mustRead(t, "beacon.json")
		page := mustRead(t, "beacon_page.json")
		dst, _, err := Decode(probe, nil)
		if err != nil || len(dst[0].Probes) != 1 {
			t.Fatal(err)
		}
		dst, _, err = Decode(page, dst)
		if err != nil || len(dst) != 1 || len(dst[0].Probes) != 0 || !dst[0].HasNT {
			t.Fatalf("reuse: %v %+v", err, dst)
		}
		if cap(dst[0].Probes) == 0 {
			t.Error("probe capacity was not kept")
		}
	})
}

// TestNumbers checks the fast path of number parsing against strconv.
func TestNumbers(t *testing.T) {
	for _, s := range []string{
		"0", "-0", "1", "-1", "1.5", "1763683200123.4", "1763683195000.25", "5120.7",
		"0.1", "0.3", "1e22", "1e23", "1e-22", "1e-23", "9007199254740993", "9007199254740992",
		"123456789012345678901234567890", "0.000000000000000000000000000001", "1E+2", "2.5e-3",
		"4.9e-324", "1.7976931348623157e308", "1e309", "-1e309", "12345678901234567890",
		"0.12345678901234567890", "1234567.8901234567",
	} {
		d := decoder{s: s}
		got, ok := d.num()
		want, err := strconv.ParseFloat(s, 64)
		if err != nil && !math.IsInf(want, 0) {
			t.Fatal(err)
		}
		if !ok || d.i != len(s) || math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("%s: got %v (ok %v, at %d), want %v", s, got, ok, d.i, want)
		}
	}
}

// TestDecodeStringsAreViewsErrorsAreNot: decoding copies nothing of the body, so its
// strings change when the caller reuses the body (as fasthttp does; see Beacon), except a
// string with escapes, which is a decoded copy; error messages, which outlive the body in
// the answer, never change with it.
func TestDecodeStringsAreViewsErrorsAreNot(t *testing.T) {
	for _, name := range []string{"beacon.json", "batch_mixed.json", "level1.json"} {
		t.Run(name, func(t *testing.T) {
			body := mustRead(t, name)
			bs, errs, err := Decode(body, nil)
			if err != nil {
				t.Fatal(err)
			}
			url := strings.Clone(bs[0].URL)
			var msgs []string
			for _, e := range errs {
				if e != nil {
					msgs = append(msgs, e.Error())
				}
			}
			before := strings.Join(msgs, "\n")
			for i := range body {
				body[i] = 'X'
			}
			msgs = msgs[:0]
			for _, e := range errs {
				if e != nil {
					msgs = append(msgs, e.Error())
				}
			}
			if after := strings.Join(msgs, "\n"); after != before {
				t.Errorf("error messages changed with the body:\n%s\n%s", before, after)
			}
			if bs[0].URL == url || strings.Trim(bs[0].URL, "X") != "" {
				t.Errorf("url %q is not a view of the body (was %q)", bs[0].URL, url)
			}
		})
	}
	t.Run("escaped", func(t *testing.T) {
		body := []byte(`{"v":1,"id":"abcdefgh","url":"https:\/\/example.com\/a","sent":1,"origin":1,"now":1,"nt":{"responseStart":1}}`)
		b := mustDecodeOne(t, body)
		clear(body)
		if b.URL != "https://example.com/a" {
			t.Errorf("escaped url %q changed with the body", b.URL)
		}
	})
	t.Run("error path", func(t *testing.T) {
		body := []byte(`{"v":1,"id":"abcdefgh","url":"/","sent":1,"origin":1,"now":1,"nt":{"zzz":1,"responseStart":"x"}}`)
		_, _, err := Decode(body, nil)
		if err == nil {
			t.Fatal("no error")
		}
		before := err.Error()
		for i := range body {
			body[i] = 'X'
		}
		if err.Error() != before || !strings.Contains(before, "nt.responseStart") {
			t.Errorf("error %q changed to %q", before, err.Error())
		}
	})
	t.Run("repeated members", func(t *testing.T) {
		b := mustDecodeOne(t, []byte(`{"v":1,"id":"abcdefgh","url":"/","sent":1,"origin":1,"now":1,
			"nt":{"responseStart":1,"nextHopProtocol":"h2"},"nt":{"responseStart":2},
			"probes":[{"name":"a","url":"/a"},{"name":"b"}],"probes":[{"name":"c"}]}`))
		if b.NT.NextHopProtocol != "" || b.NT.Marks[ResponseStart] != 2 || len(b.Probes) != 1 ||
			b.Probes[0].Name != "c" || b.Probes[0].URL != "" {
			t.Errorf("repeated members: %+v", *b)
		}
	})
}
