// Command build writes rumd's Grafana dashboards, both the Graphite and the Prometheus set,
// from their one definition in dashboards/internal/define; `go generate ./dashboards` runs
// it from the dashboards directory.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"rumd/dashboards/internal/define"
)

func main() {
	dir, err := os.Getwd()
	if err != nil {
		fail(err)
	}
	files, err := define.Build()
	if err != nil {
		fail(err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			fail(err)
		}
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			fail(err)
		}
		fmt.Printf("%s\t%d bytes\n", name, len(files[name]))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "dashboards build:", err)
	os.Exit(1)
}
