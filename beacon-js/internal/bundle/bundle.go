// Package bundle names beacon-js's sources and how they are built into the minified scripts
// rumd embeds. It runs from `go generate` (beacon-js/build) and from the test that fails when
// the committed build is stale; it is never linked into the rumd binary.
package bundle

import "rumd/internal/jsbundle"

// Entries maps each entry point under src/ to the file it is built into under dist/.
var Entries = map[string]string{
	"src/rumd.js":     "dist/rumd.js",
	"src/testpage.js": "dist/testpage.js",
	"src/embed.js":    "dist/embed.js",
}

// Banner credits the bundled library, as its Apache-2.0 licence asks of a redistribution.
const Banner = "/*! rumd beacon-js; includes web-vitals, Apache-2.0, github.com/GoogleChrome/web-vitals */"

// Build bundles and minifies every entry of dir (the beacon-js directory, with its
// node_modules installed by `npm ci`) and returns the scripts keyed by their dist/ path.
func Build(dir string) (map[string][]byte, error) { return jsbundle.Build(dir, Entries, Banner) }
