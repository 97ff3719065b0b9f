package graphite

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // tz names resolve on hosts without a zoneinfo database

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"rumd/internal/series"
)

// Bounds of a graph's size: a PNG of the largest is 16 MB of pixels while it is drawn.
const (
	maxGraphSide   = 4000
	maxGraphPixels = 4_000_000
)

// graphOptions are Graphite's graph parameters that rumd honours; docs/graphite.md lists
// them with their defaults.
type graphOptions struct {
	width, height int
	bg, fg        color.Color
	colors        []color.Color
	title, vtitle string
	yMin, yMax    float64 // NaN: from the data
	lineWidth     float64
	hideLegend    bool
	hideAxes      bool
	hideGrid      bool
	graphOnly     bool
	areaMode      string // none, first, all, stacked
}

// defaultColors is Graphite's default colorList.
var defaultColors = "blue,green,red,purple,brown,yellow,aqua,grey,magenta,pink,gold,rose"

// namedColors are the colour names Graphite's graph parameters accept.
var namedColors = map[string]color.RGBA{
	"black":     {0, 0, 0, 255},
	"white":     {255, 255, 255, 255},
	"blue":      {100, 100, 255, 255},
	"green":     {0, 200, 0, 255},
	"red":       {255, 0, 0, 255},
	"yellow":    {255, 255, 0, 255},
	"orange":    {255, 165, 0, 255},
	"purple":    {200, 100, 255, 255},
	"brown":     {150, 100, 50, 255},
	"cyan":      {0, 255, 255, 255},
	"aqua":      {0, 150, 150, 255},
	"gray":      {175, 175, 175, 255},
	"grey":      {175, 175, 175, 255},
	"magenta":   {255, 0, 255, 255},
	"pink":      {255, 100, 100, 255},
	"gold":      {200, 200, 0, 255},
	"rose":      {200, 150, 200, 255},
	"darkblue":  {0, 0, 255, 255},
	"darkgreen": {0, 255, 0, 255},
	"darkred":   {200, 00, 50, 255},
	"darkgray":  {111, 111, 111, 255},
	"darkgrey":  {111, 111, 111, 255},
}

// parseColor reads a colour as Graphite's graph parameters take it: a name, or 6 or 8 hex
// digits (RRGGBB[AA]) with or without a leading #.
func parseColor(s string) (color.Color, error) {
	s = strings.TrimSpace(s)
	if c, ok := namedColors[strings.ToLower(s)]; ok {
		return c, nil
	}
	h := strings.TrimPrefix(s, "#")
	if len(h) == 6 || len(h) == 8 {
		if v, err := strconv.ParseUint(h, 16, 32); err == nil {
			if len(h) == 6 {
				v = v<<8 | 0xff
			}
			return color.NRGBA{uint8(v >> 24), uint8(v >> 16), uint8(v >> 8), uint8(v)}, nil
		}
	}
	return nil, badf("bad_argument", "colour %q is neither a name (red, blue, ...) nor RRGGBB or RRGGBBAA in hex", s)
}

