// Package jsbundle turns the browser sources of beacon-js and home into the minified scripts
// and style sheets rumd embeds, with esbuild's Go API. It runs from `go generate` and from the
// tests that fail when a committed build is stale; it is never linked into the rumd binary.
package jsbundle

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/evanw/esbuild/pkg/api"
)

// Build bundles and minifies every entry of dir (a directory with its node_modules installed
// by `npm ci`): entries maps a source under dir to the file it is built into. A .js entry
// gives a script, a .css entry a style sheet; banner opens each output. It returns the
// outputs keyed by their destination path. The same inputs always give the same bytes.
func Build(dir string, entries map[string]string, banner string) (map[string][]byte, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	out := make(map[string][]byte, len(entries))
	for src, dst := range entries {
		ext := filepath.Ext(dst)
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
			Banner:            map[string]string{strings.TrimPrefix(ext, "."): banner},
			LogLevel:          api.LogLevelSilent,
		})
		if len(res.Errors) > 0 {
			msgs := api.FormatMessages(res.Errors, api.FormatMessagesOptions{Kind: api.ErrorMessage})
			return nil, fmt.Errorf("bundle %s (is node_modules installed? run npm ci in %s): %s",
				src, dir, strings.Join(msgs, ""))
		}
		for _, f := range res.OutputFiles {
			if filepath.Ext(f.Path) == ext {
				out[dst] = f.Contents
			}
		}
		if out[dst] == nil {
			return nil, fmt.Errorf("bundle %s: esbuild wrote no %s file", src, ext)
		}
	}
	return out, nil
}

// Write saves built files under dir, creating their folders, and lists them on stdout.
func Write(dir string, files map[string][]byte) error {
	for name, b := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
		fmt.Printf("%s\t%d bytes\n", name, len(b))
	}
	return nil
}

// Main is the body of a `go generate` build command: it bundles entries of the working
// directory and writes them there, exiting non-zero with a message on failure.
func Main(entries map[string]string, banner string) {
	dir, err := os.Getwd()
	if err == nil {
		var files map[string][]byte
		if files, err = Build(dir, entries, banner); err == nil {
			err = Write(dir, files)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bundle:", err)
		os.Exit(1)
	}
}
