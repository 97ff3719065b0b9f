// Package bundle turns beacon-js's sources into the minified scripts rumd embeds. It runs
// from `go generate` (beacon-js/build) and from the test that fails when the committed
// build is stale; it is never linked into the rumd binary.
package bundle

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/evanw/esbuild/pkg/api"
)

// Entries maps each entry point under src/ to the file it is built into under dist/.
var Entries = map[string]string{
	"src/rumd.js":     "dist/rumd.js",
	"src/testpage.js": "dist/testpage.js",
	"src/embed.js":    "dist/embed.js",
}

// banner credits the bundled library, as its Apache-2.0 licence asks of a redistribution.
const banner = "/*! rumd beacon-js; includes web-vitals, Apache-2.0, github.com/GoogleChrome/web-vitals */"

// Build bundles and minifies every entry of dir (the beacon-js directory, with its
// node_modules installed by `npm ci`) and returns the scripts keyed by their dist/ path.
// The same inputs always give the same bytes.
func Build(dir string) (map[string][]byte, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	out := make(map[string][]byte, len(Entries))
	for src, dst := range Entries {
		res := api.Build(api.BuildOptions{
			AbsWorkingDir:     dir,
			EntryPoints:       []string{src},
			Bundle:            true,
			Write:             false,
			Outfile:           dst,
			Format:            api.FormatIIFE,
			Platform:          api.PlatformBrowser,
			Target:            api.ES2020,
			MinifyWhitespace:  true,
			MinifyIdentifiers: true,
			MinifySyntax:      true,
			Charset:           api.CharsetASCII,
			LegalComments:     api.LegalCommentsNone,
			Banner:            map[string]string{"js": banner},
			LogLevel:          api.LogLevelSilent,
		})
		if len(res.Errors) > 0 {
			msgs := api.FormatMessages(res.Errors, api.FormatMessagesOptions{Kind: api.ErrorMessage})
			return nil, fmt.Errorf("bundle %s (is node_modules installed? run npm ci in %s): %s",
				src, dir, strings.Join(msgs, ""))
		}
		for _, f := range res.OutputFiles {
			if filepath.Ext(f.Path) == ".js" {
				out[dst] = f.Contents
			}
		}
		if out[dst] == nil {
			return nil, fmt.Errorf("bundle %s: esbuild wrote no script", src)
		}
	}
	return out, nil
}