// parseGraphOptions reads the graph parameters through get, which answers "" for a
// parameter not given.
func parseGraphOptions(get func(string) string) (*graphOptions, error) {
	o := &graphOptions{width: 330, height: 250, bg: color.White, fg: color.Black,
		yMin: math.NaN(), yMax: math.NaN(), lineWidth: 1.2, areaMode: "none"}
	var err error
	for _, p := range []struct {
		name string
		dst  *int
	}{{"width", &o.width}, {"height", &o.height}} {
		if s := get(p.name); s != "" {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || !(v >= 16 && v <= maxGraphSide) {
				return nil, badf("bad_argument", "%s %q must be a number of pixels from 16 to %d", p.name, s, maxGraphSide)
			}
			*p.dst = int(v)
		}
	}
	if o.width*o.height > maxGraphPixels {
		return nil, badf("bad_argument", "a graph of %d×%d pixels is larger than the %d pixels rumd draws", o.width, o.height, maxGraphPixels)
	}
	for _, p := range []struct {
		name string
		dst  *color.Color
	}{{"bgcolor", &o.bg}, {"fgcolor", &o.fg}} {
		if s := get(p.name); s != "" {
			if *p.dst, err = parseColor(s); err != nil {
				return nil, badf("bad_argument", "%s: %v", p.name, err)
			}
		}
	}
	list := get("colorList")
	if list == "" {
		list = defaultColors
	}
	for _, s := range strings.Split(list, ",") {
		if len(o.colors) == 64 {
			return nil, badf("bad_argument", "colorList names more than 64 colours")
		}
		c, err := parseColor(s)
		if err != nil {
			return nil, badf("bad_argument", "colorList: %v", err)
		}
		o.colors = append(o.colors, c)
	}
	o.title, o.vtitle = get("title"), get("vtitle")
	if len(o.title) > 200 || len(o.vtitle) > 200 {
		return nil, badf("bad_argument", "title and vtitle are at most 200 bytes")
	}
	for _, p := range []struct {
		name string
		dst  *float64
	}{{"yMin", &o.yMin}, {"yMax", &o.yMax}} {
		if s := get(p.name); s != "" {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsInf(v, 0) || math.IsNaN(v) || math.Abs(v) > 1e15 {
				return nil, badf("bad_argument", "%s %q is not a number", p.name, s)
			}
			*p.dst = v
		}
	}
	if o.yMin >= o.yMax {
		return nil, badf("bad_argument", "yMin (%v) must be below yMax (%v)", o.yMin, o.yMax)
	}
	if s := get("lineWidth"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !(v > 0 && v <= 50) {
			return nil, badf("bad_argument", "lineWidth %q must be a number of pixels above 0, at most 50", s)
		}
		o.lineWidth = v
	}
	for _, p := range []struct {
		name string
		dst  *bool
	}{{"hideLegend", &o.hideLegend}, {"hideAxes", &o.hideAxes}, {"hideGrid", &o.hideGrid}, {"graphOnly", &o.graphOnly}} {
		if s := get(p.name); s != "" {
			if *p.dst, err = parseBool(p.name, s); err != nil {
				return nil, err
			}
		}
	}
	if s := get("areaMode"); s != "" {
		switch s {
		case "none", "first", "all", "stacked":
			o.areaMode = s
		default:
			return nil, badf("bad_argument", "areaMode %q is none of none, first, all and stacked", s)
		}
	}
	return o, nil
}

func parseBool(name, s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off":
		return false, nil
	}
	return false, badf("bad_argument", "%s %q is neither true nor false", name, s)
}

// fontSize is the size of tick labels and the legend; the title is a little larger.
const fontSize = 10

// sans is the sans-serif face gonum/plot ships (Liberation Sans) at size points.
func sans(size vg.Length) font.Font {
	return font.Font{Typeface: "Liberation", Variant: "Sans", Size: size}
}

// drawGraph draws the series as a line graph in format png or svg, its time axis from
// from to until in loc.
func drawGraph(w io.Writer, format string, o *graphOptions, loc *time.Location, list []*tseries, from, until int64) error {
	p := plot.New()
	p.BackgroundColor = o.bg
	p.Title.TextStyle.Color = o.fg
	p.Title.TextStyle.Font = sans(fontSize + 2)
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Color = o.fg
		ax.Label.TextStyle.Color = o.fg
		ax.Label.TextStyle.Font = sans(fontSize)
		ax.Tick.Color = o.fg
		ax.Tick.Label.Color = o.fg
		ax.Tick.Label.Font = sans(fontSize)
	}
	// The legend is drawn below the graph, as Graphite draws it, not inside the plot.
	leg := plot.NewLegend()
	leg.TextStyle.Color = o.fg
	leg.TextStyle.Font = sans(fontSize)
	leg.Top, leg.Left = true, true
	leg.Padding = 2

	if !o.graphOnly {
		p.Title.Text = o.title
	}
	p.Y.Label.Text = yLabel(o.vtitle, list)
	p.X.Label.Text = loc.String()
	p.X.Tick.Marker = timeTicker{loc: loc, max: max(2, o.width/90)}

	if !o.hideGrid {
		g := plotter.NewGrid()
		grid := colorWithAlpha(o.fg, 0x40)
		g.Vertical.Color, g.Horizontal.Color = grid, grid
		p.Add(g)
	}
	lo, hi, err := addSeries(p, &leg, o, list)
	if err != nil {
		return err
	}
	p.X.Min, p.X.Max = float64(from), float64(until)
	for _, s := range list {
		p.X.Min = min(p.X.Min, float64(s.start))
	}
	switch {
	case !math.IsNaN(o.yMin):
		p.Y.Min = o.yMin
	case lo > hi: // no value to draw
		p.Y.Min = 0
	default:
		p.Y.Min = min(0, lo)
	}
	switch {
	case !math.IsNaN(o.yMax):
		p.Y.Max = o.yMax
	case lo > hi:
		p.Y.Max = max(1, p.Y.Min+1)
	default:
		p.Y.Max = hi + 0.08*(hi-p.Y.Min)
	}
	if p.Y.Max <= p.Y.Min {
		p.Y.Max = p.Y.Min + 1
	}
	p.Y.Tick.Marker = numberTicker{max: max(2, o.height/50)}
	if o.hideAxes || o.graphOnly {
		p.HideAxes()
		p.X.Label.Text, p.Y.Label.Text = "", ""
	}

	wd, ht := vg.Length(o.width), vg.Length(o.height)
	var canvas vg.CanvasWriterTo
	if format == formatSVG {
		canvas = vgsvg.New(wd, ht)
	} else {
		canvas = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(wd, ht), vgimg.UseDPI(72), vgimg.UseBackgroundColor(o.bg))}
	}
	dc := draw.New(canvas)
	dc.FillPolygon(o.bg, []vg.Point{{X: 0, Y: 0}, {X: wd, Y: 0}, {X: wd, Y: ht}, {X: 0, Y: ht}})
	area := draw.Crop(dc, 2, -4, 2, -4)
	if !o.hideLegend && !o.graphOnly && len(list) > 0 {
		// Shown when it takes at most a third of the height.
		r := leg.Rectangle(dc)
		if lh := r.Max.Y - r.Min.Y; lh <= ht/3 {
			leg.Draw(draw.Crop(dc, 6, 0, 2, -(ht - lh - 4)))
			area = draw.Crop(area, 0, 0, lh+4, 0)
		}
	}
	p.Draw(area)
	if _, err := canvas.WriteTo(w); err != nil {
		return fmt.Errorf("write %s graph: %w", format, err)
	}
	return nil
}

