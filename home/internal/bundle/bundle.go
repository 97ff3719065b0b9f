// Package bundle names the home page's sources and how they are built into the minified
// script and style sheet rumd embeds. It runs from `go generate` (home/build) and from the
// test that fails when the committed build is stale; it is never linked into the rumd binary.
package bundle

import "rumd/internal/jsbundle"

// Entries maps each entry point under src/ to the file it is built into under dist/.
var Entries = map[string]string{
	"src/home.js":  "dist/home.js",
	"src/home.css": "dist/home.css",
}

// Banner credits the bundled library, as its MIT licence asks of a redistribution.
const Banner = "/*! rumd home page; includes uPlot, MIT, (c) Leon Sorokin, github.com/leeoniya/uPlot */"

// Build bundles and minifies every entry of dir (the home directory, with its node_modules
// installed by `npm ci`) and returns the files keyed by their dist/ path.
func Build(dir string) (map[string][]byte, error) { return jsbundle.Build(dir, Entries, Banner) }
