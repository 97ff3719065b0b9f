// Command build regenerates home/dist from home/src; `go generate ./home` runs it from the
// home directory.
package main

import (
	"rumd/home/internal/bundle"
	"rumd/internal/jsbundle"
)

func main() { jsbundle.Main(bundle.Entries, bundle.Banner) }