// addSeries adds each series as lines (split at gaps) in its colour, and its name to leg, and returns the smallest and largest value drawn.
func addSeries(p *plot.Plot, leg *plot.Legend, o *graphOptions, list []*tseries) (lo, hi float64, err error) {
	lo, hi = math.Inf(1), math.Inf(-1)
	values := make([][]float64, len(list))
	for i, s := range list {
		values[i] = s.values
	}
	if o.areaMode == "stacked" {
		for _, s := range list {
			if !s.stat.count && !s.cnst {
				return 0, 0, badf("bad_argument", "areaMode=stacked adds series up, and %s is %s: percentiles cannot be added. Stack counts, or draw percentiles with areaMode none, first or all", s.name, s.stat.name)
			}
		}
		values = stack(list)
	}
	type drawn struct {
		lines []plot.Plotter
		name  string
		thumb plot.Thumbnailer
	}
	out := make([]drawn, len(list))
	for i, s := range list {
		c := o.colors[i%len(o.colors)]
		if s.color != "" {
			if c, err = parseColor(s.color); err != nil {
				return 0, 0, err
			}
		}
		style := draw.LineStyle{Color: c, Width: vg.Length(o.lineWidth)}
		var fill color.Color
		switch {
		case o.areaMode == "stacked":
			fill = c
		case o.areaMode == "all", o.areaMode == "first" && i == 0:
			fill = colorWithAlpha(c, 0x60)
		}
		out[i].name, out[i].thumb = s.legend(), &plotter.Line{LineStyle: style, FillColor: fill}
		var seg plotter.XYs
		flush := func() {
			switch len(seg) {
			case 0:
			case 1:
				sc, _ := plotter.NewScatter(seg)
				sc.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Length(max(1.5, o.lineWidth)), Shape: draw.CircleGlyph{}}
				out[i].lines = append(out[i].lines, sc)
			default:
				l := &plotter.Line{XYs: seg, LineStyle: style, FillColor: fill}
				out[i].lines = append(out[i].lines, l)
			}
			seg = nil
		}
		prev := plotter.XY{Y: math.NaN()}
		for j, v := range values[i] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				flush()
				prev.Y = v
				continue
			}
			lo, hi = min(lo, v), max(hi, v)
			pt := plotter.XY{X: float64(s.start + int64(j)*s.step), Y: v}
			// gonum/plot does not clip to the axes: a line leaving yMin..yMax ends where it
			// crosses the bound and starts again where it comes back.
			for _, bound := range []float64{o.yMin, o.yMax} {
				if !math.IsNaN(prev.Y) && (prev.Y-bound)*(v-bound) < 0 {
					x := prev.X + (pt.X-prev.X)*(bound-prev.Y)/(v-prev.Y)
					if inside(prev.Y, o) {
						seg = append(seg, plotter.XY{X: x, Y: bound})
						flush()
					} else {
						seg = append(seg, plotter.XY{X: x, Y: bound})
					}
				}
			}
			prev = pt
			if inside(v, o) {
				seg = append(seg, pt)
			} else {
				flush()
			}
		}
		flush()
	}
	// A stack is drawn from its top band down, so that each band covers the one above
	// only where it is higher.
	order := make([]int, len(out))
	for i := range order {
		order[i] = i
		if o.areaMode == "stacked" {
			order[i] = len(out) - 1 - i
		}
	}
	for _, i := range order {
		p.Add(out[i].lines...)
	}
	for i := range out {
		leg.Add(out[i].name, out[i].thumb)
	}
	return lo, hi, nil
}

