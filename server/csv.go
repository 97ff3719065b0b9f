package server

import (
	"bufio"
	"encoding/csv"
	"math"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"rumd/internal/csvsafe"
	"rumd/internal/sketch"
	"rumd/query"
)

// wantsCSV reads the answer format of the series and summary endpoints: format=csv or
// format=json, else an Accept header that names text/csv (and not JSON first).
func wantsCSV(c *fiber.Ctx) (bool, error) {
	switch f := c.Query("format"); f {
	case "csv":
		return true, nil
	case "json":
		return false, nil
	case "":
		return c.Accepts(fiber.MIMEApplicationJSON, "text/csv") == "text/csv", nil
	default:
		return false, badParam("bad_format", "format %q is not csv or json", f)
	}
}

// csvHeader is the header row: the time column (series only), the grouping dimensions,
// count, and one column per quantile named q<key> ("q0.95").
func csvHeader(p *apiParams, withTime bool) []string {
	var h []string
	if withTime {
		h = append(h, "time")
	}
	for _, d := range p.By {
		h = append(h, d.String())
	}
	h = append(h, "count")
	for _, k := range p.QKeys {
		h = append(h, "q"+k)
	}
	return h
}

func csvFloat(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return strconv.FormatFloat(round(v), 'g', -1, 64)
}

// writeCSV streams res as CSV, one row per point (series) or per group (summary): rows are
// formatted while the answer is written, never built up in memory first.
func (s *Server) writeCSV(c *fiber.Ctx, p *apiParams, res *query.Result, withTime bool, name string) error {
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `inline; filename="rumd-`+p.Metric.String()+"-"+name+`.csv"`)
	c.Context().SetBodyStreamWriter(func(bw *bufio.Writer) {
		w := csv.NewWriter(bw)
		w.Write(csvHeader(p, withTime))
		row := make([]string, 0, 2+len(p.By)+len(p.QKeys))
		for _, g := range res.Groups {
			for _, pt := range g.Points {
				row = row[:0]
				if withTime {
					row = append(row, time.Unix(pt.T, 0).UTC().Format(time.RFC3339))
				}
				for _, d := range p.By {
					row = append(row, csvsafe.Cell(g.Labels[d]))
				}
				row = append(row, strconv.FormatFloat(pt.Sketch.GetCount(), 'f', -1, 64))
				for _, q := range p.Quantiles {
					row = append(row, csvFloat(sketch.Quantile(pt.Sketch, q)))
				}
				w.Write(row)
			}
			w.Flush()
		}
		w.Flush()
	})
	return nil
}
