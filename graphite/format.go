package graphite

import (
	"bytes"
	"encoding/csv"
	"math"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"rumd/internal/csvsafe"
)

// Render formats: Graphite's default is a PNG graph; Grafana always asks for json.
const (
	formatPNG  = "png"
	formatSVG  = "svg"
	formatJSON = "json"
	formatRaw  = "raw"
	formatCSV  = "csv"
)

// renderOutput is how one /render request is answered: its format, and for graphs the
// graph options read from the same request.
type renderOutput struct {
	format string
	loc    *time.Location // tz: what csv timestamps and the graph's time axis are written in
	graph  *graphOptions  // png and svg only
}

// readOutput reads format (png when absent, as Graphite answers) and, for graphs, the graph
// parameters; see docs/graphite.md.
func readOutput(c *fiber.Ctx) (renderOutput, error) {
	f := param(c, "format")
	if f == "" {
		f = formatPNG
	}
	switch f {
	case formatJSON, formatRaw, formatCSV, formatPNG, formatSVG:
	default:
		return renderOutput{}, badf("bad_format", "format %q is not supported; rumd answers png (the default), svg, json, raw and csv", f)
	}
	loc, err := loadTZ(param(c, "tz"))
	if err != nil {
		return renderOutput{}, err
	}
	out := renderOutput{format: f, loc: loc}
	if f == formatPNG || f == formatSVG {
		if out.graph, err = parseGraphOptions(func(k string) string { return param(c, k) }); err != nil {
			return renderOutput{}, err
		}
	}
	return out, nil
}

// defaultMaxDataPoints is the number of points asked for when the request names none: a
// graph gets about one point per pixel of its width, the text formats every step kept.
func (o renderOutput) defaultMaxDataPoints() int {
	if o.graph != nil {
		return o.graph.width
	}
	return 0
}

// send writes the evaluated series in the request's format.
func (o renderOutput) send(c *fiber.Ctx, list []*tseries, from, until int64) error {
	switch o.format {
	case formatRaw:
		c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
		return c.Send(appendRaw(make([]byte, 0, 4096), list))
	case formatCSV:
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
		return c.Send(appendCSV(list, o.loc))
	case formatPNG, formatSVG:
		var buf bytes.Buffer
		if err := drawGraph(&buf, o.format, o.graph, o.loc, list, from, until); err != nil {
			return err
		}
		if o.format == formatPNG {
			c.Set(fiber.HeaderContentType, "image/png")
		} else {
			c.Set(fiber.HeaderContentType, "image/svg+xml")
		}
		return c.Send(buf.Bytes())
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(appendRender(make([]byte, 0, 4096), list))
}

// loadTZ reads Graphite's tz parameter: an IANA zone name, UTC when empty.
func loadTZ(tz string) (*time.Location, error) {
	if tz == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || len(tz) > 64 {
		return nil, badf("bad_argument", "tz %q is not a time zone name like UTC or Europe/Berlin", tz)
	}
	return loc, nil
}

// appendRaw writes Graphite's raw format, one line per series:
// name,start,end,step|v1,v2,...  with None for a gap. Alerting tools read the last value
// after the final comma.
func appendRaw(b []byte, list []*tseries) []byte {
	for _, s := range list {
		b = append(b, s.name...)
		b = append(b, ',')
		b = strconv.AppendInt(b, s.start, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, s.start+int64(len(s.values))*s.step, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, s.step, 10)
		b = append(b, '|')
		for i, v := range s.values {
			if i > 0 {
				b = append(b, ',')
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				b = append(b, "None"...)
				continue
			}
			b = appendValue(b, v)
		}
		b = append(b, '\n')
	}
	return b
}

// appendCSV writes Graphite's csv format: name,"YYYY-MM-DD HH:MM:SS",value per point, the
// time in loc and an empty value for a gap; names holding a comma or quote are quoted, and a
// name a spreadsheet would run as a formula (an alias or a page label from outside) is
// guarded like the JSON API's CSV.
func appendCSV(list []*tseries, loc *time.Location) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	var num []byte
	for _, s := range list {
		name := csvsafe.Cell(s.legend())
		for i, v := range s.values {
			val := ""
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				num = appendValue(num[:0], v)
				val = string(num)
			}
			ts := time.Unix(s.start+int64(i)*s.step, 0).In(loc).Format(time.DateTime)
			_ = w.Write([]string{name, ts, val}) // writes to a bytes.Buffer cannot fail
		}
	}
	w.Flush()
	return buf.Bytes()
}