// inside reports whether v lies within the asked yMin..yMax (bounds not asked are open).
func inside(v float64, o *graphOptions) bool {
	return !(v < o.yMin) && !(v > o.yMax)
}

// stack adds each series' values to those of the series before it, a gap counting as 0.
func stack(list []*tseries) [][]float64 {
	out := make([][]float64, len(list))
	var sum []float64
	for i, s := range list {
		if len(sum) < len(s.values) {
			sum = append(sum, make([]float64, len(s.values)-len(sum))...)
		}
		out[i] = make([]float64, len(s.values))
		for j, v := range s.values {
			if !math.IsNaN(v) {
				sum[j] += v
			}
			out[i][j] = sum[j]
		}
	}
	return out
}

func colorWithAlpha(c color.Color, a uint8) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), a}
}

// yLabel is vtitle with the unit the series share, e.g. "LCP p75 (ms)", or the unit alone.
func yLabel(vtitle string, list []*tseries) string {
	unit, seen := "", false
	for _, s := range list {
		if s.cnst {
			continue
		}
		u := "page views"
		if !s.stat.count {
			m, ok := series.ParseMetric(s.metricName())
			if !ok {
				return vtitle
			}
			u = m.Unit()
		}
		if seen && u != unit {
			return vtitle
		}
		unit, seen = u, true
	}
	switch {
	case unit == "":
		return vtitle
	case vtitle == "":
		return unit
	case strings.Contains(vtitle, "("+unit+")"):
		return vtitle
	}
	return vtitle + " (" + unit + ")"
}

// timeTicker marks the time axis at round times of the zone: every minute, 5 minutes, hour,
// day and so on, at most max marks.
type timeTicker struct {
	loc *time.Location
	max int
}

var tickSteps = []time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour,
	91 * 24 * time.Hour, 182 * 24 * time.Hour, 364 * 24 * time.Hour,
}

// Ticks implements plot.Ticker.
func (t timeTicker) Ticks(lo, hi float64) []plot.Tick {
	span := time.Duration(hi-lo) * time.Second
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if span/s <= time.Duration(t.max) {
			step = s
			break
		}
	}
	layout := "15:04"
	switch {
	case step >= 24*time.Hour:
		layout = "Jan 2"
	case span > 24*time.Hour:
		layout = "Jan 2 15:04"
	}
	start := time.Unix(int64(lo), 0).In(t.loc)
	cur := time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, t.loc)
	if step >= 7*24*time.Hour {
		cur = cur.AddDate(0, 0, -int(cur.Weekday()+6)%7) // weeks start on Monday
	}
	var out []plot.Tick
	// Bounded: the walk starts at most a week before lo and the step fits max marks in the span.
	for n := 0; n < 20000; n++ {
		v := float64(cur.Unix())
		if v > hi {
			break
		}
		if v >= lo {
			out = append(out, plot.Tick{Value: v, Label: cur.Format(layout)})
		}
		if step >= 24*time.Hour {
			cur = cur.AddDate(0, 0, int(step/(24*time.Hour)))
		} else {
			cur = cur.Add(step)
		}
	}
	return out
}

// numberTicker marks the value axis at round numbers (1, 2, 2.5 or 5 times a power of
// ten), at most max marks, labelled without needless decimals.
type numberTicker struct{ max int }

// Ticks implements plot.Ticker.
func (t numberTicker) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return nil
	}
	raw := (hi - lo) / float64(t.max)
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * pow
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*pow >= raw {
			step = m * pow
			break
		}
	}
	decimals := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	if step/math.Pow(10, -float64(decimals)) != math.Trunc(step/math.Pow(10, -float64(decimals))) {
		decimals++ // 2.5 × 10^k needs one more digit
	}
	var out []plot.Tick
	for i := math.Ceil(lo / step); i*step <= hi && len(out) <= t.max; i++ {
		v := i * step
		out = append(out, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', decimals, 64)})
	}
	return out
}
