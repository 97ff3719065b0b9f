package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"rumd/server"
)

// selectionFlag is --a or --b: comma-separated key=value pairs, where a key is a dimension
// (variant=cdn-b) or from/to (from=-14d,to=-7d).
type selectionFlag map[string]string

func (s selectionFlag) String() string { return "" }

func (s selectionFlag) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" || val == "" {
			return fmt.Errorf("%q is not key=value", part)
		}
		s[k] = val
	}
	return nil
}

// runCompare is `rumd compare`: it asks a running rumd's compare API and prints the answer
// as a table for the person running the change.
func runCompare(args []string) int { return compareMain(args, os.Stdout, os.Stderr) }

func compareMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rumd compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "http://127.0.0.1:8080", "base URL of the rumd to ask")
	token := fs.String("token", os.Getenv("RUMD_TOKEN"), "bearer token, if rumd has one (default $RUMD_TOKEN)")
	metric := fs.String("metric", "ttfb", "metric to compare")
	from := fs.String("from", "-1h", "start of both selections unless --a/--b give their own")
	to := fs.String("to", "now", "end of both selections unless --a/--b give their own")
	q := fs.String("q", "0.5,0.75,0.95", "quantiles")
	by := fs.String("by", "", "group by these dimensions")
	asJSON := fs.Bool("json", false, "print rumd's JSON answer instead of a table")
	a, b, filter := selectionFlag{}, selectionFlag{}, selectionFlag{}
	fs.Var(a, "a", "selection a: dimension values and/or from/to, e.g. variant=cdn-a or from=-14d,to=-7d")
	fs.Var(b, "b", "selection b, likewise")
	fs.Var(filter, "filter", "filters for both sides, e.g. country=DE,device=mobile")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: rumd compare --a variant=cdn-a --b variant=cdn-b [--metric lcp] [--filter country=DE]\n       rumd compare --a from=-14d,to=-7d --b from=-7d,to=now")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	params := url.Values{"metric": {*metric}, "from": {*from}, "to": {*to}, "q": {*q}}
	if *by != "" {
		params.Set("by", *by)
	}
	for k, v := range filter {
		params.Set(k, v)
	}
	for k, v := range a {
		params.Set("a."+k, v)
	}
	for k, v := range b {
		params.Set("b."+k, v)
	}
	req, err := http.NewRequest("GET", strings.TrimRight(*target, "/")+"/api/v1/compare?"+params.Encode(), nil)
	if err != nil {
		fmt.Fprintln(stderr, "rumd compare:", err)
		return 2
	}
	if *token != "" {
		req.Header.Set("Authorization", "Bearer "+*token)
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "rumd compare:", err)
		return 1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		fmt.Fprintln(stderr, "rumd compare:", err)
		return 1
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error, Reason string }
		if json.Unmarshal(body, &e) != nil || e.Reason == "" {
			fmt.Fprintf(stderr, "rumd compare: %s answered %d: %s\n", *target, resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			fmt.Fprintf(stderr, "rumd compare: %s (%s)\n", e.Error, e.Reason)
		}
		return 1
	}
	var ans server.CompareAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		fmt.Fprintf(stderr, "rumd compare: %s answered with %v: %s\n", *target, err, strings.TrimSpace(string(body)))
		return 1
	}
	if *asJSON {
		stdout.Write(body)
		fmt.Fprintln(stdout)
		return 0
	}
	printCompare(stdout, &ans, describe(a), describe(b))
	return 0
}

func describe(s selectionFlag) string {
	var parts []string
	for k, v := range s {
		parts = append(parts, k+"="+v)
	}
	if len(parts) == 0 {
		return "(shared selection)"
	}
	return strings.Join(parts, ",")
}

func printCompare(w io.Writer, ans *server.CompareAnswer, a, b string) {
	unit := ans.Unit
	if unit == "" {
		unit = "unitless"
	}
	groups := ans.Groups
	if len(groups) == 0 {
		groups = []server.CompareGroup{ans.CompareGroup}
	}
	fmt.Fprintf(w, "%s (%s), view [%s]\n", ans.Metric, unit, strings.Join(ans.View, ","))
	if ans.Cut != "" {
		fmt.Fprintf(w, "note: %s\n", ans.Cut)
	}
	starred := false
	for _, g := range groups {
		if len(g.Labels) > 0 {
			var l []string
			for k, v := range g.Labels {
				l = append(l, k+"="+v)
			}
			fmt.Fprintf(w, "\n%s\n", strings.Join(l, " "))
		}
		fmt.Fprintf(w, "  a: %s, %s, %.0f page views\n  b: %s, %s, %.0f page views\n",
			a, window(g.A), g.A.Count, b, window(g.B), g.B.Count)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  quantile\ta\tb\tb − a\trel\t95% CI of b − a\t\t")
		for _, d := range g.Quantiles {
			ci := "n/a"
			if d.CI != nil {
				ci = fmt.Sprintf("%s … %s", num(&d.CI[0]), num(&d.CI[1]))
			}
			mark := ""
			if d.Significant {
				mark = "*"
				starred = true
			}
			rel := "n/a"
			if d.Rel != nil {
				rel = fmt.Sprintf("%+.1f%%", *d.Rel*100)
			}
			fmt.Fprintf(tw, "  p%g\t%s\t%s\t%s\t%s\t%s\t%s\t\n", d.Q*100, num(d.A), num(d.B), num(d.Delta), rel, ci, mark)
		}
		tw.Flush()
		fmt.Fprintf(w, "  verdict: %s\n", g.Verdict)
	}
	if starred {
		fmt.Fprintln(w, "\n* the 95% confidence interval excludes 0")
	}
}

// window is the time range a side was read over, in the stored minutes (or hours or days)
// rumd read, so that a reader sees exactly which page views each side holds.
func window(s server.Selection) string {
	f := func(t int64) string { return time.Unix(t, 0).UTC().Format("2006-01-02 15:04") }
	return fmt.Sprintf("read %s to %s UTC", f(s.From), f(s.To))
}

func num(v *float64) string {
	if v == nil {
		return "n/a"
	}
	if *v != 0 && *v < 10 && *v > -10 {
		return fmt.Sprintf("%.3f", *v)
	}
	return fmt.Sprintf("%.1f", *v)
}
