package graphite

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dayEnv is a stack holding page views every 10 minutes over the last 8 days, for graphs
// of a day and a week.
func dayEnv(t testing.TB) *env {
	now := time.Date(2025, 11, 21, 16, 0, 25, 0, time.UTC)
	var offs []int64
	for off := int64(0); off <= 8*86400; off += 600 {
		offs = append(offs, off)
	}
	return mustEnv(t, now, seedRecords(now, offs, 12, 7))
}

func decodePNG(t *testing.T, body []byte, w, h int) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("not a PNG: %v (%.200s)", err, body)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("PNG is %d×%d, asked %d×%d", b.Dx(), b.Dy(), w, h)
	}
	return img
}

// pixelsNear counts the pixels within tol of c in every channel.
func pixelsNear(img image.Image, c color.Color, tol int) int {
	cr, cg, cb, _ := c.RGBA()
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if absDiff(r, cr) <= tol && absDiff(g, cg) <= tol && absDiff(bl, cb) <= tol {
				n++
			}
		}
	}
	return n
}

func absDiff(a, b uint32) int {
	d := int(a>>8) - int(b>>8)
	if d < 0 {
		return -d
	}
	return d
}

func mustColor(t *testing.T, s string) color.Color {
	t.Helper()
	c, err := parseColor(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPNGShowsEachSeries renders three series in three colours and checks the PNG: the
// asked size, not blank, each colour drawn, and a colour not asked for absent.
func TestPNGShowsEachSeries(t *testing.T) {
	e := dayEnv(t)
	q := "target=alias(rumd.country.DE.lcp.p75,'DE')&target=alias(rumd.country.US.lcp.p75,'US')&target=threshold(2500,'good','0000ff')" +
		"&colorList=ff0000,00aa00&width=500&height=300&lineWidth=2&from=-6h&title=LCP&vtitle=LCP%20p75"
	code, ctype, body := e.fetch(t, q)
	if code != 200 || ctype != "image/png" {
		t.Fatalf("status %d, %q: %.200s", code, ctype, body)
	}
	img := decodePNG(t, body, 500, 300)
	white := pixelsNear(img, color.White, 0)
	if total := 500 * 300; white == total || white < total/2 {
		t.Fatalf("%d of %d pixels are the white background", white, total)
	}
	for _, c := range []string{"ff0000", "00aa00", "0000ff", "000000"} {
		if n := pixelsNear(img, mustColor(t, c), 40); n < 30 {
			t.Errorf("colour %s: %d pixels", c, n)
		}
	}
	if n := pixelsNear(img, mustColor(t, "ff00ff"), 60); n != 0 {
		t.Errorf("magenta, asked for nowhere, has %d pixels", n)
	}
	// The same graph without its legend, axes and title draws no text: no fg pixels.
	code, _, body = e.fetch(t, q+"&graphOnly=true&fgcolor=ff00ff")
	if code != 200 {
		t.Fatalf("graphOnly: %d", code)
	}
	if n := pixelsNear(decodePNG(t, body, 500, 300), mustColor(t, "ff00ff"), 60); n != 0 {
		t.Errorf("graphOnly drew %d pixels of fgcolor", n)
	}
	code, _, body = e.fetch(t, q+"&fgcolor=ff00ff")
	if n := pixelsNear(decodePNG(t, body, 500, 300), mustColor(t, "ff00ff"), 60); code != 200 || n < 30 {
		t.Errorf("with axes, fgcolor has %d pixels (status %d)", n, code)
	}
}

// TestHoundReplay replays the requests of Hound, a Graphite alerting tool: a check reads
// keepLastValue(metric) in format=raw over the last 10 minutes and parses the number after
// the last comma; its mails embed a daily and a weekly graph with a threshold line.
func TestHoundReplay(t *testing.T) {
	e := knownEnv(t)
	base := e.base + "/render"
	metric := "rumd.total.lcp.p50"
	get := func(t *testing.T, u string) (string, string, []byte) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		return resp.Status, resp.Header.Get("Content-Type"), buf.Bytes()
	}
	lastValue := func(body []byte) (float64, error) {
		parts := strings.Split(strings.Trim(string(body), "\n\t "), ",")
		return strconv.ParseFloat(parts[len(parts)-1], 64)
	}
	status, _, body := get(t, base+"?target=keepLastValue("+metric+")&format=raw&from=-10mins")
	if status != "200 OK" {
		t.Fatalf("check: %s %s", status, body)
	}
	v, err := lastValue(body)
	want := exactQuantile(knownLCP[1], 0.5)
	if err != nil || v < want*0.98 || v > want*1.02 {
		t.Fatalf("check read %v (%v) from %q, want about %v", v, err, body, want)
	}
	// Without keepLastValue the empty live minute ends the line with None, which such a
	// tool cannot read: why it asks for keepLastValue.
	_, _, body = get(t, base+"?target="+metric+"&format=raw&from=-10mins")
	if _, err := lastValue(body); err == nil || !strings.HasSuffix(strings.TrimSpace(string(body)), ",None") {
		t.Fatalf("without keepLastValue: %q", body)
	}

	daily := base + "?target=" + metric + "&target=threshold(2500.000000)&width=800&height=150&bgcolor=FFFFFF&fgcolor=000000&hideGrid=true&colorList=%23999999,%23006699&from=-24hours"
	weekly := base + "?target=" + metric + "&target=threshold(2500.000000)&width=800&height=75&hideGrid=true&hideLegend=true&graphOnly=true&hideAxes=true&bgcolor=EEEEEE&fgcolor=000000&hideGrid=true&colorList=%23cccccc,%236699cc&from=-7days"
	for _, tc := range []struct {
		name, url string
		h         int
		bg        string
		threshold string
		text      bool
	}{
		{"daily", daily, 150, "ffffff", "006699", true},
		{"weekly", weekly, 75, "eeeeee", "6699cc", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, ctype, body := get(t, tc.url)
			if status != "200 OK" || ctype != "image/png" {
				t.Fatalf("%s %q: %.200s", status, ctype, body)
			}
			img := decodePNG(t, body, 800, tc.h)
			if n := pixelsNear(img, mustColor(t, tc.bg), 0); n < 800*tc.h/2 {
				t.Errorf("background %s covers %d pixels", tc.bg, n)
			}
			if n := pixelsNear(img, mustColor(t, tc.threshold), 60); n < 200 {
				t.Errorf("threshold line %s: %d pixels", tc.threshold, n)
			}
			black := pixelsNear(img, color.Black, 60)
			if tc.text && black < 50 || !tc.text && black != 0 {
				t.Errorf("%d dark (fgcolor) pixels; text expected: %v", black, tc.text)
			}
		})
	}
}

// TestGraphExample draws the README's example graph from seeded data; with -update it
// rewrites docs/img/graph-example.png.
func TestGraphExample(t *testing.T) {
	e := dayEnv(t)
	q := "target=alias(rumd.device.mobile.lcp.p75,'mobile p75')&target=alias(rumd.device.desktop.lcp.p75,'desktop p75')" +
		"&target=alias(movingAverage(mergeSeries(rumd.device.*.lcp.p75),'1h'),'all devices, moving 1h p75')" +
		"&target=threshold(2500,'LCP good (2.5 s)','green')&target=threshold(4000,'LCP poor (4 s)','red')" +
		"&maxDataPoints=144&title=Largest%20Contentful%20Paint&vtitle=LCP&width=800&height=360&lineWidth=1.5&from=-24h&tz=Europe/Berlin&colorList=6495ed,ff8c00,333333&yMax=5000"
	code, ctype, body := e.fetch(t, q)
	if code != 200 || ctype != "image/png" {
		t.Fatalf("status %d %q: %.200s", code, ctype, body)
	}
	decodePNG(t, body, 800, 360)
	if *update {
		path := filepath.Join("..", "docs", "img", "graph-example.png")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
