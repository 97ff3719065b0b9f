// Command build regenerates beacon-js/dist from beacon-js/src; `go generate ./beacon-js`
// runs it from the beacon-js directory.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"rumd/beacon-js/internal/bundle"
)

func main() {
	dir, err := os.Getwd()
	if err != nil {
		fail(err)
	}
	files, err := bundle.Build(dir)
	if err != nil {
		fail(err)
	}
	for name, b := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			fail(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			fail(err)
		}
		fmt.Printf("%s\t%d bytes\n", name, len(b))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "beacon-js build:", err)
	os.Exit(1)
}
